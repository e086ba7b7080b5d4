//! The issuer's signing keys (a JWK Set, RFC 7517 §5), fetched and cached: used for
//! `AUTH_JWKS_TTL_SECS`, then fetched again (a failed refresh keeps them); a token with a key
//! id the set does not hold (the issuer rotated its keys) fetches them again, at most once
//! per `AUTH_JWKS_REFETCH_SECS`, whatever the number of such tokens.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use jsonwebtoken::jwk::{Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use tokio::time::Instant;

use crate::identity::AuthError;

/// The largest JWK Set read: a set holds a few keys of under 2 KiB each.
const MAX_JWKS_BYTES: usize = 256 * 1024;

/// The least time between two fetches of a stale set, or of none yet.
const RETRY: Duration = Duration::from_secs(1);

/// The longest one fetch may take, connecting included.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// A verification key of the set.
pub(crate) struct VerifyingKey {
    pub(crate) key: DecodingKey,
    /// The key's `alg`, when the set names it: a token must then be signed with it.
    pub(crate) algorithm: Option<KeyAlgorithm>,
}

impl VerifyingKey {
    /// Whether a token signed with `algorithm` may be verified with this key.
    pub(crate) fn allows(&self, algorithm: Algorithm) -> bool {
        self.algorithm
            .is_none_or(|named| named == KeyAlgorithm::from(algorithm))
    }
}

/// The keys of the last fetch that succeeded.
#[derive(Default)]
struct Keys {
    by_id: HashMap<String, Arc<VerifyingKey>>,
    /// Keys without a `kid`: a token without one is verified with the only key of a set of one.
    anonymous: Vec<Arc<VerifyingKey>>,
    fetched: Option<Instant>,
}

/// The cached JWK Set of one issuer (cheap to clone: a stale set is refreshed on a task of
/// its own).
#[derive(Clone)]
pub(crate) struct Jwks(Arc<Source>);

/// Where the set comes from, and what was fetched.
struct Source {
    url: String,
    client: jwks_client::Client,
    ttl: Duration,
    refetch: Duration,
    keys: RwLock<Arc<Keys>>,
    /// When the last fetch ended; held through a fetch, so one runs at a time.
    last_fetch: Arc<tokio::sync::Mutex<Option<Instant>>>,
}

impl Jwks {
    pub(crate) fn new(url: String, ttl: Duration, refetch: Duration) -> Result<Jwks, String> {
        // The process's TLS provider, as the Sentry plugin installs it (no-op when one is).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = jwks_client::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .connect_timeout(FETCH_TIMEOUT)
            // The issuer's keys come from where the config says, not from where a redirect
            // points.
            .redirect(jwks_client::redirect::Policy::none())
            .build()
            .map_err(|e| format!("cannot build the JWKS client: {e}"))?;
        Ok(Jwks(Arc::new(Source {
            url,
            client,
            ttl,
            refetch,
            keys: RwLock::new(Arc::default()),
            last_fetch: Arc::default(),
        })))
    }

    /// The key for a token with key id `kid`.
    ///
    /// # Errors
    /// [`AuthError::InvalidToken`] for a key id the set does not hold, even after fetching it
    /// again; [`AuthError::KeysUnavailable`] when no set was ever fetched and fetching fails.
    pub(crate) async fn key(&self, kid: Option<&str>) -> Result<Arc<VerifyingKey>, AuthError> {
        let source = &self.0;
        let keys = source.current();
        if let Some(key) = find(&keys, kid) {
            // A stale set is still the issuer's: used while it is fetched again in the
            // background, so that a slow or down issuer does not hold requests up.
            // One task at a time: none while a fetch runs.
            let stale = keys.fetched.is_some_and(|at| at.elapsed() >= source.ttl);
            let idle = stale
                .then(|| source.last_fetch.clone().try_lock_owned().ok())
                .flatten();
            // Not again within a second of a fetch that failed.
            if let Some(mut last) = idle.filter(|last| !last.is_some_and(|at| at.elapsed() < RETRY))
            {
                let (source, seen) = (source.clone(), keys.fetched);
                tokio::spawn(async move { source.refresh_locked(&mut last, seen, true).await });
            }
            return Ok(key);
        }
        // Never fetched, or a key id it does not hold: worth waiting for.
        let refreshed = source.refresh(keys.fetched, false).await;
        let keys = source.current();
        match (find(&keys, kid), refreshed) {
            (Some(key), _) => Ok(key),
            // Never fetched: this fetch failed, or one failed a moment ago.
            (None, refreshed) if keys.fetched.is_none() => {
                Err(AuthError::KeysUnavailable(refreshed.err().unwrap_or_else(
                    || "the issuer's keys could not be fetched".to_owned(),
                )))
            }
            (None, _) if kid.is_none() => Err(AuthError::InvalidToken(
                "the token names no key (kid) and the issuer has several",
            )),
            (None, _) => Err(AuthError::InvalidToken(
                "the token's signing key is unknown",
            )),
        }
    }

