//! Why a caller was refused, as a [`DomainError`] (401, 403, 400 for malformed credentials or
//! 503 over HTTP; `UNAUTHENTICATED`, `PERMISSION_DENIED`, `INVALID_ARGUMENT` or `UNAVAILABLE`
//! over gRPC), and the
//! `WWW-Authenticate` challenge that goes with it (RFC 9110 §11.6.1, RFC 6750 §3).

use super::Scheme;
use crate::error::{DomainError, ErrorKind};

/// A caller refused, or credentials that could not be checked.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// No credentials where the route requires them.
    #[error("this operation requires authentication")]
    MissingCredentials,
    /// Credentials that cannot be read: an empty bearer token, characters that are not
    /// visible ASCII, or a token and an API key at once (RFC 6750 §3.1 `invalid_request`: a
    /// 400).
    #[error("malformed credentials: {0}")]
    InvalidRequest(&'static str),
    /// An `Authorization` scheme other than `Bearer` (`Basic`, say): no credentials this
    /// service reads.
    #[error("the Authorization scheme must be Bearer")]
    UnsupportedScheme,
    /// A token or API key that does not verify; the reason is safe to show.
    #[error("invalid credentials: {0}")]
    InvalidToken(&'static str),
    /// Credentials of a scheme the service does not accept.
    #[error("{} credentials are not accepted here", .0.as_str())]
    SchemeNotAccepted(Scheme),
    /// Authenticated, without every scope required.
    #[error("this operation requires the scope(s) {}", .required.join(" "))]
    InsufficientScope {
        /// The scopes the route requires.
        required: &'static [&'static str],
    },
    /// The token's claims do not hold what the handler reads (`Claims<T>`).
    #[error("the credentials lack claims this operation needs")]
    ClaimsMismatch,
    /// The keys to verify tokens with could not be fetched (the JWKS endpoint is down).
    #[error("cannot verify credentials now: {0}")]
    KeysUnavailable(String),
}

impl DomainError for AuthError {
    fn kind(&self) -> ErrorKind {
        match self {
            AuthError::InvalidRequest(_) => ErrorKind::BadRequest,
            AuthError::MissingCredentials
            | AuthError::UnsupportedScheme
            | AuthError::InvalidToken(_)
            | AuthError::SchemeNotAccepted(_) => ErrorKind::Unauthorized,
            AuthError::InsufficientScope { .. } | AuthError::ClaimsMismatch => ErrorKind::Forbidden,
            AuthError::KeysUnavailable(_) => ErrorKind::Unavailable,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            AuthError::MissingCredentials => "AUTHENTICATION_REQUIRED",
            AuthError::InvalidRequest(_) => "MALFORMED_CREDENTIALS",
            AuthError::InvalidToken(_) => "INVALID_CREDENTIALS",
            AuthError::SchemeNotAccepted(_) | AuthError::UnsupportedScheme => "SCHEME_NOT_ACCEPTED",
            AuthError::InsufficientScope { .. } => "INSUFFICIENT_SCOPE",
            AuthError::ClaimsMismatch => "CLAIMS_MISMATCH",
            AuthError::KeysUnavailable(_) => "AUTHENTICATION_UNAVAILABLE",
        }
    }

    fn catalog() -> &'static [(&'static str, ErrorKind)] {
        &[
            ("AUTHENTICATION_REQUIRED", ErrorKind::Unauthorized),
            ("MALFORMED_CREDENTIALS", ErrorKind::BadRequest),
            ("INVALID_CREDENTIALS", ErrorKind::Unauthorized),
            ("SCHEME_NOT_ACCEPTED", ErrorKind::Unauthorized),
            ("INSUFFICIENT_SCOPE", ErrorKind::Forbidden),
            ("CLAIMS_MISMATCH", ErrorKind::Forbidden),
            ("AUTHENTICATION_UNAVAILABLE", ErrorKind::Unavailable),
        ]
    }
}

impl AuthError {
    /// The `WWW-Authenticate` value of a 401, or of a 403 for a missing scope (RFC 6750
    /// §3.1): one challenge per accepted scheme, the bearer one with the RFC 6750 `error`
    /// code. `None` for the other refusals.
    pub fn challenge(
        &self,
        realm: &str,
        schemes: &[Scheme],
        api_key_header: &str,
    ) -> Option<String> {
        let error = match self {
            AuthError::MissingCredentials
            | AuthError::SchemeNotAccepted(_)
            | AuthError::UnsupportedScheme => None,
            AuthError::InvalidRequest(_) => Some("invalid_request"),
            AuthError::InvalidToken(_) => Some("invalid_token"),
            AuthError::InsufficientScope { .. } => Some("insufficient_scope"),
            AuthError::ClaimsMismatch | AuthError::KeysUnavailable(_) => return None,
        };
        let realm = quoted(realm);
        let challenges: Vec<String> = schemes
            .iter()
            .map(|scheme| match scheme {
                Scheme::Bearer => {
                    let mut challenge = format!("Bearer realm={realm}");
                    if let Some(error) = error {
                        challenge.push_str(&format!(", error=\"{error}\""));
                    }
                    if let AuthError::InsufficientScope { required } = self {
                        challenge.push_str(&format!(", scope={}", quoted(&required.join(" "))));
                    }
                    challenge
                }
                // No registered scheme: the name says which header to send.
                Scheme::ApiKey => {
                    format!("ApiKey realm={realm}, header={}", quoted(api_key_header))
                }
            })
            .collect();
        (!challenges.is_empty()).then(|| challenges.join(", "))
    }
}

/// A quoted-string (RFC 9110 §5.6.4).
fn quoted(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_follow_rfc_6750() {
        let both = [Scheme::Bearer, Scheme::ApiKey];
        assert_eq!(
            AuthError::MissingCredentials.challenge("articles", &both, "x-api-key"),
            Some(r#"Bearer realm="articles", ApiKey realm="articles", header="x-api-key""#.into())
        );
        assert_eq!(
            AuthError::InvalidToken("expired").challenge("a\"b", &[Scheme::Bearer], "x"),
            Some(r#"Bearer realm="a\"b", error="invalid_token""#.into())
        );
        let scope = AuthError::InsufficientScope {
            required: &["articles:write"],
        };
        assert_eq!(
            scope.challenge("articles", &[Scheme::Bearer], "x"),
            Some(
                r#"Bearer realm="articles", error="insufficient_scope", scope="articles:write""#
                    .into()
            )
        );
        assert_eq!(AuthError::ClaimsMismatch.challenge("a", &both, "x"), None);
    }
}
