//! Consumer semantics, the same scenarios on the in-process broker (`memory://<name>`) and on
//! the real Kafka-protocol broker named by `KAFKA_BROKERS` (scripts/test starts tansu):
//! produce -> consume, poison messages dead-lettered with their headers while later ones go
//! on, retries of retryable failures, order within a partition, and resuming from the
//! committed offset after a restart. Each test uses its own topic and group.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use framework::axum::Json;
use framework::kafka::{
    Headers, Key, Message, Metadata, Outgoing, Producer, Proto, Transport, dead_letter_headers as h,
};
use framework::testing::TestApp;
use framework::{DomainError, Inject, kafka_consumer, module};
use framework_test_support::probe::EchoRequest;
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize)]
pub struct Order {
    id: u32,
    /// `"retryable"`, `"permanent"`, or absent.
    #[serde(default)]
    fail: Option<String>,
}

/// (message, key, `x-request-id` header, the handler's current request id).
type Echo = (String, Option<Vec<u8>>, Option<String>, Option<String>);

/// What the consumers saw, in order: (order id, partition), attempts, echoes.
#[module]
pub struct Ledger {
    #[state]
    seen: Mutex<Vec<(u32, i32)>>,
    #[state]
    attempts: Mutex<Vec<u32>>,
    #[state]
    echoes: Mutex<Vec<Echo>>,
}

impl Ledger {
    fn seen(&self) -> Vec<(u32, i32)> {
        self.seen.lock().unwrap().clone()
    }
    fn attempts_of(&self, id: u32) -> usize {
        self.attempts
            .lock()
            .unwrap()
            .iter()
            .filter(|&&a| a == id)
            .count()
    }
}

/// Publishes through the injected producer, as a service would.
#[module]
pub struct Shop {
    producer: Producer,
}

#[derive(Debug, thiserror::Error, DomainError)]
pub enum OrderError {
    #[error("the ledger is temporarily unavailable")]
    #[domain(internal, code = "LEDGER_UNAVAILABLE")]
    Unavailable,
    #[error("order {0} does not exist")]
    #[domain(not_found, code = "ORDER_UNKNOWN")]
    Unknown(u32),
}

#[kafka_consumer(
    topic = "${ORDERS_TOPIC}",
    group = "ledger",
    retries = 2,
    backoff_ms = 10,
    concurrency = 3
)]
async fn record_order(
    Json(order): Json<Order>,
    meta: Metadata,
    ledger: Inject<Ledger>,
) -> Result<(), OrderError> {
    ledger.attempts.lock().unwrap().push(order.id);
    match order.fail.as_deref() {
        Some("retryable") => return Err(OrderError::Unavailable),
        Some("permanent") => return Err(OrderError::Unknown(order.id)),
        _ => {}
    }
    ledger.seen.lock().unwrap().push((order.id, meta.partition));
    Ok(())
}

/// Where the scenario runs.
#[derive(Clone)]
struct Backend {
    brokers: String,
    /// Unique per test: topic and group names derive from it.
    run: String,
}

impl Backend {
    fn memory(name: &str) -> Backend {
        Backend {
            brokers: format!("memory://{name}"),
            run: name.to_owned(),
        }
    }

    /// The broker of `KAFKA_BROKERS`, with names no earlier run used.
    fn broker(name: &str) -> Backend {
        let brokers = std::env::var("KAFKA_BROKERS").unwrap_or_default();
        assert!(
            !brokers.is_empty() && !brokers.starts_with("memory"),
            "the broker tests need KAFKA_BROKERS=host:port of a running Kafka-protocol broker \
             (scripts/test starts tansu); got {brokers:?}"
        );
        Backend {
            brokers,
            run: format!("{name}-{}", uuid::Uuid::new_v4().simple()),
        }
    }

    fn topic(&self) -> String {
        format!("orders-{}", self.run)
    }

