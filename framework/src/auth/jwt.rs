//! JWT bearer tokens (RFC 7519, RFC 6750): the signature with the issuer's key of the token's
//! `kid`, by an allowed algorithm, then `exp`, `nbf`, `iss`, `aud` and `sub`. The token's
//! `typ` is not checked (issuers write `JWT` or `at+jwt`): `AUTH_AUDIENCE` should name the API,
//! not a client, so that the issuer's ID tokens (whose audience is the client) do not pass.

use std::time::{Duration, Instant};

use jsonwebtoken::errors::ErrorKind as JwtErrorKind;
use jsonwebtoken::{Algorithm, Validation};
use serde_json::{Map, Value};

use super::AuthConfig;
use super::jwks::Jwks;
use crate::identity::{AuthError, Principal, Scheme};

/// How many verified tokens are kept: a client sends the same token until it expires, and
/// checking an ECDSA or RSA signature costs more than serving a small request.
const VERIFIED_CAPACITY: usize = 10_000;

/// The longest a verified token is kept, whatever its `exp`: a key the issuer withdrew stops
/// verifying its tokens within this, as it does within `AUTH_JWKS_TTL_SECS` for new ones.
const VERIFIED_TTL: Duration = Duration::from_secs(300);

/// Verifies the bearer tokens of one issuer.
pub(crate) struct JwtVerifier {
    jwks: Jwks,
    /// Each allowed algorithm with its validation (the claims' checks are the same): one
    /// `Validation` may only list algorithms of one family (jsonwebtoken refuses a token
    /// otherwise), and `AUTH_ALGORITHMS` may mix RSA and EC.
    validations: Vec<(Algorithm, Validation)>,
    /// `AUTH_LEEWAY_SECS`.
    leeway: u64,
    /// Tokens that verified, with their principal, `exp` and when they were; only a valid
    /// token gets in, so a client cannot fill it with garbage.
    verified: quick_cache::sync::Cache<String, (Principal, u64, Instant)>,
}

impl JwtVerifier {
    /// The verifier of `config`'s issuer; `None` when `AUTH_JWKS_URL` is not set.
    pub(crate) fn new(config: &AuthConfig) -> Result<Option<JwtVerifier>, String> {
        let Some(url) = &config.jwks_url else {
            return Ok(None);
        };
        let validations = config
            .allowed_algorithms()?
            .into_iter()
            .map(|algorithm| {
                let mut validation = Validation::new(algorithm);
                validation.leeway = config.leeway_secs;
                validation.validate_nbf = true;
                validation.set_issuer(&AuthConfig::list(&config.issuer));
                validation.set_audience(&AuthConfig::list(&config.audience));
                validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
                (algorithm, validation)
            })
            .collect();
        let jwks = Jwks::new(
            url.clone(),
            Duration::from_secs(config.jwks_ttl_secs),
            Duration::from_secs(config.jwks_refetch_secs),
        )?;
        Ok(Some(JwtVerifier {
            jwks,
            validations,
            leeway: config.leeway_secs,
            verified: quick_cache::sync::Cache::new(VERIFIED_CAPACITY),
        }))
    }

    pub(crate) async fn prefetch(&self) {
        self.jwks.prefetch().await;
    }

