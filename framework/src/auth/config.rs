//! The `AUTH_*` keys.

use std::collections::HashSet;

use jsonwebtoken::Algorithm;
use serde::Deserialize;

use super::api_key::ApiKeys;
use crate::config::{ConfigError, ConfigSection, Settings, non_blank};

/// The `AUTH_*` keys (see `envs/.env`). Bearer tokens are accepted when `AUTH_JWKS_URL` is
/// set, API keys when `AUTH_API_KEYS` is; with neither, no route may require authentication
/// (`check` names each one that does).
#[derive(Debug, Clone, Deserialize, validator::Validate)]
pub struct AuthConfig {
    /// `AUTH_JWKS_URL`: where the issuer publishes its signing keys (a JWK Set, RFC 7517
    /// §5), `http(s)://...`. Set, bearer tokens are accepted, and `AUTH_ISSUER` and
    /// `AUTH_AUDIENCE` are required.
    #[serde(default)]
    pub jwks_url: Option<String>,
    /// `AUTH_ISSUER`: the `iss` every token must carry (RFC 7519 §4.1.1); several separated
    /// by commas.
    #[serde(default)]
    pub issuer: Option<String>,
    /// `AUTH_AUDIENCE`: an `aud` every token must include (RFC 7519 §4.1.3), this service's
    /// identifier at the issuer; several separated by commas.
    #[serde(default)]
    pub audience: Option<String>,
    /// `AUTH_ALGORITHMS`: the signature algorithms accepted, by their JWA names (RFC 7518
    /// §3.1), separated by commas; default `RS256`. Asymmetric ones only: `none` and the
    /// HMAC family (which would verify with a public key as the secret) are refused.
    #[serde(default = "default_algorithms")]
    pub algorithms: String,
    /// `AUTH_LEEWAY_SECS`: the clock skew allowed on `exp` and `nbf`, in seconds; default 60.
    #[serde(default = "default_leeway")]
    pub leeway_secs: u64,
    /// `AUTH_JWKS_TTL_SECS`: how long fetched keys are used before they are fetched again, in
    /// seconds (a failed refresh keeps the old keys); default 300, at least 1.
    #[serde(default = "default_ttl")]
    pub jwks_ttl_secs: u64,
    /// `AUTH_JWKS_REFETCH_SECS`: the least time between two fetches a token with an unknown
    /// key id (`kid`) causes, in seconds, so that such tokens cannot make the service hammer
    /// the issuer; default 30, at least 1.
    #[serde(default = "default_refetch")]
    pub jwks_refetch_secs: u64,
    /// `AUTH_API_KEYS`: static API keys, `;`-separated entries of `name=key scope scope...`;
    /// a key written `sha256:<hex>` is the SHA-256 of the key clients send, so the config
    /// need not hold it. A plain key has at least 16 characters.
    #[serde(default)]
    pub api_keys: Option<String>,
    /// `AUTH_API_KEY_HEADER`: the header (and gRPC metadata) API keys come in; default
    /// `x-api-key`.
    #[serde(default = "default_api_key_header")]
    pub api_key_header: String,
    /// `AUTH_REALM`: the realm of `WWW-Authenticate` challenges; default `APP_NAME`.
    #[serde(default)]
    pub realm: Option<String>,
}

fn default_algorithms() -> String {
    "RS256".to_owned()
}

fn default_leeway() -> u64 {
    60
}

fn default_ttl() -> u64 {
    300
}

fn default_refetch() -> u64 {
    30
}

fn default_api_key_header() -> String {
    "x-api-key".to_owned()
}

impl ConfigSection for AuthConfig {
    const PREFIX: &'static str = "AUTH_";

    fn after_load(mut self, settings: &Settings) -> Result<Self, ConfigError> {
        self.jwks_url = non_blank(self.jwks_url);
        self.issuer = non_blank(self.issuer);
        self.audience = non_blank(self.audience);
        self.api_keys = non_blank(self.api_keys);
        self.realm = non_blank(self.realm);
        if let Some(url) = &self.jwks_url {
            if !(url.starts_with("https://") || url.starts_with("http://"))
                || jwks_client::Url::parse(url).is_err()
            {
                return Err(settings.invalid("AUTH_JWKS_URL", "not an http(s) URL"));
            }
            for (key, value) in [
                ("AUTH_ISSUER", &self.issuer),
                ("AUTH_AUDIENCE", &self.audience),
            ] {
                if value.is_none() {
                    return Err(settings.invalid(
                        key,
                        "required with AUTH_JWKS_URL: a token from another issuer, or meant \
                         for another service, must not pass",
                    ));
                }
            }
        }
        self.allowed_algorithms()
            .map_err(|reason| settings.invalid("AUTH_ALGORITHMS", reason))?;
        for (key, value) in [
            ("AUTH_JWKS_TTL_SECS", self.jwks_ttl_secs),
            ("AUTH_JWKS_REFETCH_SECS", self.jwks_refetch_secs),
        ] {
            if value == 0 {
                return Err(settings.invalid(key, "must be at least 1"));
            }
        }
        let header = self.api_key_header.trim().to_ascii_lowercase();
        if !is_header_name(&header) {
            return Err(settings.invalid("AUTH_API_KEY_HEADER", "not a header name"));
        }
        self.api_key_header = header;
        if let Some(keys) = &self.api_keys {
            ApiKeys::parse(keys).map_err(|reason| settings.invalid("AUTH_API_KEYS", reason))?;
        }
        Ok(self)
    }
}

/// A header name is a token (RFC 9110 §5.6.2); gRPC metadata keys are lowercase.
fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b))
}

impl AuthConfig {
    /// Whether any scheme is configured.
    pub fn is_configured(&self) -> bool {
        self.jwks_url.is_some() || self.api_keys.is_some()
    }

    /// `AUTH_ALGORITHMS`, parsed.
    ///
    /// # Errors
    /// The reason an entry is refused.
    pub fn allowed_algorithms(&self) -> Result<Vec<Algorithm>, String> {
        let mut seen = HashSet::new();
        let mut algorithms = Vec::new();
        for name in self.algorithms.split(',').map(str::trim) {
            let algorithm: Algorithm = name.parse().map_err(|_| {
                format!(
                    "`{name}` is not an algorithm this service can verify; expected some of \
                     RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, EdDSA"
                )
            })?;
            if matches!(
                algorithm,
                Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512
            ) {
                return Err(format!(
                    "`{name}` is an HMAC algorithm, verified with a shared secret, not with the \
                     issuer's published keys: list asymmetric algorithms only"
                ));
            }
            if seen.insert(algorithm) {
                algorithms.push(algorithm);
            }
        }
        Ok(algorithms)
    }

    /// `AUTH_ISSUER` or `AUTH_AUDIENCE`, split at commas.
    pub(crate) fn list(value: &Option<String>) -> Vec<String> {
        value
            .iter()
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
            .collect()
    }
}
