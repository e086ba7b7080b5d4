//! Consumer semantics, the same scenarios on the in-process broker (`memory://<name>`) and on
//! the real Kafka-protocol broker named by `KAFKA_BROKERS` (scripts/test starts tansu):
//! produce -> consume, poison messages dead-lettered with their headers while later ones go
//! on, retries of retryable failures, order within a partition, resuming from the committed
//! offset after a restart, a held-up partition not holding up the others, and two members of
//! one group sharing the partitions. Each test uses its own topic and group.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use framework::axum::Json;
use framework::kafka::{
    Fetched, Header, Headers, Key, Message, Metadata, Outgoing, Producer, Proto, Transport,
    dead_letter_headers as h,
};
use framework::telemetry::WorkContext;
use framework::testing::TestApp;
use framework::{DomainError, Inject, kafka_consumer, module};
use framework_test_support::eventually;
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
    /// Orders marked `"hold"` wait while a test holds this shut.
    #[state]
    gate: Arc<tokio::sync::RwLock<()>>,
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
    group = "${ORDERS_GROUP}",
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
        Some("hold") => drop(ledger.gate.read().await),
        _ => {}
    }
    ledger.seen.lock().unwrap().push((order.id, meta.partition));
    Ok(())
}

/// Where the scenario runs.
type Backend = framework_test_support::KafkaBackend;

/// The app of a scenario on its backend.
trait Scenario {
    fn topic(&self) -> String;
    async fn start(&self) -> Setup;
}

impl Scenario for Backend {
    fn topic(&self) -> String {
        self.name("orders")
    }