    /// The principal of a verified `token`: from a previous verification while it has not
    /// expired (`exp`, with the leeway), else checked in full.
    pub(crate) async fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        if let Some(principal) = self.verified(token) {
            return Ok(principal);
        }
        let (principal, expires) = self.check(token).await?;
        self.verified.insert(
            token.to_owned(),
            (principal.clone(), expires, Instant::now()),
        );
        Ok(principal)
    }

    /// The principal of `token` if it verified before and has not expired since (`exp`, with
    /// the leeway; and at most [`VERIFIED_TTL`] ago).
    pub(crate) fn verified(&self, token: &str) -> Option<Principal> {
        let (principal, expires, verified) = self.verified.get(token)?;
        let now = jsonwebtoken::get_current_timestamp();
        if now <= expires.saturating_add(self.leeway) && verified.elapsed() < VERIFIED_TTL {
            return Some(principal);
        }
        self.verified.remove(token);
        None
    }

    /// The principal and `exp` of `token`, checked in full.
    async fn check(&self, token: &str) -> Result<(Principal, u64), AuthError> {
        // `alg: none` and unknown algorithms fail here: `Algorithm` has no such variant.
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| AuthError::InvalidToken("the token is not a signed JWT"))?;
        let Some((_, validation)) = self.validations.iter().find(|(a, _)| *a == header.alg) else {
            return Err(AuthError::InvalidToken(
                "the token's signature algorithm is not accepted",
            ));
        };
        let key = self.jwks.key(header.kid.as_deref()).await?;
        if !key.allows(header.alg) {
            return Err(AuthError::InvalidToken(
                "the token's algorithm does not match its key",
            ));
        }
        let data = jsonwebtoken::decode::<Map<String, Value>>(token, &key.key, validation)
            .map_err(|e| AuthError::InvalidToken(reason(e.kind())))?;
        // Required and validated as a number by `decode`.
        // A NumericDate may have a fraction (RFC 7519 §2); 0 would only skip the cache.
        let expires = data
            .claims
            .get("exp")
            .and_then(|exp| exp.as_u64().or_else(|| exp.as_f64().map(|e| e as u64)))
            .unwrap_or(0);
        Ok((principal(data.claims)?, expires))
    }
}

/// What a client is told of a token that does not verify.
fn reason(kind: &JwtErrorKind) -> &'static str {
    match kind {
        JwtErrorKind::ExpiredSignature => "the token has expired",
        JwtErrorKind::ImmatureSignature => "the token is not valid yet",
        JwtErrorKind::InvalidIssuer => "the token's issuer is not accepted",
        JwtErrorKind::InvalidAudience => "the token is meant for another audience",
        JwtErrorKind::InvalidSignature => "the token's signature does not verify",
        JwtErrorKind::MissingRequiredClaim(_) => "the token lacks a required claim",
        JwtErrorKind::InvalidAlgorithm | JwtErrorKind::InvalidAlgorithmName => {
            "the token's algorithm does not match its key"
        }
        _ => "the token is malformed",
    }
}

/// The principal of verified claims: `sub`, and the scopes of `scope` (space-separated,
/// RFC 8693 §4.2) and `scp` (a list or a string, as Azure AD and Okta write it).
fn principal(claims: Map<String, Value>) -> Result<Principal, AuthError> {
    let subject = match claims.get("sub") {
        Some(Value::String(sub)) if !sub.is_empty() => sub.clone(),
        _ => return Err(AuthError::InvalidToken("the token's subject is missing")),
    };
    let mut scopes: Vec<String> = Vec::new();
    for name in ["scope", "scp"] {
        match claims.get(name) {
            Some(Value::String(list)) => scopes.extend(list.split(' ').map(str::to_owned)),
            Some(Value::Array(items)) => {
                scopes.extend(items.iter().filter_map(Value::as_str).map(str::to_owned));
            }
            _ => {}
        }
    }
    scopes.retain(|s| !s.is_empty());
    Ok(Principal::new(
        subject,
        Scheme::Bearer,
        scopes,
        Some(claims),
    ))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::principal;

    #[test]
    fn scopes_come_from_scope_and_scp() {
        let claims = json!({"sub": "u1", "scope": "a:read  a:write", "scp": ["b"]});
        let verified = principal(claims.as_object().unwrap().clone()).unwrap();
        assert_eq!(
            verified.scopes().collect::<Vec<_>>(),
            ["a:read", "a:write", "b"]
        );
        assert_eq!(verified.subject(), "u1");
        let nobody = json!({"sub": ""});
        assert!(principal(nobody.as_object().unwrap().clone()).is_err());
    }
}
