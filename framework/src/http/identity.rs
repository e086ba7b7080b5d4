//! Authentication over HTTP: the guard of a route that declares a requirement, and the
//! [`Principal`] and [`Claims`] extractors. Credentials come as `Authorization: Bearer
//! <token>` (RFC 6750 §2.1) or in the API key header; a refusal is problem+json with
//! `WWW-Authenticate` (RFC 9110 §11.6.1): 401 without valid credentials, 403 without a scope.

use std::sync::Arc;

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;
use serde::de::DeserializeOwned;

use super::{AppState, Problem};
use crate::identity::{AuthError, Authenticator, Claims, Principal, Requirement, authorize};
use crate::serving::guard::{Guard, presented};

/// `mounted` behind the guard of `requirement`. Without an `authenticator` (the wiring check
/// makes sure there is one) every request is refused, never let through.
pub(crate) fn layer(
    mounted: MethodRouter<AppState>,
    authenticator: Option<Arc<dyn Authenticator>>,
    requirement: Requirement,
) -> MethodRouter<AppState> {
    // A route layer: the method router's 405 for other methods stays unguarded.
    mounted.route_layer(Guard::layer(authenticator, requirement, refused))
}

/// The guard's answer: the problem, or a 500 without an authenticator.
fn refused(outcome: Option<(&AuthError, &dyn Authenticator)>) -> Response {
    match outcome {
        Some((error, authenticator)) => refusal(error, authenticator),
        None => Problem::internal().into_response(),
    }
}

/// The problem of `error`, with its challenge.
fn refusal(error: &AuthError, authenticator: &dyn Authenticator) -> Response {
    let mut response = Problem::from_domain_error(error).into_response();
    let challenge = error.challenge(
        authenticator.realm(),
        authenticator.schemes(),
        authenticator.api_key_header(),
    );
    if let Some(value) = challenge.and_then(|c| HeaderValue::from_str(&c).ok()) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
    response
}

/// The authenticator, which the wiring check guarantees for a route that names a principal.
fn authenticator(state: &AppState) -> Option<Arc<dyn Authenticator>> {
    let found = state.container.get::<dyn Authenticator>();
    if found.is_none() {
        tracing::error!(
            "a handler takes a Principal, but no authentication is configured \
             (AUTH_JWKS_URL or AUTH_API_KEYS)"
        );
    }
    found
}

/// The guard's principal; on a route without a requirement, the request's own credentials,
/// which must then be present and valid.
impl FromRequestParts<AppState> for Principal {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        if let Some(principal) = parts.extensions.get::<Principal>() {
            return Ok(principal.clone());
        }
        let Some(authenticator) = authenticator(state) else {
            return Err(Problem::internal().into_response());
        };
        let presented = presented(&parts.headers, &*authenticator);
        authorize(&*authenticator, &Requirement::AUTHENTICATED, presented)
            .await
            .map_err(|error| refusal(&error, &*authenticator))
    }
}

/// `None` for a caller who sent no credentials (or when no scheme is configured); invalid
/// credentials still answer 401.
impl OptionalFromRequestParts<AppState> for Principal {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Option<Self>, Response> {
        if let Some(principal) = parts.extensions.get::<Principal>() {
            return Ok(Some(principal.clone()));
        }
        let Some(authenticator) = state.container.get::<dyn Authenticator>() else {
            return Ok(None);
        };
        let presented = presented(&parts.headers, &*authenticator);
        match presented.credentials() {
            Ok(None) => Ok(None),
            Ok(Some(_)) => authorize(&*authenticator, &Requirement::AUTHENTICATED, presented)
                .await
                .map(Some)
                .map_err(|error| refusal(&error, &*authenticator)),
            Err(error) => Err(refusal(&error, &*authenticator)),
        }
    }
}

/// The principal's token claims as `T`: 403 `CLAIMS_MISMATCH` when they do not fit.
impl<T: DeserializeOwned + Send> FromRequestParts<AppState> for Claims<T> {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let principal =
            <Principal as FromRequestParts<AppState>>::from_request_parts(parts, state).await?;
        principal
            .claims_as()
            .map(Claims)
            .map_err(|error| Problem::from_domain_error(&error).into_response())
    }
}