    async fn start(&self) -> Setup {
        let (topic, group) = (self.topic(), format!("ledger-{}", self.run));
        let echo_topic = format!("echo-{}", self.run);
        let app = TestApp::start(&[
            ("DATABASE_URL", ""),
            ("KAFKA_BROKERS", self.brokers.as_str()),
            ("KAFKA_CREATE_TOPICS", "true"),
            ("ORDERS_TOPIC", topic.as_str()),
            ("ORDERS_GROUP", group.as_str()),
            ("ECHO_TOPIC", echo_topic.as_str()),
        ])
        .await
        .expect("the app starts");
        let transport = app
            .running()
            .component::<dyn Transport>()
            .expect("the transport");
        Setup {
            app,
            transport,
            topic,
        }
    }
}

#[kafka_consumer(topic = "${ECHO_TOPIC}", group = "${ORDERS_GROUP}")]
async fn record_echo(
    Proto(echo): Proto<EchoRequest>,
    key: Key,
    headers: Headers,
    ledger: Inject<Ledger>,
) -> Result<(), OrderError> {
    let header = headers
        .0
        .iter()
        .find(|(name, _)| name == "x-request-id")
        .map(|(_, value)| String::from_utf8_lossy(value).into_owned());
    let current = framework::telemetry::request_id::current();
    ledger
        .echoes
        .lock()
        .unwrap()
        .push((echo.message, key.0, header, current));
    Ok(())
}

struct Setup {
    app: TestApp,
    transport: Arc<dyn Transport>,
    topic: String,
}

impl Setup {
    fn ledger(&self) -> Arc<Ledger> {
        self.app
            .running()
            .component::<Ledger>()
            .expect("the ledger")
    }

    fn ids(&self) -> Vec<u32> {
        self.ledger().seen().iter().map(|(id, _)| *id).collect()
    }

    /// Sends a raw record, as an outside client would.
    async fn send(&self, key: &str, payload: &[u8]) {
        let record = Outgoing {
            topic: self.topic.clone(),
            key: Some(key.as_bytes().to_vec()),
            payload: Some(payload.to_vec()),
            headers: vec![("origin".into(), b"test".to_vec())],
        };
        self.transport.send(record).await.expect("sent");
    }

    async fn send_order(&self, key: &str, order: &Order) {
        self.send(key, &serde_json::to_vec(order).unwrap()).await;
    }

    /// The first `count` records of the dead-letter topic, read by a group of its own.
    async fn dead_letters(&self, count: usize) -> Vec<Message> {
        let group = format!("reader-{}", uuid::Uuid::new_v4().simple());
        let topic = format!("{}.dlq", self.topic);
        let mut subscription = self
            .transport
            .subscribe(&group, &[topic])
            .expect("subscribe to the dead letters");
        let mut records = Vec::new();
        while records.len() < count {
            let next = tokio::time::timeout(Duration::from_secs(15), subscription.next()).await;
            records.push(
                next.expect("a dead letter in time")
                    .expect("the subscription is open"),
            );
        }
        records
    }
}

/// Polls `done` until it holds, for at most 20 s (a real broker's group join takes seconds).
async fn eventually(what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn header<'a>(message: &'a Message, name: &str) -> &'a str {
    std::str::from_utf8(
        message
            .header(name)
            .unwrap_or_else(|| panic!("header {name}")),
    )
    .unwrap()
}

/// One test per backend for each scenario.
macro_rules! on_both_backends {
    ($($scenario:ident),* $(,)?) => {
        mod memory {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $scenario() {
                super::$scenario(super::Backend::memory(stringify!($scenario))).await;
            })*
        }
        mod broker {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $scenario() {
                super::$scenario(super::Backend::broker(stringify!($scenario))).await;
            })*
        }
    };
}

on_both_backends!(
    proto_payloads_keys_headers_and_the_request_id_travel,
    produced_records_are_consumed_in_order_per_key,
    a_poison_message_is_dead_lettered_and_the_rest_go_on,
    retryable_failures_are_retried_then_dead_lettered,
    a_restarted_consumer_resumes_from_the_committed_offset,
);

