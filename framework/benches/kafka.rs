//! Consuming small JSON records from a real Kafka-protocol broker (`KAFKA_BROKERS`): through
//! `#[kafka_consumer]` (offsets stored after each handled record) and through a hand-written
//! rdkafka loop with the same commit policy, in alternating rounds and then both at once, each
//! in a fresh group.
//! Prints records/s for each and the ratio.
//!
//! Run with `KAFKA_BROKERS=127.0.0.1:9092 cargo bench -p framework --bench kafka`
//! (env: BENCH_RECORDS, BENCH_ROUNDS).

#![allow(missing_docs)]

// Its load loops and alternating rounds are for request-response servers; this bench takes
// its settings and its median.
#[allow(dead_code)]
mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use framework::axum::Json;
use framework::config::Settings;
use framework::kafka::{Outgoing, Transport};
use framework::{App, Inject, kafka_consumer, module};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
pub struct Tick {
    id: u64,
    note: String,
}

/// Records per round, for [`Clock::tick`].
static RECORDS: AtomicU64 = AtomicU64::new(0);

/// When the first and the last record of a round were handled; both consumers tick one.
#[derive(Default)]
pub struct Clock {
    seen: AtomicU64,
    first: OnceLock<Instant>,
    last: OnceLock<Instant>,
}

impl Clock {
    fn tick(&self) {
        let seen = self.seen.fetch_add(1, Ordering::Relaxed) + 1;
        if seen == 1 {
            let _ = self.first.set(Instant::now());
        }
        if seen == RECORDS.load(Ordering::Relaxed) {
            let _ = self.last.set(Instant::now());
        }
    }

    /// Waits for the last record; returns (records/s from `started`, records/s from the
    /// first record on, i.e. without joining the group).
    async fn rates(&self, started: Instant) -> Rates {
        while self.last.get().is_none() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let (first, last) = (self.first.get().unwrap(), self.last.get().unwrap());
        let records = RECORDS.load(Ordering::Relaxed) as f64;
        Rates {
            overall: records / last.duration_since(started).as_secs_f64(),
            steady: (records - 1.0) / last.duration_since(*first).as_secs_f64(),
        }
    }
}

#[derive(Clone, Copy)]
struct Rates {
    overall: f64,
    steady: f64,
}

#[module]
pub struct Counter {
    #[state]
    clock: Clock,
}

#[kafka_consumer(topic = "${BENCH_TOPIC}", group = "${BENCH_GROUP}", concurrency = 3)]
async fn count(
    Json(tick): Json<Tick>,
    counter: Inject<Counter>,
) -> Result<(), framework::kafka::PublishError> {
    std::hint::black_box(tick.id);
    counter.clock.tick();
    Ok(())
}

/// Starts the app consuming `topic` in a new group, until the round's records arrived.
async fn through_framework(brokers: &str, topic: &str) -> Rates {
    let group = format!("bench-framework-{}", uuid::Uuid::new_v4().simple());
    let settings = Settings::from_pairs([
        ("DATABASE_URL", ""),
        ("HTTP_PORT", "0"),
        ("KAFKA_BROKERS", brokers),
        ("KAFKA_CREATE_TOPICS", "true"),
        ("BENCH_TOPIC", topic),
        ("BENCH_GROUP", group.as_str()),
        ("LOG_LEVEL", "error"),
    ]);
    let started = Instant::now();
    let app = App::from_settings(settings).unwrap().start().await.unwrap();
    let rates = app
        .component::<Counter>()
        .unwrap()
        .clock
        .rates(started)
        .await;
    app.shutdown().await.unwrap();
    rates
}

/// What a hand-wiring rdkafka user writes, in a task of its own: decode, handle, store the
/// offset.
async fn by_hand(brokers: &str, topic: &str) -> Rates {
    let group = format!("bench-hand-{}", uuid::Uuid::new_v4().simple());
    let started = Instant::now();
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", &group)
        .set("enable.auto.commit", "true")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .create()
        .unwrap();
    consumer.subscribe(&[topic]).unwrap();
    let clock = Arc::new(Clock::default());
    let ticks = clock.clone();
    let consuming = tokio::spawn(async move {
        while ticks.last.get().is_none() {
            let message = consumer.recv().await.unwrap();
            let tick: Tick = serde_json::from_slice(message.payload().unwrap_or_default()).unwrap();
            std::hint::black_box(tick.id);
            ticks.tick();
            let mut next = TopicPartitionList::new();
            next.add_partition_offset(
                message.topic(),
                message.partition(),
                Offset::Offset(message.offset() + 1),
            )
            .unwrap();
            consumer.store_offsets(&next).unwrap();
        }
    });
    let rates = clock.rates(started).await;
    consuming.await.unwrap();
    rates
}

