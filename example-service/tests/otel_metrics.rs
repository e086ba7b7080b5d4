//! Metrics exported over OTLP, as a metrics backend sees them: the service exports over
//! OTLP/gRPC to a real receiver (opentelemetry-proto's collector service on tonic, in the
//! test) every 300 ms, on PostgreSQL (`DATABASE_URL`) and the real broker (`KAFKA_BROKERS`).
//! HTTP requests, gRPC calls (through the service's own client), consumed records, job runs
//! and the database pool arrive under the names and labels `GET /metrics` shows, with the
//! same counts; spans are off (`OTEL_TRACES_EXPORTER=none`) and none arrive. The export is
//! the process's and outlives the Tokio runtime of the app that started it: a second app, on
//! another runtime once the first one's ended, is exported too. Its own process: the `metrics`
//! recorder is one per process, made by the first app.

mod common;

use std::time::Duration;

use common::Api;
use framework::metrics::DURATION_BUCKETS;
use framework_test_support::otlp::{MetricKind, Point, Receiver};

/// Three export intervals are enough on a quiet machine; a CI machine may be slow.
const EXPORTED_WITHIN: Duration = Duration::from_secs(30);

/// The newest point of `metric` whose attributes include `labels`.
fn newest<'a>(points: &'a [Point], metric: &str, labels: &[(&str, &str)]) -> Option<&'a Point> {
    points
        .iter()
        .rev()
        .find(|p| p.metric == metric && labels.iter().all(|(k, v)| p.attribute(k) == Some(*v)))
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn the_deliveries_metrics_reach_an_otlp_receiver() {
    let brokers = std::env::var("KAFKA_BROKERS").unwrap_or_default();
    assert!(
        !brokers.is_empty() && !brokers.starts_with("memory"),
        "this test needs KAFKA_BROKERS=host:port of a running Kafka-protocol broker (scripts/test starts tansu)"
    );
    // The receiver outlives both apps' runtimes.
    let receiving = runtime();
    let receiver = receiving.block_on(Receiver::start("127.0.0.1:0"));
    let topic = format!("article.events.{}", uuid::Uuid::new_v4().simple());
    let endpoint = receiver.endpoint();
    let env = [
        ("KAFKA_BROKERS", brokers.as_str()),
        ("ARTICLES_EVENTS_TOPIC", topic.as_str()),
        ("ARTICLES_SUMMARY_SCHEDULE", "* * * * * *"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ("OTEL_METRIC_EXPORT_INTERVAL", "300"),
        ("OTEL_TRACES_EXPORTER", "none"),
        ("OTEL_SERVICE_NAME", "articles-metrics"),
    ];
    runtime().block_on(each_delivery(&receiver, &env, &topic));
    // The first runtime is gone; the second app's request is counted and exported.
    runtime().block_on(async {
        let api = Api::postgres(&env).await;
        api.create_article(&[]).await;
        receiver
            .wait_for_points(EXPORTED_WITHIN, "the second app's request", |points| {
                newest(points, "http_requests_total", &CREATED).is_some_and(|p| p.value == 2.0)
            })
            .await;
        api.app.shutdown().await.expect("graceful shutdown");
    });
}

const CREATED: [(&str, &str); 3] = [
    ("method", "POST"),
    ("route", "/api/v1/articles"),
    ("status", "201"),
];

async fn each_delivery(receiver: &Receiver, env: &[(&str, &str)], topic: &str) {
    let api = Api::postgres(env).await;
    let created = CREATED;

    let id = api.create_article(&[]).await;
    let remote = api
        .client
        .get(api.app.url(&format!("/api/v1/remote/articles/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(remote.status(), 200);

    // Counted at least once (the series of the other outcomes are made at 0 beforehand).
    let counted: [(&str, &[(&str, &str)]); 4] = [
        ("http_requests_total", &created),
        ("grpc_requests_total", &[]),
        (
            "kafka_messages_total",
            &[("topic", topic), ("outcome", "handled")],
        ),
        ("job_runs_total", &[("outcome", "succeeded")]),
    ];
    let pool = [("backend", "PostgreSQL"), ("state", "idle")];
    receiver
        .wait_for_points(EXPORTED_WITHIN, "each delivery's metrics", |points| {
            newest(points, "db_pool_connections", &pool).is_some()
                && counted.iter().all(|(metric, labels)| {
                    newest(points, metric, labels).is_some_and(|p| p.value >= 1.0)
                })
        })
        .await;
    let points = receiver.points();

    // Counters are monotonic sums; one request is counted once, as on `GET /metrics`.
    let requests = newest(&points, "http_requests_total", &created).unwrap();
    assert_eq!(requests.kind, MetricKind::Sum(true), "{requests:?}");
    assert_eq!(requests.value, 1.0, "{requests:?}");
    assert_eq!(
        requests.resource.get("service.name").map(String::as_str),
        Some("articles-metrics")
    );
    let grpc = newest(&points, "grpc_requests_total", &[]).unwrap();
    assert!(
        grpc.attribute("method")
            .is_some_and(|m| m.ends_with("GetArticle")),
        "{grpc:?}"
    );
    let pool = newest(&points, "db_pool_connections", &pool).unwrap();
    assert_eq!(pool.kind, MetricKind::Gauge, "{pool:?}");

    // Durations are histograms in seconds, in the buckets `GET /metrics` has.
    let duration = newest(&points, "http_request_duration_seconds", &created)
        .unwrap_or_else(|| panic!("the request's duration: {points:#?}"));
    assert_eq!(duration.kind, MetricKind::Histogram);
    assert_eq!(duration.unit, "s");
    assert_eq!(duration.bounds, DURATION_BUCKETS);
    assert_eq!(duration.value, 1.0, "one request timed: {duration:?}");

    // `GET /metrics` is still served, from the same recording.
    let text = api
        .client
        .get(api.app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let line = text
        .lines()
        .find(|l| {
            l.starts_with("http_requests_total{")
                && created
                    .iter()
                    .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
        })
        .unwrap_or_else(|| panic!("the request on /metrics: {text}"));
    assert!(line.ends_with(" 1"), "{line}");

    assert!(receiver.spans().is_empty(), "OTEL_TRACES_EXPORTER=none");
    api.app.shutdown().await.expect("graceful shutdown");
}
