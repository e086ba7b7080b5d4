//! `GET /metrics`: the counters move as requests, consumed messages and job runs happen, the
//! database pool is gauged, and the output parses as Prometheus text.

use std::time::{Duration, Instant};

use framework::axum::Json;
use framework::axum::extract::Path;
use framework::kafka::{Outgoing, Transport};
use framework::testing::TestApp;
use framework::{DomainError, cron_job, http_route, kafka_consumer, module};

/// Something that uses the database, so that the app has a pool to gauge.
#[module]
pub struct Store {
    _pool: framework::db::SqlitePool,
}

#[derive(Debug, thiserror::Error, DomainError)]
pub enum MeteredError {
    #[error("no such thing")]
    #[domain(not_found, code = "METERED_UNKNOWN")]
    Unknown,
    #[error("the handler gave up")]
    #[domain(validation, code = "METERED_REJECTED")]
    Rejected,
}

#[http_route(GET, "/metered/{id}")]
async fn metered(Path(id): Path<u32>) -> Result<Json<u32>, MeteredError> {
    match id {
        0 => Err(MeteredError::Unknown),
        id => Ok(Json(id)),
    }
}

#[kafka_consumer(topic = "metered", group = "metered")]
async fn on_metered(
    framework::kafka::Payload(body): framework::kafka::Payload,
) -> Result<(), MeteredError> {
    match body.as_slice() {
        b"bad" => Err(MeteredError::Rejected),
        _ => Ok(()),
    }
}

#[cron_job(schedule = "* * * * * *")]
async fn metered_job() -> Result<(), MeteredError> {
    Ok(())
}

type Exposition = openmetrics_parser::MetricsExposition<
    openmetrics_parser::PrometheusType,
    openmetrics_parser::PrometheusValue,
>;

/// `/metrics`, parsed by a strict parser of the Prometheus text format.
async fn scrape(app: &TestApp) -> Exposition {
    let response = reqwest::get(app.url("/metrics")).await.unwrap();
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    let text = response.text().await.unwrap();
    openmetrics_parser::prometheus::parse_prometheus(&text)
        .unwrap_or_else(|e| panic!("not Prometheus text: {e:?}\n{text}"))
}

/// The samples of family `name` with `labels`, as (value, histogram count).
fn samples<'a>(
    scrape: &'a Exposition,
    name: &str,
    labels: &'a [(&str, &str)],
) -> impl Iterator<Item = &'a openmetrics_parser::PrometheusValue> + 'a {
    scrape
        .families
        .get(name)
        .into_iter()
        .flat_map(|family| family.iter_samples())
        .filter(move |sample| {
            let set = sample.get_labelset().expect("bound to its family");
            labels
                .iter()
                .all(|(k, v)| set.get_label_value(k) == Some(*v))
        })
        .map(|sample| &sample.value)
}

/// The counter `name` with `labels`, summed; 0 when absent.
fn counter(scrape: &Exposition, name: &str, labels: &[(&str, &str)]) -> f64 {
    samples(scrape, name, labels)
        .map(|value| match value {
            openmetrics_parser::PrometheusValue::Counter(c) => c.value.as_f64(),
            other => panic!("{name} is not a counter: {other:?}"),
        })
        .sum()
}

/// How many observations the histogram `name` with `labels` holds.
fn observations(scrape: &Exposition, name: &str, labels: &[(&str, &str)]) -> u64 {
    samples(scrape, name, labels)
        .map(|value| match value {
            openmetrics_parser::PrometheusValue::Histogram(h) => h.count.unwrap_or(0),
            other => panic!("{name} is not a histogram: {other:?}"),
        })
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counters_move_with_requests_messages_and_job_runs() {
    let app = TestApp::start(&[
        ("DATABASE_URL", "sqlite::memory:"),
        ("HTTP_BASE_PATH", ""),
        ("REDIS_URL", ""),
        ("KAFKA_BROKERS", "memory://metrics"),
        ("KAFKA_CREATE_TOPICS", "true"),
    ])
    .await
    .expect("the app starts");
    for path in ["/metered/1", "/metered/2", "/metered/0", "/nowhere/at/all"] {
        reqwest::get(app.url(path)).await.unwrap();
    }
    let transport = app.running().component::<dyn Transport>().unwrap();
    for body in [&b"good"[..], b"good", b"bad"] {
        let record = Outgoing {
            topic: "metered".into(),
            key: None,
            payload: Some(body.to_vec()),
            headers: Vec::new(),
        };
        transport.send(record).await.unwrap();
    }

    // Until the messages are handled and the job ran twice.
    let deadline = Instant::now() + Duration::from_secs(10);
    let scrape = loop {
        let scrape = scrape(&app).await;
        let handled = counter(
            &scrape,
            "kafka_messages_total",
            &[("topic", "metered"), ("outcome", "handled")],
        );
        let dead = counter(
            &scrape,
            "kafka_messages_total",
            &[("topic", "metered"), ("outcome", "dead_lettered")],
        );
        let runs = counter(
            &scrape,
            "job_runs_total",
            &[("job", "metrics::metered_job"), ("outcome", "succeeded")],
        );
        if handled == 2.0 && dead == 1.0 && runs >= 2.0 {
            break scrape;
        }
        assert!(
            Instant::now() < deadline,
            "handled {handled}, dead-lettered {dead}, runs {runs}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let requests = |route: &str, status: &str| {
        counter(
            &scrape,
            "http_requests_total",
            &[("method", "GET"), ("route", route), ("status", status)],
        )
    };
    assert_eq!(requests("/metered/{id}", "200"), 2.0);
    assert_eq!(requests("/metered/{id}", "404"), 1.0);
    assert_eq!(requests("unmatched", "404"), 1.0, "no label per raw path");
    let route = [("route", "/metered/{id}")];
    assert_eq!(
        observations(&scrape, "http_request_duration_seconds", &route),
        3
    );
    let job = [("job", "metrics::metered_job")];
    assert!(observations(&scrape, "job_run_duration_seconds", &job) >= 2);
    // Every delivery times its units by outcome, on the counter's labels.
    let succeeded = [("job", "metrics::metered_job"), ("outcome", "succeeded")];
    assert!(observations(&scrape, "job_run_duration_seconds", &succeeded) >= 2);
    let timed = |outcome: &str| {
        let labels = [("topic", "metered"), ("outcome", outcome)];
        observations(&scrape, "kafka_message_duration_seconds", &labels)
    };
    assert_eq!((timed("handled"), timed("dead_lettered")), (2, 1));
    let gauged = samples(&scrape, "db_pool_connections", &[("state", "idle")]).count();
    assert_eq!(gauged, 1, "the pool's idle connections are a gauge");
    app.shutdown().await.unwrap();
}
