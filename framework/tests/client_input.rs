//! What a client sends, beyond the bodies handlers ask for, is bounded before it is copied
//! anywhere: a request id (HTTP header, gRPC metadata, Kafka record header) is kept only when
//! short and plain, metric labels come from bounded sets whatever the method or path, and a
//! compressed request body is decoded (gzip), refused (other codings) or cut at the body
//! limit after decoding. Through the real app on real ports; the Kafka cases on the
//! in-process broker and on the real one of `KAFKA_BROKERS`.

use std::collections::{BTreeSet, HashMap};
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use flate2::Compression;
use flate2::write::GzEncoder;
use framework::axum::Json;
use framework::axum::extract::Path;
use framework::axum::http::StatusCode;
use framework::axum::http::uri::PathAndQuery;
use framework::kafka::{Fetched, Header, Outgoing, Transport, dead_letter_headers};
use framework::telemetry::WorkContext;
use framework::testing::TestApp;
use framework::tonic::codec::CompressionEncoding;
use framework::tonic::{Code, Request, Response, Status};
use framework::{DomainError, Inject, Valid, grpc_service, http_route, kafka_consumer, module};
use framework_test_support::probe::probe_client::ProbeClient;
use framework_test_support::probe::{EchoReply, EchoRequest, SleepRequest, probe_server};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tonic::transport::Channel;
use tracing_subscriber::layer::SubscriberExt;

// ---------------------------------------------------------------------------------------
// The app: a JSON route, a route that refuses, a gRPC service and a Kafka consumer.

#[derive(Debug, Deserialize, Serialize, validator::Validate)]
pub struct Note {
    #[validate(length(min = 1, max = 100))]
    text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    count: Option<u32>,
}

#[derive(Debug, thiserror::Error, DomainError)]
pub enum NoteError {
    #[error("note {0} not found")]
    #[domain(not_found, code = "NOTE_NOT_FOUND")]
    Missing(u32),
}

#[http_route(POST, "/notes")]
async fn create_note(Valid(Json(note)): Valid<Json<Note>>) -> (StatusCode, Json<Note>) {
    (StatusCode::CREATED, Json(note))
}

#[http_route(GET, "/notes/{id}")]
async fn note(Path(id): Path<u32>) -> Result<Json<Note>, NoteError> {
    Err(NoteError::Missing(id))
}

#[module]
pub struct Probe;

#[grpc_service]
impl probe_server::Probe for Probe {
    /// `whoami` answers the call's request id; anything else is echoed.
    async fn echo(&self, request: Request<EchoRequest>) -> Result<Response<EchoReply>, Status> {
        let message = match request.into_inner().message.as_str() {
            "whoami" => WorkContext::current()
                .and_then(|c| c.request_id)
                .unwrap_or_default(),
            other => other.to_owned(),
        };
        Ok(Response::new(EchoReply { message }))
    }

    async fn sleep(&self, _request: Request<SleepRequest>) -> Result<Response<EchoReply>, Status> {
        Err(Status::unimplemented("not in this test"))
    }

    async fn panic(&self, _request: Request<EchoRequest>) -> Result<Response<EchoReply>, Status> {
        Err(Status::unimplemented("not in this test"))
    }
}

/// The request id each consumed record's handler ran with, by record key.
#[module]
pub struct Seen {
    #[state]
    ids: Mutex<HashMap<String, Option<String>>>,
}

#[kafka_consumer(topic = "${NOTES_TOPIC}", group = "${NOTES_GROUP}")]
async fn on_note(
    Json(_note): Json<Note>,
    key: framework::kafka::Key,
    seen: Inject<Seen>,
) -> Result<(), NoteError> {
    let key = String::from_utf8_lossy(&key.0.unwrap_or_default()).into_owned();
    let id = WorkContext::current().and_then(|c| c.request_id);
    seen.ids.lock().unwrap().insert(key, id);
    Ok(())
}

type Backend = framework_test_support::KafkaBackend;

/// One test at a time: the metrics test counts series in the process's one registry.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const BODY_LIMIT: usize = 1024 * 1024;
const GRPC_LIMIT: usize = 64 * 1024;

