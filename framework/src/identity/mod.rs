//! Who calls: the verified [`Principal`] of a request or call, the [`Requirement`] a route or
//! RPC declares (`#[http_route(POST, "/articles", scope = "articles:write")]`), and the
//! [`Authenticator`] seam an authentication plugin fills (the `auth` feature's JWT bearer
//! tokens and API keys). The core names no transport: HTTP and gRPC read the credentials
//! from their headers or metadata and call [`authorize`].

mod error;
mod principal;

pub use error::AuthError;
pub use principal::{Claims, Principal, Scheme};

/// Credentials as a caller presented them.
#[derive(Debug, Clone, Copy)]
pub enum Credentials<'a> {
    /// `Authorization: Bearer <token>` (RFC 6750 §2.1), or the `authorization` metadata.
    Bearer(&'a str),
    /// The API key header (`x-api-key` unless configured otherwise), or that metadata.
    ApiKey(&'a str),
}

/// Verifies credentials: the component the `auth` plugin provides as `dyn Authenticator`
/// when a scheme is configured. A service may provide its own.
#[crate::async_trait]
pub trait Authenticator: Send + Sync + 'static {
    /// The verified identity behind `credentials`.
    ///
    /// # Errors
    /// [`AuthError::InvalidToken`] for credentials that do not verify (a bad signature, an
    /// expired token, an unknown key), [`AuthError::SchemeNotAccepted`] for a scheme that is
    /// not configured, [`AuthError::KeysUnavailable`] when the keys to verify with cannot be
    /// fetched.
    async fn authenticate(&self, credentials: Credentials<'_>) -> Result<Principal, AuthError>;

    /// [`Authenticator::authenticate`], when the answer is known without waiting (a token
    /// verified before, an API key); `None` (the default) to wait for `authenticate`. The
    /// guards ask this first: most requests then cost no allocation of a future.
    fn authenticate_now(
        &self,
        credentials: Credentials<'_>,
    ) -> Option<Result<Principal, AuthError>> {
        let _ = credentials;
        None
    }

    /// The schemes configured, in the order challenges name them.
    fn schemes(&self) -> &[Scheme];

    /// The header API keys come in, lowercase (`x-api-key`).
    fn api_key_header(&self) -> &str;

    /// The realm of `WWW-Authenticate` challenges (RFC 9110 §11.6.1): the service's name.
    fn realm(&self) -> &str;
}

/// What a route or RPC requires of its caller: authentication, and every one of `scopes`.
/// Built in const context by the macros.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Requirement {
    /// The scopes the principal must all hold (OAuth 2.0 scope tokens, RFC 6749 §3.3); empty:
    /// authentication alone.
    pub scopes: &'static [&'static str],
}

impl Requirement {
    /// Authentication, no scope.
    pub const AUTHENTICATED: Requirement = Requirement { scopes: &[] };

    /// Whether `principal` holds every scope.
    ///
    /// # Errors
    /// [`AuthError::InsufficientScope`] naming the scopes required.
    pub fn check(&self, principal: &Principal) -> Result<(), AuthError> {
        if self.scopes.iter().all(|scope| principal.has_scope(scope)) {
            Ok(())
        } else {
            Err(AuthError::InsufficientScope {
                required: self.scopes,
            })
        }
    }

    /// For listings: `scope articles:write`, or `authenticated`.
    pub fn describe(&self) -> String {
        if self.scopes.is_empty() {
            "authenticated".to_owned()
        } else {
            format!("scope {}", self.scopes.join(" "))
        }
    }
}

/// The credentials a transport found: its `authorization` and API key header values.
#[derive(Debug, Clone, Copy, Default)]
pub struct Presented<'a> {
    /// The `authorization` header or metadata value.
    pub authorization: Option<&'a [u8]>,
    /// The API key header or metadata value.
    pub api_key: Option<&'a [u8]>,
    /// Whether either came more than once: which one counts would be a guess.
    pub repeated: bool,
}

impl<'a> Presented<'a> {
    /// The credentials in these values; `None` when there are none.
    ///
    /// # Errors
    /// [`AuthError::UnsupportedScheme`] for an `authorization` value that is not `Bearer ..`;
    /// [`AuthError::InvalidRequest`] for an empty token, a value that is not visible ASCII,
    /// a header sent twice, or both a token and an API key.
    pub fn credentials(&self) -> Result<Option<Credentials<'a>>, AuthError> {
        if self.repeated {
            return Err(AuthError::InvalidRequest(
                "send one Authorization or API key header, not several",
            ));
        }
        let text = |value: &'a [u8]| {
            // Visible ASCII or a space (0x20..=0x7e). A fold rather than `all`: a check that
            // does not stop early is vectorized, and a token is hundreds of bytes (callgrind:
            // 2,200 instructions per request with `all`, most of reading a cached token).
            let visible = value
                .iter()
                .fold(true, |visible, &b| visible & (b' '..=b'~').contains(&b));
            visible
                .then(|| std::str::from_utf8(value).ok())
                .flatten()
                .ok_or(AuthError::InvalidRequest(
                    "credentials must be visible ASCII",
                ))
        };
        let bearer = match self.authorization {
            None => None,
            Some(value) => {
                let value = text(value)?;
                // RFC 9110 §11.1: the scheme is case-insensitive.
                let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
                if !scheme.eq_ignore_ascii_case("bearer") {
                    return Err(AuthError::UnsupportedScheme);
                }
                let token = token.trim_matches(' ');
                if token.is_empty() {
                    return Err(AuthError::InvalidRequest("the bearer token is empty"));
                }
                Some(Credentials::Bearer(token))
            }
        };
        // An empty key header is no key.
        let api_key = self
            .api_key
            .map(text)
            .transpose()?
            .map(|key| key.trim_matches(' '))
            .filter(|key| !key.is_empty())
            .map(Credentials::ApiKey);
        match (bearer, api_key) {
            (Some(_), Some(_)) => Err(AuthError::InvalidRequest(
                "send either a bearer token or an API key, not both",
            )),
            (bearer, api_key) => Ok(bearer.or(api_key)),
        }
    }
}