#[tokio::main]
async fn main() {
    let measuring = std::env::args().any(|a| a == "--bench");
    let brokers = std::env::var("KAFKA_BROKERS").unwrap_or_default();
    if brokers.is_empty() || brokers.starts_with("memory") {
        assert!(
            !measuring,
            "set KAFKA_BROKERS=host:port of a running Kafka-protocol broker"
        );
        println!("kafka bench: no KAFKA_BROKERS broker; nothing to measure");
        return;
    }
    let (records, rounds) = if measuring {
        (
            common::env("BENCH_RECORDS", 100_000),
            common::env("BENCH_ROUNDS", 6),
        )
    } else {
        (1_000, 1)
    };

    // Fill one topic; every round reads it all from the start in a new group.
    let topic = format!("bench-{}", uuid::Uuid::new_v4().simple());
    let broker: Arc<dyn Transport> =
        Arc::new(framework::kafka::Broker::new(&brokers, 10_000).unwrap());
    broker
        .ensure_topics(std::slice::from_ref(&topic))
        .await
        .unwrap();
    let filled = Instant::now();
    let mut sends = tokio::task::JoinSet::new();
    for id in 0..records {
        let (broker, topic) = (broker.clone(), topic.clone());
        sends.spawn(async move {
            let tick = Tick {
                id,
                note: "small".into(),
            };
            let record = Outgoing {
                topic,
                key: Some(id.to_string().into_bytes()),
                payload: Some(serde_json::to_vec(&tick).unwrap()),
                headers: Vec::new(),
            };
            broker.send(record).await.unwrap();
        });
        if sends.len() >= 1000 {
            sends.join_next().await;
        }
    }
    sends.join_all().await;
    println!("produced {records} records in {:.1?}", filled.elapsed());

    RECORDS.store(records, Ordering::Relaxed);
    let (mut framework_rates, mut hand_rates) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        let (f, h) = if round % 2 == 0 {
            let f = through_framework(&brokers, &topic).await;
            (f, by_hand(&brokers, &topic).await)
        } else {
            let h = by_hand(&brokers, &topic).await;
            (through_framework(&brokers, &topic).await, h)
        };
        println!(
            "round {}: framework {:>9.0} records/s ({:>9.0} with the join), hand-written {:>9.0} records/s ({:>9.0} with the join)",
            round + 1,
            f.steady,
            f.overall,
            h.steady,
            h.overall
        );
        framework_rates.push(f);
        hand_rates.push(h);
    }
    // The median: joining a group on tansu takes either ~370 or ~425 ms, whichever client.
    let median = |rates: &[Rates], rate: fn(&Rates) -> f64| {
        let mut rates: Vec<f64> = rates.iter().map(rate).collect();
        rates.sort_by(f64::total_cmp);
        common::median(&rates)
    };
    println!("{records} records, {rounds} rounds, each in a new group (medians):");
    for (what, rate) in [
        (
            "from the first record to the last",
            (|r: &Rates| r.steady) as fn(&Rates) -> f64,
        ),
        ("from start-up, joining the group included", |r: &Rates| {
            r.overall
        }),
    ] {
        let (f, h) = (median(&framework_rates, rate), median(&hand_rates, rate));
        println!("  {what}:");
        println!("    #[kafka_consumer]      {f:>9.0} records/s");
        println!("    hand-written rdkafka   {h:>9.0} records/s");
        println!(
            "    ratio (framework / hand-written): {:.3} (target >= 0.95)",
            f / h
        );
    }
    // Both consumers at once, each in a new group reading the whole topic: whatever the
    // machine does meanwhile hits both alike, so drift between rounds cannot move the ratio.
    let mut paired = Vec::new();
    for _ in 0..rounds {
        let (f, h) = tokio::join!(
            through_framework(&brokers, &topic),
            by_hand(&brokers, &topic)
        );
        paired.push(f.steady / h.steady);
    }
    paired.sort_by(f64::total_cmp);
    println!(
        "  both consuming at once, first record to last, median of {rounds} rounds: {:.3} \
         (min {:.3}, max {:.3}; target >= 0.95)",
        common::median(&paired),
        paired[0],
        paired[paired.len() - 1]
    );
    if !measuring {
        println!("  (smoke run of a debug build: use `cargo bench` for figures)");
    }
}
