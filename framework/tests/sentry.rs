//! Sentry reporting through the SDK's real HTTP transport, to a capture endpoint on 127.0.0.1
//! that reads the envelopes it posts: a 500 and a panic become events with the error chain
//! and their tags, as do a failed and a panicking gRPC call, a dead-lettered message and a
//! failed job run; a 404, a validation
//! error and an unknown route do not; release and environment come from config, and what is
//! queued is sent at shutdown.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use framework::Valid;
use framework::axum::Json;
use framework::axum::body::Bytes;
use framework::axum::extract::State;
use framework::axum::routing::post;
use framework::kafka::{Header, Outgoing, Transport};
use framework::testing::TestApp;
use framework::tonic::{Code, Request, Response, Status};
use framework::{DomainError, cron_job, grpc_service, http_route, kafka_consumer, module};
use framework_test_support::probe::probe_client::ProbeClient;
use framework_test_support::probe::{EchoReply, EchoRequest, SleepRequest, probe_server};
use sentry::protocol::Event;
use serde::Deserialize;

#[derive(Debug, thiserror::Error, DomainError)]
pub enum OrderError {
    #[error("the order store is down")]
    #[domain(internal, code = "ORDER_STORE_DOWN")]
    StoreDown(#[source] std::io::Error),
    #[error("no such order")]
    #[domain(not_found, code = "ORDER_UNKNOWN")]
    Unknown,
    #[error("the order is refused")]
    #[domain(domain, code = "ORDER_REFUSED")]
    Refused,
}

#[http_route(GET, "/orders/broken")]
async fn broken() -> Result<Json<u32>, OrderError> {
    let cause = std::io::Error::other("connection to db-primary:5432 reset");
    Err(OrderError::StoreDown(cause))
}

#[http_route(GET, "/orders/panicking")]
async fn panicking() -> Result<Json<u32>, OrderError> {
    panic!("the order ledger is inconsistent")
}

#[http_route(GET, "/orders/missing")]
async fn missing() -> Result<Json<u32>, OrderError> {
    Err(OrderError::Unknown)
}

#[derive(Debug, Deserialize, validator::Validate)]
pub struct NewOrder {
    #[validate(range(min = 1))]
    quantity: u32,
}

#[http_route(POST, "/orders")]
async fn place(Valid(Json(order)): Valid<Json<NewOrder>>) -> Result<Json<u32>, OrderError> {
    Ok(Json(order.quantity))
}

#[kafka_consumer(topic = "orders", group = "billing", retries = 0)]
async fn bill(Json(_order): Json<serde_json::Value>) -> Result<(), OrderError> {
    Err(OrderError::Refused)
}

#[cron_job(schedule = "* * * * * *")]
async fn reconcile() -> Result<(), OrderError> {
    Err(OrderError::StoreDown(std::io::Error::other(
        "ledger unreachable",
    )))
}

#[module]
pub struct Probe;

#[grpc_service]
impl probe_server::Probe for Probe {
    async fn echo(&self, _request: Request<EchoRequest>) -> Result<Response<EchoReply>, Status> {
        let cause = std::io::Error::other("ledger offline");
        Err(OrderError::StoreDown(cause).into())
    }

    async fn sleep(&self, _request: Request<SleepRequest>) -> Result<Response<EchoReply>, Status> {
        Err(Status::unimplemented("not in this test"))
    }

    async fn panic(&self, _request: Request<EchoRequest>) -> Result<Response<EchoReply>, Status> {
        panic!("the probe broke")
    }
}

/// What the capture endpoint received.
type Received = Arc<Mutex<Vec<Event<'static>>>>;

/// A Sentry ingestion endpoint on 127.0.0.1: keeps the events of the envelopes posted to it.
async fn capture_endpoint() -> (String, Received) {
    async fn envelope(State(received): State<Received>, body: Bytes) {
        let envelope = sentry::Envelope::from_slice(&body).expect("a Sentry envelope");
        if let Some(event) = envelope.event() {
            received.lock().unwrap().push(event.clone());
        }
    }
    let received = Received::default();
    let app = framework::axum::Router::new()
        .route("/api/{project}/envelope/", post(envelope))
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { framework::axum::serve(listener, app).await });
    (format!("http://public-key@{addr}/42"), received)
}

