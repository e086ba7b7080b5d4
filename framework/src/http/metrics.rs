//! `http_requests_total` and `http_request_duration_seconds`.

use std::collections::HashMap;
use std::sync::OnceLock;
use std::sync::RwLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
use metrics::{Counter, Histogram};

use super::labels::http_method;

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
    let (count, time) = http_handles(method, route, response.status());
    count.increment(1);
    time.record(started.elapsed().as_secs_f64());
    response
}

/// The handles of one (method, route, status), resolved once: a request then costs a read
/// lock and two atomic updates instead of building labels and looking them up.
fn http_handles(method: &'static str, route: &str, status: StatusCode) -> (Counter, Histogram) {
    type ByRoute = HashMap<String, HashMap<(&'static str, u16), (Counter, Histogram)>>;
    static CACHE: OnceLock<RwLock<ByRoute>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let key = (method, status.as_u16());
    let found = cache
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .get(route)
        .and_then(|by_key| by_key.get(&key).cloned());
    if let Some(handles) = found {
        return handles;
    }
    let labels = [
        ("method", method.to_owned()),
        ("route", route.to_owned()),
        ("status", status.as_str().to_owned()),
    ];
    let handles = (
        ::metrics::counter!("http_requests_total", &labels),
        ::metrics::histogram!("http_request_duration_seconds", &labels),
    );
    let mut cache = cache.write().unwrap_or_else(|e| e.into_inner());
    let by_key = cache.entry(route.to_owned()).or_default();
    by_key.entry(key).or_insert(handles).clone()
}
