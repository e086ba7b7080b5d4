//! A broker stall, on a tansu this test starts itself (on a port below 32768) and freezes
//! with SIGSTOP, then thaws with SIGCONT, so that its in-memory topics survive.
//!
//! Fault 8: while the broker is frozen, publishes fail (not sent: `Unavailable`) or are not
//! confirmed (`Unconfirmed`: sent, outcome unknown), and the `kafka` health unit is down;
//! after the thaw the producer works again within seconds (librdkafka's idempotent producer
//! may have failed fatally meanwhile, e.g. `ProducerFenced`: it is replaced), health is up,
//! and no record found on the topic was reported as not published.
//!
//! Fault 13: records stream into a topic a consumer reads while the broker is frozen 15 s:
//! the `kafka` unit is down, then up; consumption resumes by itself, and every record on the
//! topic is handled (none lost, none committed without being handled).

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use framework::DomainError;
use framework::axum::Json;
use framework::kafka::{Fetched, Producer, PublishError, Transport};
use framework::testing::TestApp;
use framework::{ErrorKind, Inject, kafka_consumer, module};
use framework_test_support::Tansu;

#[module]
pub struct Publisher {
    producer: Producer,
}

/// The numbers the consumer handled.
#[module]
pub struct Handled {
    #[state]
    numbers: Mutex<BTreeSet<u32>>,
}

#[kafka_consumer(topic = "${STREAM_TOPIC}", group = "stream-readers")]
async fn handle(Json(number): Json<u32>, handled: Inject<Handled>) -> Result<(), PublishError> {
    handled.numbers.lock().unwrap().insert(number);
    Ok(())
}

/// The app on `tansu`, its consumer reading `STREAM_TOPIC` (created at startup).
async fn app_on(tansu: &Tansu, stream_topic: &str) -> TestApp {
    TestApp::start(&[
        ("DATABASE_URL", ""),
        ("KAFKA_BROKERS", tansu.address.as_str()),
        ("KAFKA_CREATE_TOPICS", "true"),
        ("STREAM_TOPIC", stream_topic),
    ])
    .await
    .expect("the app starts")
}

/// The `kafka` unit's status, and its producer's circuit breaker state.
async fn kafka_unit(app: &TestApp) -> (String, String) {
    let report = app.running().health().report().await;
    let unit = report
        .units
        .iter()
        .find(|u| u.name == "kafka")
        .expect("a kafka unit");
    let circuit = unit.details.as_ref().and_then(|d| d["circuit"].as_str());
    (
        unit.status.to_owned(),
        circuit.unwrap_or_default().to_owned(),
    )
}