async fn start(backend: &Backend) -> TestApp {
    capture_logs();
    let (topic, group) = (backend.name("notes"), backend.name("noted"));
    TestApp::start(&[
        ("DATABASE_URL", ""),
        ("REDIS_URL", ""),
        ("HTTP_BASE_PATH", ""),
        ("HTTP_BODY_LIMIT_BYTES", &BODY_LIMIT.to_string()),
        ("GRPC_MAX_MESSAGE_BYTES", &GRPC_LIMIT.to_string()),
        ("KAFKA_BROKERS", backend.brokers.as_str()),
        ("KAFKA_CREATE_TOPICS", "true"),
        ("NOTES_TOPIC", topic.as_str()),
        ("NOTES_GROUP", group.as_str()),
    ])
    .await
    .expect("the app starts")
}

async fn grpc_channel(app: &TestApp) -> Channel {
    Channel::from_shared(app.grpc_url().expect("a gRPC port"))
        .unwrap()
        .connect()
        .await
        .expect("connect")
}

// ---------------------------------------------------------------------------------------
// Logs, captured as the app writes them (text lines), to measure them.

#[derive(Clone, Default)]
struct Lines(Arc<Mutex<Vec<u8>>>);

impl Write for Lines {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

static LOGS: std::sync::OnceLock<Lines> = std::sync::OnceLock::new();

/// Installs a text subscriber writing into [`LOGS`] before any app installs its own.
fn capture_logs() {
    LOGS.get_or_init(|| {
        let lines = Lines::default();
        let writer = lines.clone();
        let subscriber = tracing_subscriber::registry()
            .with(tracing_subscriber::EnvFilter::new("info,tower_http=debug"))
            .with(
                tracing_subscriber::fmt::layer()
                    .with_ansi(false)
                    .with_writer(move || writer.clone()),
            );
        tracing::subscriber::set_global_default(subscriber).expect("no subscriber yet");
        lines
    });
}

/// The captured lines that contain `needle`.
fn log_lines_with(needle: &str) -> Vec<String> {
    let bytes = LOGS.get().expect("captured").0.lock().unwrap().clone();
    String::from_utf8_lossy(&bytes)
        .lines()
        .filter(|line| line.contains(needle))
        .map(str::to_owned)
        .collect()
}

// ---------------------------------------------------------------------------------------
// Fault 4: request ids.

/// The tester's id: 8,019 characters with a tab and spaces.
fn oversized_id() -> String {
    let id = format!("evil\tid {}", "with spaces ".repeat(700));
    id[..8019].to_owned()
}

/// Ids and whether each is kept.
fn ids() -> Vec<(String, bool)> {
    vec![
        (oversized_id(), false),
        ("a".repeat(128), true),
        ("b".repeat(129), false),
        ("client-chosen:42_x.y".to_owned(), true),
        ("has space".to_owned(), false),
        ("quote\"d".to_owned(), false),
    ]
}

fn is_uuid(id: &str) -> bool {
    uuid::Uuid::parse_str(id).is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_keeps_a_valid_request_id_and_replaces_any_other() {
    let _serial = SERIAL.lock().await;
    let app = start(&Backend::memory("http-ids")).await;
    let client = reqwest::Client::new();
    for (sent, kept) in ids() {
        let response = client
            .get(app.url("/notes/7"))
            .header("x-request-id", &sent)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404);
        let echoed = response.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .to_owned();
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["code"], "NOTE_NOT_FOUND");
        assert_eq!(
            body["request_id"],
            echoed.as_str(),
            "the body names the header's id"
        );
        if kept {
            assert_eq!(echoed, sent);
        } else {
            assert!(
                is_uuid(&echoed),
                "{sent:.40?} replaced by a generated id: {echoed}"
            );
        }
        // The "request refused" line of this request carries the id in its span, and
        // nothing else of what was sent.
        let lines = log_lines_with(&echoed);
        assert!(
            lines.iter().any(|l| l.contains("request refused")),
            "{lines:#?}"
        );
        for line in &lines {
            assert!(
                line.len() < 1024,
                "a {}-byte log line: {line:.300}",
                line.len()
            );
        }
        if !kept {
            let fragment = &sent[..sent.len().min(20)];
            assert!(
                log_lines_with(fragment).is_empty(),
                "{fragment:?} was logged"
            );
        }
    }

