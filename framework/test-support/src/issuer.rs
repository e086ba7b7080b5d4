//! A token issuer for authentication tests and benches: P-256 signing keys (ES256) and a
//! JWKS endpoint on 127.0.0.1 that counts its fetches.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

/// A P-256 signing key with its key id.
pub struct SigningKey {
    pub kid: &'static str,
    pub key: EncodingKey,
}

impl SigningKey {
    /// A new random key: PKCS#8 (RFC 5208) around an RFC 5915 `ECPrivateKey` of a random
    /// scalar (two v4 UUIDs: 244 random bits, plenty for a test).
    pub fn new(kid: &'static str) -> SigningKey {
        let mut der = vec![
            0x30, 0x41, 0x02, 0x01, 0x00, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d,
            0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x04, 0x27,
            0x30, 0x25, 0x02, 0x01, 0x01, 0x04, 0x20,
        ];
        der.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
        der.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
        SigningKey {
            kid,
            key: EncodingKey::from_ec_der(&der),
        }
    }

    /// Its public JWK, with its key id.
    pub fn jwk(&self) -> Jwk {
        let mut jwk = Jwk::from_encoding_key(&self.key, Algorithm::ES256).expect("a public JWK");
        jwk.common.key_id = Some(self.kid.to_owned());
        jwk
    }

    /// A token of `claims`, signed with this key and naming `kid`.
    pub fn sign(&self, kid: &str, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(kid.to_owned());
        jsonwebtoken::encode(&header, claims, &self.key).expect("signed")
    }

    /// A token of `claims`, naming this key.
    pub fn token(&self, claims: &Value) -> String {
        self.sign(self.kid, claims)
    }
}

/// Seconds since the epoch.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Claims of `issuer` for `audience`, subject `user-1`, holding `scope`, valid ten minutes.
pub fn claims(issuer: &str, audience: &str, scope: &str) -> Value {
    json!({
        "iss": issuer,
        "aud": audience,
        "sub": "user-1",
        "scope": scope,
        "iat": now(),
        "exp": now() + 600,
    })
}

/// The issuer's JWKS endpoint: what it serves, and how often it was fetched.
#[derive(Clone, Default)]
pub struct Issuer {
    pub keys: Arc<Mutex<Vec<Jwk>>>,
    fetches: Arc<AtomicUsize>,
}

impl Issuer {
    /// Serves `GET /jwks.json` on 127.0.0.1 until the runtime ends; its URL.
    pub async fn serve(&self) -> String {
        async fn jwks(State(issuer): State<Issuer>) -> Json<JwkSet> {
            issuer.fetches.fetch_add(1, Ordering::SeqCst);
            Json(JwkSet {
                keys: issuer.keys.lock().unwrap().clone(),
            })
        }
        let app = Router::new()
            .route("/jwks.json", get(jwks))
            .with_state(self.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        url
    }

    /// Publishes `key`.
    pub fn publish(&self, key: &SigningKey) {
        self.keys.lock().unwrap().push(key.jwk());
    }

    /// How many times the set was fetched.
    pub fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}
