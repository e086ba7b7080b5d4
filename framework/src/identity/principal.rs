//! The verified identity of a caller.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde::de::DeserializeOwned;

use super::AuthError;

/// How a caller authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scheme {
    /// A JWT bearer token (RFC 6750, RFC 7519), verified against the issuer's JWKS.
    Bearer,
    /// A static API key from the configuration.
    ApiKey,
}

impl Scheme {
    /// `bearer` or `api_key`: its name in listings and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Bearer => "bearer",
            Scheme::ApiKey => "api_key",
        }
    }
}

/// The verified identity of a request or call: a handler argument (`principal: Principal`
/// on an `#[http_route]`; `framework::grpc::principal(&request)` in a `#[grpc_service]` method).
///
/// On a route without a declared requirement, a `Principal` argument authenticates the
/// request itself (and answers 401 without credentials); `Option<Principal>` is `None` for
/// a caller who sent none.
///
/// Cloning it is cheap: one reference count.
#[derive(Debug, Clone)]
pub struct Principal(Arc<Identity>);

#[derive(Debug)]
struct Identity {
    subject: String,
    scheme: Scheme,
    scopes: BTreeSet<String>,
    /// A JSON object.
    claims: Option<serde_json::Value>,
}

impl Principal {
    /// A principal `subject` of `scheme`, holding `scopes`, with a token's `claims` (`None`
    /// for an API key).
    pub fn new(
        subject: impl Into<String>,
        scheme: Scheme,
        scopes: impl IntoIterator<Item = impl Into<String>>,
        claims: Option<serde_json::Map<String, serde_json::Value>>,
    ) -> Principal {
        Principal(Arc::new(Identity {
            subject: subject.into(),
            scheme,
            scopes: scopes.into_iter().map(Into::into).collect(),
            claims: claims.map(serde_json::Value::Object),
        }))
    }

    /// The token's `sub` claim, or the API key's name.
    pub fn subject(&self) -> &str {
        &self.0.subject
    }

    /// How it authenticated.
    pub fn scheme(&self) -> Scheme {
        self.0.scheme
    }

    /// Its scopes: a token's `scope` (space-separated, RFC 8693 §4.2) or `scp` claim, an API
    /// key's configured scopes.
    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.0.scopes.iter().map(String::as_str)
    }

    /// Whether it holds `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.0.scopes.contains(scope)
    }

    /// Every claim of its token (`None` for an API key).
    pub fn claims(&self) -> Option<&serde_json::Map<String, serde_json::Value>> {
        self.0
            .claims
            .as_ref()
            .and_then(serde_json::Value::as_object)
    }

    /// Its token's claims as `T`.
    ///
    /// # Errors
    /// [`AuthError::ClaimsMismatch`] when it has no token or the claims do not deserialize
    /// into `T` (the caller's token lacks what the handler needs: a 403).
    pub fn claims_as<T: DeserializeOwned>(&self) -> Result<T, AuthError> {
        let claims = self.0.claims.as_ref().ok_or(AuthError::ClaimsMismatch)?;
        T::deserialize(claims).map_err(|_| AuthError::ClaimsMismatch)
    }
}

/// A handler argument: the verified token's claims as `T` (your own struct of custom
/// claims), beside [`Principal`]; a token whose claims do not fit `T` answers 403.
#[derive(Debug, Clone)]
pub struct Claims<T>(pub T);
