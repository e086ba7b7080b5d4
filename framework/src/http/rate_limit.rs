//! Rate limits over HTTP: a route that declares `rate_limit = ".."` counts each client's
//! requests (the principal, else the peer's address from the connection, as axum's
//! [`ConnectInfo`] the server puts in each request, or behind a proxy of
//! `HTTP_TRUSTED_PROXIES` the address it forwards). A refusal is 429 problem+json
//! `RATE_LIMITED` with `Retry-After` (RFC 6585 §4); every answer of the route carries the
//! `RateLimit` and `RateLimit-Policy` headers.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::ConnectInfo;
use axum::http::{Extensions, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;

use super::{AppState, Problem};
use crate::rate_limit::{Decision, Policy, RateLimiter};
use crate::serving::client_address::TrustedProxies;
use crate::serving::limit::{Limited, Limits};

/// `mounted` behind the limit of `policy`.
pub(crate) fn layer(
    mounted: MethodRouter<AppState>,
    limiter: Arc<dyn RateLimiter>,
    policy: Policy,
    proxies: TrustedProxies,
) -> MethodRouter<AppState> {
    // A route layer: the method router's 405 for other methods is not counted.
    mounted.route_layer(Limits::layer(
        limiter,
        Limited::new(policy),
        refused,
        peer,
        proxies,
    ))
}

/// The address the server recorded for the request's connection.
fn peer(extensions: &Extensions) -> Option<IpAddr> {
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(address)| address.ip())
}

/// 429 with `Retry-After` in whole seconds, rounded up.
fn refused(limited: &Limited, decision: &Decision) -> Response {
    let seconds = decision.retry_after.as_millis().div_ceil(1000).max(1) as u64;
    let detail = format!(
        "Too many requests: this route admits {} per client; retry after {seconds} s.",
        limited.policy.quota
    );
    let mut response =
        Problem::new(StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED", detail).into_response();
    let headers = response.headers_mut();
    headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    limited.describe(decision, headers);
    response
}