/// One Sentry client per process: the tests take turns.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn start(dsn: &str) -> TestApp {
    TestApp::start(&[
        ("DATABASE_URL", ""),
        ("HTTP_BASE_PATH", ""),
        ("KAFKA_BROKERS", "memory://sentry"),
        ("APP_NAME", "orders"),
        ("SENTRY_DSN", dsn),
        ("SENTRY_ENVIRONMENT", "staging"),
        ("SENTRY_RELEASE", "orders@1.4.2"),
    ])
    .await
    .expect("the app starts")
}

/// The events whose tag `key` is `value`.
fn tagged(received: &Received, key: &str, value: &str) -> Vec<Event<'static>> {
    received
        .lock()
        .unwrap()
        .iter()
        .filter(|e| e.tags.get(key).map(String::as_str) == Some(value))
        .cloned()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_500_and_a_panic_are_reported_and_4xx_are_not() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let (dsn, received) = capture_endpoint().await;
    let app = start(&dsn).await;
    let client = reqwest::Client::new();
    let get = |path: &str| client.get(app.url(path)).send();

    let broken = get("/orders/broken").await.unwrap();
    assert_eq!(broken.status(), 500);
    let broken_id = broken.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let body = broken.text().await.unwrap();
    assert!(!body.contains("db-primary"), "{body}");

    let panicked = get("/orders/panicking").await.unwrap();
    assert_eq!(panicked.status(), 500);
    let panic_id = panicked.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();

    assert_eq!(get("/orders/missing").await.unwrap().status(), 404);
    assert_eq!(get("/no/such/route").await.unwrap().status(), 404);
    let invalid = client
        .post(app.url("/orders"))
        .json(&serde_json::json!({"quantity": 0}))
        .send()
        .await
        .unwrap();
    assert_eq!(invalid.status(), 400);
    // Shutdown sends what is still queued.
    app.shutdown().await.unwrap();

    let events = tagged(&received, "request_id", &broken_id);
    assert_eq!(
        events.len(),
        1,
        "one event for the 500: {:#?}",
        received.lock().unwrap()
    );
    let event = &events[0];
    let tags = &event.tags;
    assert_eq!(tags["service"], "orders");
    assert_eq!(tags["module"], "sentry");
    assert_eq!(tags["route"], "/orders/broken");
    assert_eq!(tags["method"], "GET");
    assert_eq!(tags["error_code"], "ORDER_STORE_DOWN");
    assert_eq!(tags["trace_id"].len(), 32);
    assert_eq!(event.environment.as_deref(), Some("staging"));
    assert_eq!(event.release.as_deref(), Some("orders@1.4.2"));
    // The whole chain, the source included.
    let chain: Vec<_> = event
        .exception
        .values
        .iter()
        .filter_map(|e| e.value.as_deref())
        .collect();
    assert!(
        chain.contains(&"the order store is down")
            && chain.contains(&"connection to db-primary:5432 reset"),
        "{chain:?}"
    );

    let events = tagged(&received, "request_id", &panic_id);
    assert_eq!(events.len(), 1, "one event for the panic: {events:#?}");
    let panic = &events[0];
    assert_eq!(tags_of(panic, "route"), Some("/orders/panicking"));
    assert_eq!(tags_of(panic, "service"), Some("orders"));
    let exception = &panic.exception.values[0];
    assert_eq!(
        exception.value.as_deref(),
        Some("the order ledger is inconsistent")
    );
    assert_eq!(
        exception.mechanism.as_ref().map(|m| m.ty.as_str()),
        Some("panic")
    );

    // Nothing for the 404s and the 400.
    for route in ["/orders/missing", "/orders"] {
        assert!(tagged(&received, "route", route).is_empty(), "{route}");
    }
    let all = received.lock().unwrap().clone();
    let from_requests: Vec<_> = all
        .iter()
        .filter(|e| e.tags.contains_key("route"))
        .collect();
    assert_eq!(
        from_requests.len(),
        2,
        "only the 500 and the panic: {from_requests:#?}"
    );
}