async fn proto_payloads_keys_headers_and_the_request_id_travel(backend: Backend) {
    let setup = backend.start().await;
    let shop = setup.app.running().component::<Shop>().expect("the shop");
    let topic = format!("echo-{}", backend.run);
    let echo = EchoRequest {
        message: "hello".into(),
    };
    // Published while handling "request 42": the id travels with the record.
    let publish = shop.producer.publish_proto(&topic, "the-key", &echo);
    framework::telemetry::request_id::scope("req-42".into(), publish)
        .await
        .unwrap();
    let ledger = setup.ledger();
    eventually("the echo", || ledger.echoes.lock().unwrap().len() == 1).await;
    let (message, key, header, current) = ledger.echoes.lock().unwrap()[0].clone();
    assert_eq!(message, "hello");
    assert_eq!(key.as_deref(), Some(&b"the-key"[..]));
    assert_eq!(header.as_deref(), Some("req-42"));
    assert_eq!(
        current.as_deref(),
        Some("req-42"),
        "the handler continues the request id"
    );

    let report = setup.app.running().health().report().await;
    let kafka = report
        .units
        .iter()
        .find(|u| u.name == "kafka")
        .expect("a kafka health unit");
    assert_eq!(kafka.status, "up");
    setup.app.shutdown().await.unwrap();
}

async fn produced_records_are_consumed_in_order_per_key(backend: Backend) {
    let setup = backend.start().await;
    let shop = setup.app.running().component::<Shop>().expect("the shop");
    for id in 0..30 {
        // Three keys: each key's orders stay in order.
        let key = format!("customer-{}", id % 3);
        shop.producer
            .publish_json(&setup.topic, &key, &Order { id, fail: None })
            .await
            .unwrap();
    }
    eventually("30 orders", || setup.ids().len() == 30).await;
    let ids = setup.ids();
    for customer in 0..3 {
        let mine: Vec<u32> = ids
            .iter()
            .copied()
            .filter(|id| id % 3 == customer)
            .collect();
        let mut sorted = mine.clone();
        sorted.sort();
        assert_eq!(mine, sorted, "customer {customer} out of order");
    }
    setup.app.shutdown().await.unwrap();
}

async fn a_poison_message_is_dead_lettered_and_the_rest_go_on(backend: Backend) {
    let setup = backend.start().await;
    setup.send_order("k", &Order { id: 1, fail: None }).await;
    setup.send("k", b"{not json").await;
    setup.send_order("k", &Order { id: 2, fail: None }).await;
    eventually("both good orders", || setup.ids() == [1, 2]).await;

    let dead = setup.dead_letters(1).await;
    let dead = &dead[0];
    assert_eq!(dead.payload.as_deref(), Some(&b"{not json"[..]));
    assert_eq!(dead.key.as_deref(), Some(&b"k"[..]));
    assert_eq!(header(dead, "origin"), "test", "original headers are kept");
    assert_eq!(header(dead, h::ERROR_CODE), "MESSAGE_REJECTED");
    assert!(header(dead, h::ERROR_MESSAGE).contains("not the expected JSON"));
    assert_eq!(header(dead, h::ORIGINAL_TOPIC), setup.topic);
    assert_eq!(header(dead, h::ORIGINAL_OFFSET), "1");
    assert!(header(dead, h::ORIGINAL_PARTITION).parse::<i32>().is_ok());
    assert_eq!(header(dead, h::ATTEMPTS), "1");
    setup.app.shutdown().await.unwrap();
}

async fn retryable_failures_are_retried_then_dead_lettered(backend: Backend) {
    let setup = backend.start().await;
    setup
        .send_order(
            "k",
            &Order {
                id: 7,
                fail: Some("retryable".into()),
            },
        )
        .await;
    setup
        .send_order(
            "k",
            &Order {
                id: 8,
                fail: Some("permanent".into()),
            },
        )
        .await;
    setup.send_order("k", &Order { id: 9, fail: None }).await;
    eventually("the good order after the failures", || setup.ids() == [9]).await;

    // retries = 2: three attempts in all; a non-retryable kind gets one.
    let ledger = setup.ledger();
    assert_eq!(ledger.attempts_of(7), 3);
    assert_eq!(ledger.attempts_of(8), 1);
    let dead = setup.dead_letters(2).await;
    let by_code = |code: &str| {
        dead.iter()
            .find(|m| header(m, h::ERROR_CODE) == code)
            .unwrap_or_else(|| panic!("{code}"))
    };
    assert_eq!(header(by_code("LEDGER_UNAVAILABLE"), h::ATTEMPTS), "3");
    assert_eq!(header(by_code("ORDER_UNKNOWN"), h::ATTEMPTS), "1");
    assert!(header(by_code("ORDER_UNKNOWN"), h::ERROR_MESSAGE).contains("order 8 does not exist"));
    setup.app.shutdown().await.unwrap();
}