    // Twice in one request: which one would be the id? Neither.
    let response = client
        .get(app.url("/notes/7"))
        .header("x-request-id", "first-one")
        .header("x-request-id", "second-one")
        .send()
        .await
        .unwrap();
    assert!(is_uuid(
        response.headers()["x-request-id"].to_str().unwrap()
    ));
    app.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_keeps_a_valid_request_id_and_replaces_any_other() {
    let _serial = SERIAL.lock().await;
    let app = start(&Backend::memory("grpc-ids")).await;
    let mut client = ProbeClient::new(grpc_channel(&app).await);
    for (sent, kept) in ids() {
        let mut request = Request::new(EchoRequest {
            message: "whoami".into(),
        });
        request
            .metadata_mut()
            .insert("x-request-id", sent.parse().expect("a metadata value"));
        let reply = client.echo(request).await.expect("the call");
        let echoed = reply
            .metadata()
            .get("x-request-id")
            .expect("the id is echoed")
            .to_str()
            .unwrap()
            .to_owned();
        let seen = reply.into_inner().message;
        assert_eq!(
            seen, echoed,
            "the method ran with the id the response names"
        );
        if kept {
            assert_eq!(echoed, sent);
        } else {
            assert!(
                is_uuid(&echoed),
                "{sent:.40?} replaced by a generated id: {echoed}"
            );
        }
    }
    app.shutdown().await.unwrap();
}

framework_test_support::on_backends!(Backend: memory, broker; [
    a_consumed_record_keeps_only_a_valid_request_id,
    a_dead_letter_quotes_at_most_4_kib_of_the_record,
]);

async fn a_consumed_record_keeps_only_a_valid_request_id(backend: Backend) {
    let _serial = SERIAL.lock().await;
    let app = start(&backend).await;
    let transport = app.running().component::<dyn Transport>().unwrap();
    let seen = app.running().component::<Seen>().unwrap();
    let ids = ids();
    for (index, (sent, _)) in ids.iter().enumerate() {
        let record = Outgoing {
            topic: backend.name("notes"),
            key: Some(index.to_string().into_bytes()),
            payload: Some(br#"{"text": "noted"}"#.to_vec()),
            headers: vec![Header::new("x-request-id", sent.clone())],
        };
        transport.send(record).await.expect("sent");
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while seen.ids.lock().unwrap().len() < ids.len() {
        assert!(Instant::now() < deadline, "the records were not consumed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let seen = seen.ids.lock().unwrap().clone();
    for (index, (sent, kept)) in ids.iter().enumerate() {
        let expected = kept.then(|| sent.clone());
        assert_eq!(seen[&index.to_string()], expected, "{sent:.40?}");
    }
    app.shutdown().await.unwrap();
}

/// The JSON error of a record quotes the value it refused: 600 KB here. Quoted whole in
/// `x-error-message`, the dead letter (payload and header, 1.2 MB) was over the broker's
/// message size limit (about 1 MB by default; tansu answered `MessageSizeTooLarge`), so its
/// write was retried forever and the partition held: no dead letter came within 30 s.
async fn a_dead_letter_quotes_at_most_4_kib_of_the_record(backend: Backend) {
    let _serial = SERIAL.lock().await;
    let app = start(&backend).await;
    let transport = app.running().component::<dyn Transport>().unwrap();
    let topic = backend.name("notes");
    let payload = format!(r#"{{"text": "x", "count": "{}"}}"#, "9".repeat(600_000));
    let record = Outgoing {
        topic: topic.clone(),
        key: Some(b"poison".to_vec()),
        payload: Some(payload.clone().into_bytes()),
        headers: Vec::new(),
    };
    transport.send(record).await.expect("sent");

    let group = format!("reader-{}", uuid::Uuid::new_v4().simple());
    let mut dead_letters = transport
        .subscribe(&group, &[format!("{topic}.dlq")])
        .expect("subscribe to the dead letters");
    let dead = loop {
        let next = tokio::time::timeout(Duration::from_secs(30), dead_letters.next(1));
        match next.await.expect("a dead letter in time") {
            Some(Fetched::Records(mut batch)) if !batch.is_empty() => break batch.remove(0),
            Some(_) => {}
            None => panic!("the subscription closed"),
        }
    };
    assert_eq!(
        dead.payload.as_deref(),
        Some(payload.as_bytes()),
        "kept whole"
    );
    let message = dead
        .header(dead_letter_headers::ERROR_MESSAGE)
        .expect("the error message");
    let message = std::str::from_utf8(message).unwrap();
    assert!(message.len() <= 4096, "{} bytes", message.len());
    assert!(message.contains("not the expected JSON"), "{message:.200}");
    assert!(
        message.ends_with(" bytes)"),
        "marked as cut: {}",
        &message[4000..]
    );
    app.shutdown().await.unwrap();
}

/// A path, a gRPC method and a body value are quoted in responses and logs, but bounded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_client_text_is_cut_where_it_is_quoted() {
    let _serial = SERIAL.lock().await;
    let app = start(&Backend::memory("long-text")).await;
    let client = reqwest::Client::new();

    // An 8 KB path that matches no route: the detail and the log lines quote 200 bytes.
    let path = format!("/{}", "p".repeat(8_000));
    let response = client.get(app.url(&path)).send().await.unwrap();
    let id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let body = problem(response, 404, "ROUTE_NOT_FOUND").await;
    let detail = body["detail"].as_str().unwrap();
    assert!(detail.len() < 300, "{detail}");
    assert!(detail.contains("(8001 bytes)"), "{detail}");
    let lines = log_lines_with(&id);
    assert!(!lines.is_empty(), "the request's response is logged");
    for line in &lines {
        assert!(
            line.len() < 1024,
            "a {}-byte log line: {line:.300}",
            line.len()
        );
    }

    // A serde message quoting a 100 KB value: the detail keeps 1 KiB of it.
    let note = json!({ "text": "x", "count": "9".repeat(100_000) });
    let response = post_note(&app, None, note.to_string().into_bytes()).await;
    let body = problem(response, 400, "INVALID_BODY").await;
    let detail = body["detail"].as_str().unwrap();
    assert!(detail.len() <= 1024, "{} bytes", detail.len());
    assert!(detail.contains("invalid type: string"), "{detail:.200}");

    // An 8 KB gRPC method: its span's lines quote 200 bytes of it.
    let method = format!("/probe.v1.Probe/{}", "M".repeat(8_000));
    let status = call_unknown(grpc_channel(&app).await, method).await;
    let id = status
        .metadata()
        .get("x-request-id")
        .expect("the id is echoed")
        .to_str()
        .unwrap()
        .to_owned();
    let lines = log_lines_with(&id);
    assert!(!lines.is_empty(), "the call is logged");
    for line in &lines {
        assert!(
            line.len() < 1024,
            "a {}-byte log line: {line:.300}",
            line.len()
        );
        assert!(line.contains("MMMM"), "the method is quoted: {line:.300}");
    }
    app.shutdown().await.unwrap();
}

// ---------------------------------------------------------------------------------------
// Fault 5: metric labels.

type Exposition = openmetrics_parser::MetricsExposition<
    openmetrics_parser::PrometheusType,
    openmetrics_parser::PrometheusValue,
>;

async fn scrape(app: &TestApp) -> Exposition {
    let text = reqwest::get(app.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    openmetrics_parser::prometheus::parse_prometheus(&text)
        .unwrap_or_else(|e| panic!("not Prometheus text: {e:?}\n{text}"))
}

/// Every series of the request families, as `family{label=value,...}`.
fn series(scrape: &Exposition) -> BTreeSet<String> {
    let families = [
        "http_requests_total",
        "http_request_duration_seconds",
        "grpc_requests_total",
        "grpc_request_duration_seconds",
    ];
    let mut all = BTreeSet::new();
    for name in families {
        for sample in scrape
            .families
            .get(name)
            .into_iter()
            .flat_map(|f| f.iter_samples())
        {
            let labels = sample.get_labelset().expect("bound to its family");
            let mut pairs: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
            pairs.sort();
            all.insert(format!("{name}{{{}}}", pairs.join(",")));
        }
    }
    all
}

fn counter(scrape: &Exposition, name: &str, labels: &[(&str, &str)]) -> f64 {
    scrape
        .families
        .get(name)
        .into_iter()
        .flat_map(|family| family.iter_samples())
        .filter(|sample| {
            let set = sample.get_labelset().unwrap();
            labels
                .iter()
                .all(|(k, v)| set.get_label_value(k) == Some(*v))
        })
        .map(|sample| match &sample.value {
            openmetrics_parser::PrometheusValue::Counter(c) => c.value.as_f64(),
            other => panic!("{name} is not a counter: {other:?}"),
        })
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn made_up_methods_and_paths_add_no_series() {
    let _serial = SERIAL.lock().await;
    let app = start(&Backend::memory("labels")).await;
    let client = reqwest::Client::new();
    let channel = grpc_channel(&app).await;
    // Once each, so that what is measured below only adds what the junk adds.
    client.get(app.url("/nowhere")).send().await.unwrap();
    scrape(&app).await;
    let before = scrape(&app).await;

    for i in 1..=25 {
        let method = reqwest::Method::from_bytes(format!("ZZMETHOD{i}").as_bytes()).unwrap();
        let response = client
            .request(method, app.url("/health/live"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 405);
        let path = format!("/made-up/{}", uuid::Uuid::new_v4());
        let response = client.get(app.url(&path)).send().await.unwrap();
        assert_eq!(response.status(), 404);
    }
    for i in 1..=25 {
        // An unknown service, and an unknown method of a known one.
        let path = if i % 2 == 0 {
            format!("/made.up.Service{i}/Call")
        } else {
            format!("/probe.v1.Probe/MadeUp{i}")
        };
        call_unknown(channel.clone(), path).await;
    }

    let after = scrape(&app).await;
    let added: BTreeSet<String> = series(&after)
        .difference(&series(&before))
        .cloned()
        .collect();
    let allowed: BTreeSet<String> = [
        "http_requests_total{method=_OTHER,route=/health/live,status=405}",
        "http_request_duration_seconds{method=_OTHER,route=/health/live,status=405}",
        "grpc_requests_total{code=Unimplemented,method=_OTHER}",
        "grpc_request_duration_seconds{code=Unimplemented,method=_OTHER}",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    assert!(
        added.is_subset(&allowed),
        "75 made-up requests added {:#?}",
        added.difference(&allowed).collect::<Vec<_>>()
    );
    let other = [
        ("method", "_OTHER"),
        ("route", "/health/live"),
        ("status", "405"),
    ];
    assert_eq!(counter(&after, "http_requests_total", &other), 25.0);
    let unmatched = [("method", "GET"), ("route", "unmatched"), ("status", "404")];
    assert_eq!(
        counter(&after, "http_requests_total", &unmatched)
            - counter(&before, "http_requests_total", &unmatched),
        25.0
    );
    let unknown = [("method", "_OTHER"), ("code", "Unimplemented")];
    assert_eq!(
        counter(&after, "grpc_requests_total", &unknown)
            - counter(&before, "grpc_requests_total", &unknown),
        25.0
    );
    app.shutdown().await.unwrap();
}

// ---------------------------------------------------------------------------------------
// Fault 7: compressed request bodies.

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

async fn post_note(app: &TestApp, encoding: Option<&str>, body: Vec<u8>) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .post(app.url("/notes"))
        .header("content-type", "application/json");
    if let Some(encoding) = encoding {
        request = request.header("content-encoding", encoding);
    }
    request.body(body).send().await.unwrap()
}

/// A problem+json answer with `status` and `code`.
async fn problem(response: reqwest::Response, status: u16, code: &str) -> Value {
    assert_eq!(response.status().as_u16(), status);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["request_id"], id.as_str());
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gzip_bodies_are_decoded_within_the_limit_and_other_codings_refused() {
    let _serial = SERIAL.lock().await;
    let app = start(&Backend::memory("gzip")).await;
    let note = json!({ "text": "compressed" });

    // Codings are case-insensitive, and x-gzip is gzip (RFC 9110 sections 8.4.1, 8.4.1.3).
    for coding in ["gzip", "GZIP", "x-gzip", " Gzip "] {
        let response = post_note(&app, Some(coding), gzip(note.to_string().as_bytes())).await;
        assert_eq!(response.status(), 201, "{coding}");
        assert_eq!(response.json::<Value>().await.unwrap(), note);
    }

    for coding in ["zstd", "compress", "br", "deflate", "gzip, gzip"] {
        let response = post_note(&app, Some(coding), note.to_string().into_bytes()).await;
        assert_eq!(response.headers()["accept-encoding"], "gzip", "{coding}");
        problem(response, 415, "UNSUPPORTED_CONTENT_ENCODING").await;
    }

    // 10 MB of zeros is about 10 KB gzipped: refused once 1 MiB is decoded.
    let bomb = gzip(&vec![0u8; 10_000_000]);
    assert!(bomb.len() < 20_000, "{} bytes", bomb.len());
    problem(
        post_note(&app, Some("gzip"), bomb).await,
        413,
        "PAYLOAD_TOO_LARGE",
    )
    .await;

    // Not gzip at all, and gzip cut short.
    let whole = gzip(note.to_string().as_bytes());
    for corrupt in [
        b"not gzip at all".to_vec(),
        whole[..whole.len() / 2].to_vec(),
    ] {
        let response = post_note(&app, Some("gzip"), corrupt).await;
        let body = problem(response, 400, "MALFORMED_CONTENT_ENCODING").await;
        let detail = body["detail"].as_str().unwrap();
        assert!(detail.contains("does not decode as gzip"), "{detail}");
    }

    // Without a coding, as before.
    let response = post_note(&app, None, note.to_string().into_bytes()).await;
    assert_eq!(response.status(), 201);
    app.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_accepts_gzip_and_limits_the_decompressed_message() {
    let _serial = SERIAL.lock().await;
    let app = start(&Backend::memory("grpc-gzip")).await;
    let mut client = ProbeClient::new(grpc_channel(&app).await)
        .send_compressed(CompressionEncoding::Gzip)
        .accept_compressed(CompressionEncoding::Gzip);
    let reply = client
        .echo(EchoRequest {
            message: "compressed hello".into(),
        })
        .await
        .expect("a gzip call");
    assert_eq!(
        reply
            .metadata()
            .get("grpc-encoding")
            .map(|v| v.to_str().unwrap()),
        Some("gzip"),
        "answered in gzip too"
    );
    assert_eq!(reply.into_inner().message, "compressed hello");

    // About 1 KB on the wire, 1 MB once inflated: past GRPC_MAX_MESSAGE_BYTES (64 KiB).
    let status = client
        .echo(EchoRequest {
            message: "a".repeat(1_000_000),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");

    // A coding the server does not take: UNIMPLEMENTED, naming the one it does.
    let mut plain = ProbeClient::new(grpc_channel(&app).await);
    let mut request = Request::new(EchoRequest {
        message: "zstd?".into(),
    });
    request
        .metadata_mut()
        .insert("grpc-encoding", "zstd".parse().unwrap());
    let status = plain.echo(request).await.unwrap_err();
    assert_eq!(status.code(), Code::Unimplemented, "{status:?}");
    assert_eq!(
        status
            .metadata()
            .get("grpc-accept-encoding")
            .map(|v| v.to_str().unwrap()),
        Some("gzip,identity")
    );
    app.shutdown().await.unwrap();
}

/// Calls the gRPC method at `path`, which the server does not have: its `UNIMPLEMENTED`.
async fn call_unknown(channel: Channel, path: String) -> tonic::Status {
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.unwrap();
    let status = grpc
        .unary(
            Request::new(EchoRequest::default()),
            PathAndQuery::try_from(path).unwrap(),
            tonic_prost::ProstCodec::<EchoRequest, EchoReply>::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unimplemented);
    status
}
