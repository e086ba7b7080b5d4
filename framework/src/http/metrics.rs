//! `http_requests_total` and `http_request_duration_seconds`.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;

use super::labels::http_method;
use crate::metrics::Meter;

static REQUESTS: Meter = Meter::new(
    "http_requests_total",
    "http_request_duration_seconds",
    &["method", "route", "status"],
);

/// Counts each request and times it, by method, route template and status. Every label comes
/// from a bounded set: requests that match no route count as route `unmatched` (a raw path
/// would make a label per URL), and a method outside the standard ones as `_OTHER`
/// (OpenTelemetry's `http.request.method`).
pub(crate) async fn record_http(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = http_method(request.method());
    let route = request.extensions().get::<MatchedPath>().cloned();
    let response = next.run(request).await;
    let route = route.as_ref().map_or("unmatched", MatchedPath::as_str);
    REQUESTS.record(
        &[method, route, response.status().as_str()],
        started.elapsed(),
    );
    response
}