fn tags_of<'a>(event: &'a Event<'static>, key: &str) -> Option<&'a str> {
    event.tags.get(key).map(String::as_str)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_letter_and_a_failed_job_run_are_reported() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let (dsn, received) = capture_endpoint().await;
    let app = start(&dsn).await;
    let transport = app
        .running()
        .component::<dyn Transport>()
        .expect("the transport");
    transport
        .send(Outgoing {
            topic: "orders".into(),
            key: Some(b"order-7".to_vec()),
            payload: Some(br#"{"id": 7}"#.to_vec()),
            headers: vec![Header::new(
                "traceparent",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            )],
        })
        .await
        .unwrap();
    // The job fails every second; the dead letter comes at once.
    let deadline = Instant::now() + Duration::from_secs(10);
    while tagged(&received, "topic", "orders").is_empty()
        || tagged(&received, "module", "sentry")
            .iter()
            .all(|e| tags_of(e, "job").is_none())
    {
        assert!(
            Instant::now() < deadline,
            "no dead-letter and job events: {:#?}",
            received.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    app.shutdown().await.unwrap();

    let dead = &tagged(&received, "topic", "orders")[0];
    assert_eq!(tags_of(dead, "group"), Some("billing"));
    assert_eq!(tags_of(dead, "module"), Some("sentry"));
    assert_eq!(tags_of(dead, "error_code"), Some("ORDER_REFUSED"));
    assert_eq!(
        tags_of(dead, "trace_id"),
        Some("4bf92f3577b34da6a3ce929d0e0e4736"),
        "the record's trace"
    );
    assert_eq!(tags_of(dead, "service"), Some("orders"));
    let message = dead.message.as_deref().unwrap_or_default();
    assert!(message.contains("dead-lettered to orders.dlq"), "{message}");

    let job = tagged(&received, "job", "sentry::reconcile");
    assert!(!job.is_empty());
    assert_eq!(tags_of(&job[0], "error_code"), Some("ORDER_STORE_DOWN"));
    let message = job[0].message.as_deref().unwrap_or_default();
    assert!(message.contains("ledger unreachable"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_and_a_panicking_grpc_call_are_reported() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let (dsn, received) = capture_endpoint().await;
    let app = start(&dsn).await;
    let mut client = ProbeClient::connect(app.grpc_url().expect("a gRPC port"))
        .await
        .expect("connect");
    let echo = || EchoRequest {
        message: "order 7".into(),
    };
    let failed = client.echo(echo()).await.unwrap_err();
    assert_eq!(failed.code(), Code::Internal);
    assert!(!failed.message().contains("ledger"), "{failed:?}");
    assert_eq!(
        client.panic(echo()).await.unwrap_err().code(),
        Code::Internal
    );
    app.shutdown().await.unwrap();

    let failed = tagged(&received, "method", "/probe.v1.Probe/Echo");
    assert_eq!(failed.len(), 1, "{:#?}", received.lock().unwrap());
    assert_eq!(tags_of(&failed[0], "module"), Some("sentry"));
    assert_eq!(tags_of(&failed[0], "service"), Some("orders"));
    assert_eq!(tags_of(&failed[0], "error_code"), Some("ORDER_STORE_DOWN"));
    assert_eq!(tags_of(&failed[0], "trace_id").map(str::len), Some(32));
    let chain: Vec<_> = failed[0]
        .exception
        .values
        .iter()
        .filter_map(|e| e.value.as_deref())
        .collect();
    assert!(chain.contains(&"ledger offline"), "{chain:?}");

    let panicked = tagged(&received, "method", "/probe.v1.Probe/Panic");
    assert_eq!(panicked.len(), 1, "{:#?}", received.lock().unwrap());
    let exception = &panicked[0].exception.values[0];
    assert_eq!(exception.value.as_deref(), Some("the probe broke"));
    assert_eq!(
        exception.mechanism.as_ref().map(|m| m.ty.as_str()),
        Some("panic")
    );
}