async fn kafka_status(app: &TestApp) -> String {
    kafka_unit(app).await.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_producer_recovers_after_a_broker_stall() {
    let tansu = Tansu::start();
    let topic = "events".to_owned();
    let app = app_on(&tansu, "unused-stream").await;
    let transport = app.running().component::<dyn Transport>().unwrap();
    transport
        .ensure_topics(std::slice::from_ref(&topic))
        .await
        .unwrap();
    let producer = &app.running().component::<Publisher>().unwrap().producer;
    producer
        .publish_json(&topic, "before", &"before")
        .await
        .expect("published before the stall");
    assert_eq!(kafka_status(&app).await, "up");

    // Frozen for 15 s: longer than librdkafka's message timeout (10 s), so that records in
    // flight time out and the idempotent producer's state is lost, as in the 30 s stall of
    // the fault report.
    tansu.signal("-STOP");
    let frozen = Instant::now();
    let mut outcomes: Vec<(String, Result<(), ErrorKind>)> = Vec::new();
    let mut seen_down = false;
    let mut n = 0;
    while frozen.elapsed() < Duration::from_secs(15) {
        let key = format!("frozen-{n}");
        n += 1;
        let started = Instant::now();
        let published = producer.publish_json(&topic, &key, &key).await;
        assert!(
            started.elapsed() < Duration::from_secs(13),
            "a publish waited {:?}",
            started.elapsed()
        );
        if let Err(error) = &published {
            assert!(
                matches!(
                    error,
                    PublishError::Unavailable { .. }
                        | PublishError::Unconfirmed { .. }
                        | PublishError::CircuitOpen { .. }
                ),
                "{error:?}"
            );
            assert_eq!(error.may_be_stored(), error.kind() == ErrorKind::Timeout);
        }
        outcomes.push((key, published.map(drop).map_err(|e| e.kind())));
        seen_down |= kafka_status(&app).await == "down";
    }
    assert!(
        seen_down,
        "the kafka unit stayed up while the broker was frozen"
    );
    assert!(
        outcomes.iter().all(|(_, outcome)| outcome.is_err()),
        "a publish succeeded while the broker was frozen: {outcomes:?}"
    );

    tansu.signal("-CONT");
    let thawed = Instant::now();
    // Within seconds of the broker's return, publishing works again (a producer that
    // failed fatally is replaced) and the unit is up.
    let mut attempts = 0;
    loop {
        attempts += 1;
        let key = format!("after-{attempts}");
        match producer.publish_json(&topic, &key, &key).await {
            Ok(_) => break,
            Err(error) => {
                assert!(
                    thawed.elapsed() < Duration::from_secs(20),
                    "still failing {:?} after the thaw: {error:?}",
                    thawed.elapsed()
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
    let recovered = thawed.elapsed();
    while kafka_status(&app).await != "up" {
        assert!(
            thawed.elapsed() < Duration::from_secs(20),
            "the kafka unit is still down"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    println!(
        "publishing again {recovered:?} after the thaw ({attempts} attempt(s)); \
         during the stall: {outcomes:?}"
    );

    // A publish reported as not sent (`Unavailable`) must not be on the topic.
    let stored = read_keys(&*transport, &topic).await;
    assert!(stored.contains(&"before".to_owned()), "{stored:?}");
    for (key, outcome) in &outcomes {
        if *outcome == Err(ErrorKind::Unavailable) {
            assert!(
                !stored.contains(key),
                "{key} was reported as not sent, but is on the topic"
            );
        }
    }
    println!(
        "stored after the thaw: {} of the {} publishes made during the stall",
        outcomes.iter().filter(|(k, _)| stored.contains(k)).count(),
        outcomes.len()
    );
    app.shutdown().await.unwrap();
    drop(tansu);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_waits_out_a_broker_stall_and_handles_every_record() {
    let tansu = Tansu::start();
    let topic = "stream";
    let app = app_on(&tansu, topic).await;
    let producer = app
        .running()
        .component::<Publisher>()
        .unwrap()
        .producer
        .clone();
    let handled = app.running().component::<Handled>().unwrap();
    let count = |handled: &Handled| handled.numbers.lock().unwrap().len();

    // A record every 20 ms, from before the stall to after it, none waiting for the one
    // before (during the stall each waits for its outcome, up to librdkafka's message
    // timeout).
    let streaming = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let stream = {
        let streaming = streaming.clone();
        tokio::spawn(async move {
            let mut publishes = tokio::task::JoinSet::new();
            let mut n = 0u32;
            while streaming.load(std::sync::atomic::Ordering::Relaxed) {
                let producer = producer.clone();
                publishes.spawn(async move {
                    let published = producer.publish_json(topic, &n.to_string(), &n).await;
                    let refused = |e: &PublishError| matches!(e, PublishError::CircuitOpen { .. });
                    (n, published.map(drop).map_err(|e| (e.kind(), refused(&e))))
                });
                n += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            publishes.join_all().await
        })
    };
    framework_test_support::eventually("records handled", Duration::from_secs(30), || async {
        count(&handled) >= 20
    })
    .await;
    assert_eq!(kafka_status(&app).await, "up");

    tansu.signal("-STOP");
    let frozen = Instant::now();
    let before = count(&handled);
    let (mut seen_down, mut seen_open) = (false, false);
    while frozen.elapsed() < Duration::from_secs(15) {
        let (status, circuit) = kafka_unit(&app).await;
        seen_down |= status == "down";
        // Open, or half-open with its trial waiting for the thaw.
        seen_open |= circuit == "open" || circuit == "half_open";
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let during = count(&handled) - before;
    assert!(
        seen_down,
        "the kafka unit stayed up while the broker was frozen"
    );
    // The first publishes of the stall waited out their delivery timeout; then the
    // producer's breaker opened, and the rest failed at once.
    assert!(seen_open, "the producer's breaker never opened");

    tansu.signal("-CONT");
    let thawed = Instant::now();
    framework_test_support::eventually("the kafka unit up", Duration::from_secs(30), || async {
        kafka_status(&app).await == "up"
    })
    .await;
    let up_after = thawed.elapsed();
    let resumed_from = count(&handled);
    framework_test_support::eventually(
        "records handled after the thaw",
        Duration::from_secs(30),
        || async { count(&handled) > resumed_from + 20 },
    )
    .await;
    streaming.store(false, std::sync::atomic::Ordering::Relaxed);
    let outcomes = stream.await.unwrap();

    // Every record on the topic is handled: none lost, none committed unhandled (this
    // consumer would never be handed it again).
    let transport = app.running().component::<dyn Transport>().unwrap();
    let stored: BTreeSet<u32> = read_keys(&*transport, topic)
        .await
        .iter()
        .map(|key| key.parse().unwrap())
        .collect();
    framework_test_support::eventually(
        "every stored record handled",
        Duration::from_secs(30),
        || async { stored.is_subset(&handled.numbers.lock().unwrap()) },
    )
    .await;
    let acknowledged: BTreeSet<u32> = outcomes
        .iter()
        .filter(|(_, outcome)| outcome.is_ok())
        .map(|(n, _)| *n)
        .collect();
    assert!(
        acknowledged.is_subset(&stored),
        "an acknowledged record is not on the topic"
    );
    let refused = outcomes
        .iter()
        .filter(|(_, outcome)| matches!(outcome, Err((_, true))))
        .count();
    println!(
        "{} records published ({} acknowledged, {refused} refused at once by the open \
         breaker, {} stored), all {} stored handled; {during} handled during the 15 s stall; \
         kafka unit up {up_after:?} after the thaw",
        outcomes.len(),
        acknowledged.len(),
        stored.len(),
        stored.len(),
    );
    assert!(refused > 0, "no publish was refused by the open breaker");
    app.shutdown().await.unwrap();
    drop(tansu);
}

/// The keys of every record of `topic`, read until 3 s pass without a new one.
async fn read_keys(transport: &dyn Transport, topic: &str) -> Vec<String> {
    let group = format!("reader-{}", uuid::Uuid::new_v4().simple());
    let mut subscription = transport.subscribe(&group, &[topic.to_owned()]).unwrap();
    let mut keys = Vec::new();
    while let Ok(next) = tokio::time::timeout(
        Duration::from_secs(if keys.is_empty() { 20 } else { 3 }),
        subscription.next(100),
    )
    .await
    {
        match next {
            Some(Fetched::Records(records)) => keys.extend(records.iter().map(|r| {
                String::from_utf8_lossy(r.key.as_deref().unwrap_or_default()).into_owned()
            })),
            Some(Fetched::Revoked(_)) => {}
            Some(Fetched::Failed(error)) => panic!("the reader failed: {error}"),
            None => break,
        }
    }
    assert!(!keys.is_empty(), "nothing on {topic}");
    keys
}