    /// Fetches at startup, so that the first requests do not wait; a failure is logged and
    /// the next token tries again.
    pub(crate) async fn prefetch(&self) {
        let _ = self.0.refresh(None, false).await;
    }
}

impl Source {
    fn current(&self) -> Arc<Keys> {
        self.keys.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Fetches the set again unless another call did since `seen` (the fetch time the caller
    /// saw), or a fetch ended less than `AUTH_JWKS_REFETCH_SECS` ago (for a key id the set
    /// does not hold: `known` false) or a second ago (a stale set, or none yet). Callers
    /// queued behind a fetch that failed do not each fetch again.
    async fn refresh(&self, seen: Option<Instant>, known: bool) -> Result<(), String> {
        let mut last = self.last_fetch.lock().await;
        self.refresh_locked(&mut last, seen, known).await
    }

    /// [`Source::refresh`], holding the fetch lock (`last`, when the last fetch ended).
    async fn refresh_locked(
        &self,
        last: &mut Option<Instant>,
        seen: Option<Instant>,
        known: bool,
    ) -> Result<(), String> {
        if self.current().fetched != seen {
            return Ok(());
        }
        let wait = if known || seen.is_none() {
            // A stale or missing set is fetched at once, but a failing issuer not on every
            // request.
            RETRY.min(self.refetch)
        } else {
            self.refetch
        };
        if last.is_some_and(|at| at.elapsed() < wait) {
            return Ok(());
        }
        let fetched = self.fetch().await;
        *last = Some(Instant::now());
        match fetched {
            Ok(keys) => {
                tracing::debug!(
                    keys = keys.by_id.len() + keys.anonymous.len(),
                    "JWKS fetched"
                );
                *self.keys.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(keys);
                Ok(())
            }
            Err(error) => {
                tracing::warn!(url = %self.url, %error, "cannot fetch the JWKS");
                Err(error)
            }
        }
    }

    async fn fetch(&self) -> Result<Keys, String> {
        let mut response = self
            .client
            .get(&self.url)
            .header("accept", "application/jwk-set+json, application/json")
            .send()
            .await
            .map_err(|e| format!("request failed: {e}"))?;
        if !response.status().is_success() {
            return Err(format!("the issuer answered {}", response.status()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| format!("reading the body failed: {e}"))?
        {
            if body.len() + chunk.len() > MAX_JWKS_BYTES {
                return Err(format!("the JWKS is larger than {MAX_JWKS_BYTES} bytes"));
            }
            body.extend_from_slice(&chunk);
        }
        parse(&body)
    }
}

fn find(keys: &Keys, kid: Option<&str>) -> Option<Arc<VerifyingKey>> {
    match kid {
        Some(kid) => keys.by_id.get(kid).cloned(),
        None if keys.by_id.len() + keys.anonymous.len() == 1 => keys
            .anonymous
            .first()
            .or_else(|| keys.by_id.values().next())
            .cloned(),
        None => None,
    }
}

/// A JWK Set; keys this service cannot use (an encryption key, an unknown key type, a
/// symmetric key) are skipped, so that one new kind of key does not hide the others.
fn parse(body: &[u8]) -> Result<Keys, String> {
    #[derive(serde::Deserialize)]
    struct Set {
        keys: Vec<serde_json::Value>,
    }
    let set: Set = serde_json::from_slice(body).map_err(|e| format!("not a JWK Set: {e}"))?;
    let mut keys = Keys {
        fetched: Some(Instant::now()),
        ..Keys::default()
    };
    for value in set.keys {
        let Ok(jwk) = serde_json::from_value::<Jwk>(value) else {
            continue;
        };
        let signing = !matches!(
            jwk.common.public_key_use,
            Some(PublicKeyUse::Encryption | PublicKeyUse::Other(_))
        );
        let symmetric = matches!(
            jwk.algorithm,
            jsonwebtoken::jwk::AlgorithmParameters::OctetKey(_)
        );
        if !signing || symmetric {
            continue;
        }
        let Ok(key) = DecodingKey::from_jwk(&jwk) else {
            continue;
        };
        let key = Arc::new(VerifyingKey {
            key,
            algorithm: jwk.common.key_algorithm,
        });
        match jwk.common.key_id {
            Some(kid) => {
                keys.by_id.insert(kid, key);
            }
            None => keys.anonymous.push(key),
        }
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn keys_it_cannot_use_are_skipped_not_fatal() {
        let set = br#"{"keys": [
            {"kty": "EC", "crv": "P-256", "kid": "a", "use": "sig",
             "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
             "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"},
            {"kty": "EC", "crv": "P-256", "kid": "enc", "use": "enc",
             "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
             "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"},
            {"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"},
            {"kty": "AKP", "kid": "future", "alg": "ML-DSA-44", "pub": "AAAA"}
        ]}"#;
        let keys = parse(set).unwrap();
        assert_eq!(keys.by_id.keys().collect::<Vec<_>>(), ["a"]);
        assert!(parse(b"[]").is_err());
        assert!(parse(br#"{"keys": []}"#).unwrap().by_id.is_empty());
    }
}