async fn a_restarted_consumer_resumes_from_the_committed_offset(backend: Backend) {
    let first = backend.start().await;
    for id in 0..5 {
        first
            .send_order(&format!("k{id}"), &Order { id, fail: None })
            .await;
    }
    eventually("the first five", || first.ids().len() == 5).await;
    let transport = first.transport.clone();
    first.app.shutdown().await.unwrap();

    // Published while no consumer runs.
    for id in 5..10 {
        let record = Outgoing {
            topic: backend.topic(),
            key: Some(format!("k{id}").into_bytes()),
            payload: Some(serde_json::to_vec(&Order { id, fail: None }).unwrap()),
            headers: Vec::new(),
        };
        transport.send(record).await.unwrap();
    }
    let second = backend.start().await;
    eventually("the next five", || second.ids().len() == 5).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut ids = second.ids();
    ids.sort();
    assert_eq!(ids, [5, 6, 7, 8, 9], "nothing lost, nothing handled twice");
    second.app.shutdown().await.unwrap();
}

#[test]
fn consumers_need_a_broker_and_their_config_keys() {
    let Err(framework::Error::Wiring(report)) =
        framework::testing::check(&[("DATABASE_URL", ""), ("KAFKA_BROKERS", "")])
    else {
        panic!("consumers without a broker passed the check");
    };
    let text = report.to_string();
    assert!(text.contains("nothing provides `dyn Transport`"), "{text}");
    assert!(text.contains("consumer `kafka::record_order`"), "{text}");
    assert!(
        text.contains("(when framework::kafka::is_configured)"),
        "{text}"
    );
    assert!(text.contains("missing config key `ORDERS_TOPIC`"), "{text}");
    assert!(
        text.contains("consumer `kafka::record_order` at framework/tests/kafka.rs:"),
        "{text}"
    );
}

#[tokio::test]
async fn a_missing_topic_is_a_startup_error_unless_created() {
    let result = TestApp::start(&[
        ("DATABASE_URL", ""),
        ("KAFKA_BROKERS", "memory://no-create"),
        ("KAFKA_CREATE_TOPICS", "false"),
        ("ORDERS_TOPIC", "never-created"),
        ("ORDERS_GROUP", "nobody"),
        ("ECHO_TOPIC", "never-created-either"),
    ])
    .await;
    let Err(error) = result else {
        panic!("started without its topic")
    };
    let text = error.to_string();
    // Whichever of the two missing topics is checked first.
    assert!(text.contains("unknown topic `never-created"), "{text}");
    assert!(text.contains("KAFKA_CREATE_TOPICS=true"), "{text}");
}

#[tokio::test]
async fn a_missing_dead_letter_topic_is_named_at_startup() {
    // The consumed topics exist; their dead-letter topics do not.
    let broker = framework::kafka::MemoryBroker::named("no-dead-letters");
    let topics = ["orders-kept".to_owned(), "echo-kept".to_owned()];
    broker.ensure_topics(&topics).await.unwrap();
    let result = TestApp::start(&[
        ("DATABASE_URL", ""),
        ("KAFKA_BROKERS", "memory://no-dead-letters"),
        ("KAFKA_CREATE_TOPICS", "false"),
        ("ORDERS_TOPIC", "orders-kept"),
        ("ORDERS_GROUP", "nobody"),
        ("ECHO_TOPIC", "echo-kept"),
    ])
    .await;
    let Err(error) = result else {
        panic!("started without its dead-letter topics")
    };
    let text = error.to_string();
    assert!(text.contains("unknown topic `echo-kept.dlq`"), "{text}");
}
