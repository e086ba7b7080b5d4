//! Authentication as a plugin (feature `auth`): JWT bearer tokens verified against the
//! issuer's JWKS, and static API keys, configured by the `AUTH_*` keys ([`AuthConfig`]).
//! It provides the `dyn Authenticator` component that routes and RPCs with a requirement
//! (`scope = "articles:write"`) are checked with, over HTTP (`Authorization: Bearer`, the API
//! key header) and gRPC (the same names as metadata).
//!
//! Bearer tokens (RFC 6750, RFC 7519):
//! - the signature, by one of `AUTH_ALGORITHMS` (asymmetric only: never `none`, never HMAC),
//!   with the key of the token's `kid` from `AUTH_JWKS_URL`;
//! - `exp` and `nbf` within `AUTH_LEEWAY_SECS`, `iss` one of `AUTH_ISSUER`, `aud` one of
//!   `AUTH_AUDIENCE`, and a `sub`;
//! - the scopes of `scope` (space-separated) and `scp`.
//!
//! The keys are fetched at startup, kept for `AUTH_JWKS_TTL_SECS`, and fetched again for a
//! token whose `kid` they lack, at most once per `AUTH_JWKS_REFETCH_SECS` (see `jwks`).

mod api_key;
mod config;
mod jwks;
mod jwt;
mod plugin;

use std::sync::Arc;

pub use config::AuthConfig;

use crate::config::{ConfigSection, Settings};
use crate::di::{
    BuildContext, BuildFuture, Condition, Instance, Key, Location, ProviderKind, ProviderRecord,
};
use crate::identity::{AuthError, Authenticator, Credentials, Principal, Scheme};

/// The schemes of `AUTH_*`.
struct Verifier {
    jwt: Option<jwt::JwtVerifier>,
    api_keys: Option<api_key::ApiKeys>,
    schemes: Vec<Scheme>,
    api_key_header: String,
    realm: String,
}

#[crate::async_trait]
impl Authenticator for Verifier {
    async fn authenticate(&self, credentials: Credentials<'_>) -> Result<Principal, AuthError> {
        match credentials {
            Credentials::Bearer(token) => match &self.jwt {
                Some(jwt) => jwt.verify(token).await,
                None => Err(AuthError::SchemeNotAccepted(Scheme::Bearer)),
            },
            Credentials::ApiKey(key) => match &self.api_keys {
                Some(keys) => keys.verify(key),
                None => Err(AuthError::SchemeNotAccepted(Scheme::ApiKey)),
            },
        }
    }

    fn authenticate_now(
        &self,
        credentials: Credentials<'_>,
    ) -> Option<Result<Principal, AuthError>> {
        match credentials {
            Credentials::Bearer(token) => match &self.jwt {
                Some(jwt) => jwt.verified(token).map(Ok),
                None => Some(Err(AuthError::SchemeNotAccepted(Scheme::Bearer))),
            },
            Credentials::ApiKey(key) => Some(match &self.api_keys {
                Some(keys) => keys.verify(key),
                None => Err(AuthError::SchemeNotAccepted(Scheme::ApiKey)),
            }),
        }
    }

    fn schemes(&self) -> &[Scheme] {
        &self.schemes
    }

    fn api_key_header(&self) -> &str {
        &self.api_key_header
    }

    fn realm(&self) -> &str {
        &self.realm
    }
}

impl Verifier {
    fn new(config: &AuthConfig, app_name: &str) -> Result<Verifier, String> {
        let jwt = jwt::JwtVerifier::new(config)?;
        let api_keys = config
            .api_keys
            .as_deref()
            .map(api_key::ApiKeys::parse)
            .transpose()?;
        let schemes = [
            jwt.as_ref().map(|_| Scheme::Bearer),
            api_keys.as_ref().map(|_| Scheme::ApiKey),
        ]
        .into_iter()
        .flatten()
        .collect();
        Ok(Verifier {
            jwt,
            api_keys,
            schemes,
            api_key_header: config.api_key_header.clone(),
            realm: config.realm.clone().unwrap_or_else(|| app_name.to_owned()),
        })
    }
}

/// Whether a scheme is configured: `AUTH_JWKS_URL` or `AUTH_API_KEYS` is set (and valid).
pub fn is_configured(settings: &Settings) -> bool {
    AuthConfig::load(settings).is_ok_and(|c| c.is_configured())
}

inventory::submit! {
    ProviderRecord {
        name: "framework::auth::Authenticator",
        provides: || vec![Key::of::<dyn Authenticator>()],
        fields: Vec::new,
        condition: Some(Condition {
            name: "framework::auth::is_configured",
            check: is_configured,
            hint: Some("AUTH_JWKS_URL (with AUTH_ISSUER and AUTH_AUDIENCE) or AUTH_API_KEYS"),
        }),
        build: |ctx: &BuildContext| -> BuildFuture<'_> {
            Box::pin(async move {
                let config = AuthConfig::load(ctx.settings())?;
                let verifier = Arc::new(Verifier::new(&config, &ctx.config().app_name)?);
                if verifier.jwt.is_some() {
                    let prefetching = verifier.clone();
                    tokio::spawn(async move {
                        if let Some(jwt) = &prefetching.jwt {
                            jwt.prefetch().await;
                        }
                    });
                }
                let authenticator: Arc<dyn Authenticator> = verifier;
                Ok(vec![Instance::of::<dyn Authenticator>(authenticator)])
            })
        },
        kind: ProviderKind::Framework,
        location: Location { file: file!(), line: line!() },
    }
}
