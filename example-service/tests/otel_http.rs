//! OTLP over HTTP (`http/protobuf`, the specification's default protocol) to a real receiver
//! (opentelemetry-proto's messages as the bodies of `POST /v1/traces` and `POST /v1/metrics`,
//! served with axum in the test): a traced write's server span and its request count arrive,
//! and every export carries `OTEL_EXPORTER_OTLP_HEADERS` decoded exactly once. Its own
//! process: the export is one per process.

mod common;

use std::time::Duration;

use common::Api;
use framework_test_support::otlp::{Receiver, SpanKind};

/// The batch processor sends spans every 5 s; a CI machine may be slow.
const EXPORTED_WITHIN: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_and_metrics_go_over_http_with_the_headers() {
    let receiver = Receiver::start_http("127.0.0.1:0").await;
    let endpoint = receiver.endpoint();
    let api = Api::sqlite(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
        // `%2525` is `%25` once decoded: a value with a `%` in it.
        (
            "OTEL_EXPORTER_OTLP_HEADERS",
            "api-key=s3cret,x-literal=100%2525",
        ),
        ("OTEL_METRIC_EXPORT_INTERVAL", "300"),
    ])
    .await;

    let trace = uuid::Uuid::new_v4().simple().to_string();
    let traceparent = format!("00-{trace}-00f067aa0ba902b7-01");
    api.create_article(&[("traceparent", &traceparent)]).await;
    receiver
        .wait_for(EXPORTED_WITHIN, "the HTTP server span", |spans| {
            spans.iter().any(|s| {
                s.trace_id == trace
                    && s.kind == SpanKind::Server
                    && s.name == "POST /api/v1/articles"
            })
        })
        .await;
    receiver
        .wait_for_points(EXPORTED_WITHIN, "the request's count", |points| {
            points.iter().any(|p| {
                p.metric == "http_requests_total"
                    && p.attribute("route") == Some("/api/v1/articles")
                    && p.value >= 1.0
            })
        })
        .await;

    let requests = receiver.headers();
    assert!(!requests.is_empty());
    for headers in &requests {
        let header = |name: &str| headers.get(name).map(String::as_str);
        assert_eq!(header("content-type"), Some("application/x-protobuf"));
        assert_eq!(header("api-key"), Some("s3cret"), "{headers:?}");
        assert_eq!(header("x-literal"), Some("100%25"), "{headers:?}");
    }
    api.app.shutdown().await.expect("graceful shutdown");
}