    async fn start(&self) -> Setup {
        let (topic, group) = (self.topic(), self.name("ledger"));
        let echo_topic = self.name("echo");
        // A group of its own: two consumers in one group rebalance each other as they join.
        let echo_group = self.name("echo");
        let app = TestApp::start(&[
            ("DATABASE_URL", ""),
            ("KAFKA_BROKERS", self.brokers.as_str()),
            ("KAFKA_CREATE_TOPICS", "true"),
            ("ORDERS_TOPIC", topic.as_str()),
            ("ORDERS_GROUP", group.as_str()),
            ("ECHO_TOPIC", echo_topic.as_str()),
            ("ECHO_GROUP", echo_group.as_str()),
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

#[kafka_consumer(topic = "${ECHO_TOPIC}", group = "${ECHO_GROUP}")]
async fn record_echo(
    Proto(echo): Proto<EchoRequest>,
    key: Key,
    headers: Headers,
    ledger: Inject<Ledger>,
) -> Result<(), OrderError> {
    let header = headers
        .get("x-request-id")
        .map(|value| String::from_utf8_lossy(value).into_owned());
    let current = WorkContext::current().and_then(|context| context.request_id);
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

    /// Sends a raw record, as an outside client would; returns its partition.
    async fn send(&self, key: &str, payload: &[u8]) -> i32 {
        let record = Outgoing {
            topic: self.topic.clone(),
            key: Some(key.as_bytes().to_vec()),
            payload: Some(payload.to_vec()),
            headers: vec![Header::new("origin", "test")],
        };
        self.transport.send(record).await.expect("sent").0
    }

    async fn send_order(&self, key: &str, order: &Order) -> i32 {
        self.send(key, &serde_json::to_vec(order).unwrap()).await
    }

    async fn send_orders(&self, ids: std::ops::Range<u32>) {
        publish_orders(&*self.transport, &self.topic, ids).await;
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
            let next = subscription.next(count - records.len());
            let next = tokio::time::timeout(Duration::from_secs(15), next).await;
            match next.expect("a dead letter in time") {
                Some(Fetched::Records(batch)) => records.extend(batch),
                Some(Fetched::Revoked(_)) => {}
                Some(Fetched::Failed(error)) => panic!("the reader failed: {error}"),
                None => panic!("the subscription closed"),
            }
        }
        records
    }
}

/// Publishes orders `ids` (keyed `k<id>`) to `topic`, as another service would.
async fn publish_orders(transport: &dyn Transport, topic: &str, ids: std::ops::Range<u32>) {
    for id in ids {
        let record = Outgoing {
            topic: topic.to_owned(),
            key: Some(format!("k{id}").into_bytes()),
            payload: Some(serde_json::to_vec(&Order { id, fail: None }).unwrap()),
            headers: Vec::new(),
        };
        transport.send(record).await.expect("sent");
    }
}

/// How long a record gets to arrive: a real broker's group join takes seconds.
const BROKER_WAIT: Duration = Duration::from_secs(20);

fn header<'a>(message: &'a Message, name: &str) -> &'a str {
    std::str::from_utf8(
        message
            .header(name)
            .unwrap_or_else(|| panic!("header {name}")),
    )
    .unwrap()
}

framework_test_support::on_backends!(Backend: memory, broker; [
    proto_payloads_keys_headers_and_the_request_id_travel,
    produced_records_are_consumed_in_order_per_key,
    a_poison_message_is_dead_lettered_and_the_rest_go_on,
    retryable_failures_are_retried_then_dead_lettered,
    a_restarted_consumer_resumes_from_the_committed_offset,
    a_held_up_partition_does_not_hold_up_the_others,
    members_of_a_group_share_the_partitions_and_take_over_from_one_that_leaves,
]);

async fn proto_payloads_keys_headers_and_the_request_id_travel(backend: Backend) {
    let setup = backend.start().await;
    let shop = setup.app.running().component::<Shop>().expect("the shop");
    let topic = backend.name("echo");
    let echo = EchoRequest {
        message: "hello".into(),
    };
    // Published while handling "request 42": the id travels with the record.
    let publish = shop.producer.publish_proto(&topic, "the-key", &echo);
    WorkContext::begin(Some(b"req-42"), Default::default(), &tracing::Span::none())
        .scope(publish)
        .await
        .unwrap();
    let ledger = setup.ledger();
    eventually("the echo", BROKER_WAIT, async || {
        ledger.echoes.lock().unwrap().len() == 1
    })
    .await;
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
    eventually("30 orders", BROKER_WAIT, async || setup.ids().len() == 30).await;
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
    eventually("both good orders", BROKER_WAIT, async || {
        setup.ids() == [1, 2]
    })
    .await;

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
    eventually(
        "the good order after the failures",
        BROKER_WAIT,
        async || setup.ids() == [9],
    )
    .await;

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
    eventually("the first five", BROKER_WAIT, async || {
        first.ids().len() == 5
    })
    .await;
    let transport = first.transport.clone();
    first.app.shutdown().await.unwrap();

    // Published while no consumer runs.
    publish_orders(&*transport, &backend.topic(), 5..10).await;
    let second = backend.start().await;
    eventually("the next five", BROKER_WAIT, async || {
        second.ids().len() == 5
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut ids = second.ids();
    ids.sort();
    assert_eq!(ids, [5, 6, 7, 8, 9], "nothing lost, nothing handled twice");
    second.app.shutdown().await.unwrap();
}

async fn a_held_up_partition_does_not_hold_up_the_others(backend: Backend) {
    let setup = backend.start().await;
    let ledger = setup.ledger();
    let gate = ledger.gate.clone().write_owned().await;
    let hold = |id| Order {
        id,
        fail: Some("hold".into()),
    };
    // One key: every held order is in one partition, whose handler waits at the gate.
    let held = setup.send_order("held", &hold(1000)).await;
    eventually("the first held order in hand", BROKER_WAIT, async || {
        ledger.attempts_of(1000) == 1
    })
    .await;
    // One at a time, so they come in separate fetches and fill that partition's queue.
    for id in 1001..1016 {
        setup.send_order("held", &hold(id)).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut others = Vec::new();
    for id in 0..30 {
        if setup
            .send_order(&format!("k{id}"), &Order { id, fail: None })
            .await
            != held
        {
            others.push(id);
        }
    }
    assert!(!others.is_empty(), "no order landed in another partition");
    eventually(
        "the other partitions' orders while one is held up",
        BROKER_WAIT,
        async || {
            let ids = setup.ids();
            others.iter().all(|id| ids.contains(id))
        },
    )
    .await;
    assert!(!setup.ids().contains(&1000), "the held order went through");

    drop(gate);
    eventually("every held order", BROKER_WAIT, async || {
        (1000..1016).all(|id| setup.ids().contains(&id))
    })
    .await;
    let mut held_ids: Vec<u32> = setup.ids().into_iter().filter(|id| *id >= 1000).collect();
    // A rebalance meanwhile may hand the order in hand (1000) to a new worker too: at least
    // once. Every other held order was only queued, and comes once, in order.
    if held_ids.iter().filter(|id| **id == 1000).count() > 1 {
        let again = held_ids.iter().rposition(|id| *id == 1000).unwrap();
        held_ids.remove(again);
    }
    assert_eq!(
        held_ids,
        (1000..1016).collect::<Vec<_>>(),
        "held orders in order, once (but for the one in hand)"
    );
    setup.app.shutdown().await.unwrap();
}

async fn members_of_a_group_share_the_partitions_and_take_over_from_one_that_leaves(
    backend: Backend,
) {
    let first = backend.start().await;
    first.send_orders(0..30).await;
    eventually(
        "the first 30 by the first member",
        BROKER_WAIT,
        async || first.ids().len() == 30,
    )
    .await;

    // A second member of the same group: once the group has rebalanced, it gets a share of
    // the partitions. Orders keep coming meanwhile.
    let second = backend.start().await;
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut next = 30;
    while second.ids().is_empty() {
        assert!(
            Instant::now() < deadline,
            "the second member got no partition"
        );
        first.send_orders(next..next + 3).await;
        next += 3;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    first.send_orders(next..next + 30).await;
    let sent = next + 30;
    let both = || {
        let mut ids = first.ids();
        ids.extend(second.ids());
        ids
    };
    eventually("every order by either member", BROKER_WAIT, async || {
        let ids = both();
        (30..sent).all(|id| ids.contains(&id))
    })
    .await;
    assert!(
        second.ids().iter().all(|id| *id >= 30),
        "the rebalance committed what the first member had handled: {:?}",
        second.ids()
    );
    let twice = first
        .ids()
        .iter()
        .filter(|id| second.ids().contains(id))
        .count();
    eprintln!(
        "rebalanced after {} orders; {} handled by both (redelivered at the rebalance)",
        next - 30,
        twice
    );
    let settled: Vec<u32> = both().into_iter().filter(|id| *id >= next).collect();
    assert_eq!(
        settled.len(),
        30,
        "after the rebalance, each order is handled by one member only: {settled:?}"
    );
    assert!(
        first.ids().iter().any(|id| *id >= next),
        "the first member kept no partition"
    );

    // The first member leaves: the second takes over every partition.
    let transport = first.transport.clone();
    first.app.shutdown().await.unwrap();
    publish_orders(&*transport, &backend.topic(), sent..sent + 30).await;
    eventually(
        "the next 30 orders by the second member",
        BROKER_WAIT,
        async || {
            let ids = second.ids();
            (sent..sent + 30).all(|id| ids.contains(&id))
        },
    )
    .await;
    second.app.shutdown().await.unwrap();

    // Everything was committed: a later member gets only what is new.
    let third = backend.start().await;
    third
        .send_order(
            "last",
            &Order {
                id: 120,
                fail: None,
            },
        )
        .await;
    eventually("the last order", BROKER_WAIT, async || {
        third.ids().contains(&120)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(third.ids(), [120], "only the new order");
    third.app.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_member_cannot_commit_a_partition_it_no_longer_owns() {
    let broker = framework::kafka::MemoryBroker::named("ownership");
    let topic = ["owned".to_owned()];
    broker.ensure_topics(&topic).await.unwrap();
    let first = broker.subscribe("group", &topic).unwrap();
    let committer = first.committer();
    committer.commit("owned", 1, 5).unwrap();

    // Partitions 0 and 2 stay with the first member; partition 1 goes to the second.
    let second = broker.subscribe("group", &topic).unwrap();
    assert!(committer.commit("owned", 1, 6).is_err());
    assert_eq!(broker.committed("group", "owned", 1), Some(5));
    committer.commit("owned", 0, 3).unwrap();

    // The second member leaves: partition 1 comes back.
    drop(second);
    committer.commit("owned", 1, 6).unwrap();
    assert_eq!(broker.committed("group", "owned", 1), Some(6));
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
        ("ECHO_GROUP", "nobody"),
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
        ("ECHO_GROUP", "nobody"),
        ("ECHO_TOPIC", "echo-kept"),
    ])
    .await;
    let Err(error) = result else {
        panic!("started without its dead-letter topics")
    };
    let text = error.to_string();
    assert!(text.contains("unknown topic `echo-kept.dlq`"), "{text}");
}
