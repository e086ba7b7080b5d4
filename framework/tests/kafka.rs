//! Consumer semantics on the in-process broker (`KAFKA_BROKERS=memory://<name>`): produce ->
//! consume, poison messages dead-lettered with their headers while later ones go on, retries
//! of retryable failures, order within a partition, and resuming from the committed offset
//! after a restart. Each test uses its own named broker and topic.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use framework::axum::Json;
use framework::kafka::{
    MemoryBroker, Metadata, Outgoing, Producer, Transport, dead_letter_headers as h,
};
use framework::testing::TestApp;
use framework::{DomainError, Inject, kafka_consumer, module};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize)]
pub struct Order {
    id: u32,
    /// `"retryable"`, `"permanent"`, or absent.
    #[serde(default)]
    fail: Option<String>,
}

/// What the consumer saw, in order: (order id, partition).
#[module]
pub struct Ledger {
    #[state]
    seen: Mutex<Vec<(u32, i32)>>,
    #[state]
    attempts: Mutex<Vec<u32>>,
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

struct Setup {
    app: TestApp,
    broker: Arc<MemoryBroker>,
    topic: String,
}

async fn start(name: &str) -> Setup {
    let brokers = format!("memory://{name}");
    let topic = format!("orders-{name}");
    let app = TestApp::start(&[
        ("DATABASE_URL", ""),
        ("KAFKA_BROKERS", brokers.as_str()),
        ("KAFKA_CREATE_TOPICS", "true"),
        ("ORDERS_TOPIC", topic.as_str()),
    ])
    .await
    .expect("the app starts");
    Setup {
        app,
        broker: MemoryBroker::named(name),
        topic,
    }
}

impl Setup {
    fn ledger(&self) -> Arc<Ledger> {
        self.app
            .running()
            .component::<Ledger>()
            .expect("the ledger")
    }

    /// Sends a raw record, as an outside client would.
    async fn send(&self, key: &str, payload: &[u8]) {
        let record = Outgoing {
            topic: self.topic.clone(),
            key: Some(key.as_bytes().to_vec()),
            payload: Some(payload.to_vec()),
            headers: vec![("origin".into(), b"test".to_vec())],
        };
        self.broker.send(record).await.expect("sent");
    }

    async fn send_order(&self, key: &str, order: &Order) {
        self.send(key, &serde_json::to_vec(order).unwrap()).await;
    }

    fn dead_letters(&self) -> Vec<framework::kafka::Message> {
        self.broker.read(&format!("{}.dlq", self.topic))
    }
}

/// Polls `done` until it holds, for at most 5 s.
async fn eventually(what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn header<'a>(message: &'a framework::kafka::Message, name: &str) -> &'a str {
    std::str::from_utf8(
        message
            .header(name)
            .unwrap_or_else(|| panic!("header {name}")),
    )
    .unwrap()
}

#[tokio::test]
async fn produced_records_are_consumed_in_order_per_key() {
    let setup = start("order").await;
    let shop = setup.app.running().component::<Shop>().expect("the shop");
    for id in 0..30 {
        // Three keys: each key's orders stay in order.
        let key = format!("customer-{}", id % 3);
        shop.producer
            .publish_json(&setup.topic, &key, &Order { id, fail: None })
            .await
            .unwrap();
    }
    let ledger = setup.ledger();
    eventually("30 orders", || ledger.seen().len() == 30).await;
    let seen = ledger.seen();
    for customer in 0..3 {
        let ids: Vec<u32> = seen
            .iter()
            .map(|(id, _)| *id)
            .filter(|id| id % 3 == customer)
            .collect();
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(ids, sorted, "customer {customer} out of order");
    }
    assert!(setup.dead_letters().is_empty());
    setup.app.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_poison_message_is_dead_lettered_and_the_rest_go_on() {
    let setup = start("poison").await;
    setup.send_order("k", &Order { id: 1, fail: None }).await;
    setup.send("k", b"{not json").await;
    setup.send_order("k", &Order { id: 2, fail: None }).await;
    let ledger = setup.ledger();
    eventually("both good orders", || ledger.seen().len() == 2).await;
    eventually("the dead letter", || setup.dead_letters().len() == 1).await;

    let dead = &setup.dead_letters()[0];
    assert_eq!(dead.payload.as_deref(), Some(&b"{not json"[..]));
    assert_eq!(dead.key.as_deref(), Some(&b"k"[..]));
    assert_eq!(header(dead, "origin"), "test", "original headers are kept");
    assert_eq!(header(dead, h::ERROR_CODE), "MESSAGE_REJECTED");
    assert!(header(dead, h::ERROR_MESSAGE).contains("not the expected JSON"));
    assert_eq!(header(dead, h::ORIGINAL_TOPIC), setup.topic);
    assert_eq!(header(dead, h::ORIGINAL_OFFSET), "1");
    assert_eq!(header(dead, h::ATTEMPTS), "1");
    // Committed past all three.
    let partition: i32 = header(dead, h::ORIGINAL_PARTITION).parse().unwrap();
    eventually("the commit", || {
        setup.broker.committed("ledger", &setup.topic, partition) == Some(3)
    })
    .await;
    setup.app.shutdown().await.unwrap();
}

#[tokio::test]
async fn retryable_failures_are_retried_then_dead_lettered() {
    let setup = start("retry").await;
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
    let ledger = setup.ledger();
    let ids = || ledger.seen().iter().map(|(id, _)| *id).collect::<Vec<_>>();
    eventually("the good order after the failures", || ids() == [9]).await;
    eventually("two dead letters", || setup.dead_letters().len() == 2).await;

    // retries = 2: three attempts in all; a non-retryable kind gets one.
    assert_eq!(ledger.attempts_of(7), 3);
    assert_eq!(ledger.attempts_of(8), 1);
    let dead = setup.dead_letters();
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

#[tokio::test]
async fn a_restarted_consumer_resumes_from_the_committed_offset() {
    let first = start("restart").await;
    for id in 0..5 {
        first
            .send_order(&format!("k{id}"), &Order { id, fail: None })
            .await;
    }
    let ledger = first.ledger();
    eventually("the first five", || ledger.seen().len() == 5).await;
    first.app.shutdown().await.unwrap();

    // Published while no consumer runs.
    for id in 5..10 {
        let record = Outgoing {
            topic: first.topic.clone(),
            key: Some(format!("k{id}").into_bytes()),
            payload: Some(serde_json::to_vec(&Order { id, fail: None }).unwrap()),
            headers: Vec::new(),
        };
        first.broker.send(record).await.unwrap();
    }
    let second = start("restart").await;
    let ledger = second.ledger();
    eventually("the next five", || ledger.seen().len() == 5).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut ids: Vec<u32> = ledger.seen().iter().map(|(id, _)| *id).collect();
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
}

#[tokio::test]
async fn a_missing_topic_is_a_startup_error_unless_created() {
    let result = TestApp::start(&[
        ("DATABASE_URL", ""),
        ("KAFKA_BROKERS", "memory://no-create"),
        ("KAFKA_CREATE_TOPICS", "false"),
        ("ORDERS_TOPIC", "never-created"),
    ])
    .await;
    let Err(error) = result else {
        panic!("started without its topic")
    };
    let text = error.to_string();
    assert!(text.contains("unknown topic `never-created`"), "{text}");
    assert!(text.contains("KAFKA_CREATE_TOPICS=true"), "{text}");
}