/// [`authorize`] when the answer is known without waiting
/// ([`Authenticator::authenticate_now`]); `None` to wait for `authorize`.
pub fn authorize_now(
    authenticator: &dyn Authenticator,
    requirement: &Requirement,
    presented: Presented<'_>,
) -> Option<Result<Principal, AuthError>> {
    let credentials = match presented.credentials() {
        Ok(Some(credentials)) => credentials,
        Ok(None) => return Some(Err(AuthError::MissingCredentials)),
        Err(error) => return Some(Err(error)),
    };
    Some(
        authenticator
            .authenticate_now(credentials)?
            .and_then(|principal| requirement.check(&principal).map(|()| principal)),
    )
}

/// Authenticates what a caller `presented` and checks `requirement`: the one path HTTP and
/// gRPC take.
///
/// # Errors
/// [`AuthError::MissingCredentials`] when nothing was presented, the errors of
/// [`Presented::credentials`] and [`Authenticator::authenticate`], and
/// [`AuthError::InsufficientScope`].
pub async fn authorize(
    authenticator: &dyn Authenticator,
    requirement: &Requirement,
    presented: Presented<'_>,
) -> Result<Principal, AuthError> {
    let credentials = presented
        .credentials()?
        .ok_or(AuthError::MissingCredentials)?;
    let principal = authenticator.authenticate(credentials).await?;
    requirement.check(&principal)?;
    Ok(principal)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn presented<'a>(authorization: Option<&'a str>, api_key: Option<&'a str>) -> Presented<'a> {
        Presented {
            authorization: authorization.map(str::as_bytes),
            api_key: api_key.map(str::as_bytes),
            repeated: false,
        }
    }

    #[test]
    fn a_bearer_token_is_read_whatever_the_scheme_case() {
        for header in ["Bearer abc", "bearer abc", "BEARER  abc "] {
            let found = presented(Some(header), None).credentials().unwrap();
            assert!(
                matches!(found, Some(Credentials::Bearer("abc"))),
                "{header}"
            );
        }
        assert!(matches!(
            presented(None, Some("k1")).credentials().unwrap(),
            Some(Credentials::ApiKey("k1"))
        ));
        assert!(presented(None, None).credentials().unwrap().is_none());
        assert!(presented(None, Some(" ")).credentials().unwrap().is_none());
        let twice = Presented {
            repeated: true,
            ..presented(Some("Bearer abc"), None)
        };
        assert!(matches!(
            twice.credentials(),
            Err(AuthError::InvalidRequest(_))
        ));
    }

    #[test]
    fn other_schemes_empty_tokens_and_two_credentials_are_refused() {
        for header in ["Basic dXNlcg==", "Token abc"] {
            let refused = presented(Some(header), None).credentials();
            assert!(
                matches!(refused, Err(AuthError::UnsupportedScheme)),
                "{header}"
            );
        }
        let long = format!("Bearer {}\u{7f}", "a".repeat(500));
        let refused = [
            "Bearer",
            "Bearer ",
            "Bearer \u{e9}",
            "Bearer a\tb",
            "Bearer a\u{7f}",
            "Bearer a\u{1f}b",
            &long,
        ];
        for header in refused {
            let refused = presented(Some(header), None).credentials();
            assert!(
                matches!(refused, Err(AuthError::InvalidRequest(_))),
                "{header}"
            );
        }
        assert!(matches!(
            presented(Some("Bearer a"), Some("k")).credentials(),
            Err(AuthError::InvalidRequest(_))
        ));
    }

    #[test]
    fn a_requirement_needs_every_scope() {
        let principal = Principal::new("u1", Scheme::Bearer, ["a:read", "a:write"], None);
        let both = Requirement {
            scopes: &["a:read", "a:write"],
        };
        assert!(both.check(&principal).is_ok());
        let more = Requirement {
            scopes: &["a:read", "a:admin"],
        };
        assert!(matches!(
            more.check(&principal),
            Err(AuthError::InsufficientScope { .. })
        ));
        assert!(Requirement::AUTHENTICATED.check(&principal).is_ok());
        assert_eq!(more.describe(), "scope a:read a:admin");
    }
}
