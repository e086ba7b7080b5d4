//! Prometheus metrics at `GET /metrics` (text format). The framework records HTTP requests
//! per route, gRPC calls per method, consumed Kafka messages per topic and group, job runs
//! per job and the database pool; services
//! add their own with the [`metrics`] macros (`framework::metrics::counter!` ...).

use std::collections::HashMap;
use std::sync::OnceLock;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use ::metrics::{Counter, Histogram};
use axum::Router;
use axum::extract::{MatchedPath, Request};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

mod grpc;
mod labels;

pub use ::metrics::{counter, gauge, histogram};
pub use grpc::GrpcMetrics;
pub(crate) use labels::http_method;

/// Buckets of every `*_seconds` histogram.
const DURATION_BUCKETS: &[f64] = &[
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// How often histogram samples are folded into their buckets.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// The process's recorder, installed at first use (an app installs it when it starts);
/// `None` when the program installed another recorder first.
pub fn handle() -> Option<&'static PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), DURATION_BUCKETS)
                .expect("the buckets are not empty");
            match builder.install_recorder() {
                Ok(handle) => {
                    // Histogram samples pile up until upkeep folds them into buckets.
                    let upkeep = handle.clone();
                    std::thread::Builder::new()
                        .name("metrics-upkeep".into())
                        .spawn(move || {
                            loop {
                                std::thread::sleep(UPKEEP_EVERY);
                                upkeep.run_upkeep();
                            }
                        })
                        .map_err(|error| tracing::warn!(%error, "cannot start the metrics upkeep thread"))
                        .ok();
                    Some(handle)
                }
                Err(error) => {
                    tracing::warn!(%error, "another metrics recorder is installed; GET /metrics serves nothing");
                    None
                }
            }
        })
        .as_ref()
}

/// `GET /metrics`, outside the base path like the health endpoints.
pub(crate) fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new().route("/metrics", get(render))
}

async fn render() -> Response {
    let Some(handle) = handle() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    // Histograms are drained into their buckets here rather than by a background task.
    handle.run_upkeep();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        handle.render(),
    )
        .into_response()
}

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
