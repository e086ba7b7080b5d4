//! A broker stall, on a tansu this test starts itself (on a port below 32768) and freezes
//! with SIGSTOP, then thaws with SIGCONT, so that its in-memory topics survive.
//!
//! Fault 8: while the broker is frozen, publishes fail (not sent: `Unavailable`) or are not
//! confirmed (`Unconfirmed`: sent, outcome unknown), and the `kafka` health unit is down;
//! after the thaw the producer works again within seconds (librdkafka's idempotent producer
//! may have failed fatally meanwhile, e.g. `ProducerFenced`: it is replaced), health is up,
//! and no record found on the topic was reported as not published.

use std::time::{Duration, Instant};

use framework::DomainError;
use framework::kafka::{Fetched, Producer, PublishError, Transport};
use framework::testing::TestApp;
use framework::{ErrorKind, module};
use framework_test_support::Tansu;

#[module]
pub struct Publisher {
    producer: Producer,
}

async fn kafka_status(app: &TestApp) -> String {
    let report = app.running().health().report().await;
    report
        .units
        .iter()
        .find(|u| u.name == "kafka")
        .map(|u| u.status.to_owned())
        .expect("a kafka unit")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_producer_recovers_after_a_broker_stall() {
    let tansu = Tansu::start();
    let topic = "events".to_owned();
    let app = TestApp::start(&[
        ("DATABASE_URL", ""),
        ("KAFKA_BROKERS", tansu.address.as_str()),
    ])
    .await
    .expect("the app starts");
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
                    PublishError::Unavailable { .. } | PublishError::Unconfirmed { .. }
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
    assert!(keys.contains(&"before".to_owned()), "{keys:?}");
    keys
}
