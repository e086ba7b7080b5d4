//! Consuming small JSON records from a real Kafka-protocol broker (`KAFKA_BROKERS`), three
//! ways: through `#[kafka_consumer]`; through a hand-written rdkafka loop with what the
//! framework gives each record (request id and trace context from the headers, a span, a
//! panic guard, a count and a duration; the target: the framework within 5% of it); and
//! through a bare rdkafka loop, so the cost of those features shows. Each stores a record's
//! offset once it is handled. In rotating rounds, each alone and in a fresh group.
//! Prints records/s and records per CPU-second for each, and the ratios.
//!
//! Run with `KAFKA_BROKERS=127.0.0.1:9092 cargo bench -p framework --bench kafka`
//! (env: BENCH_RECORDS, BENCH_ROUNDS; BENCH_ONLY=framework|equivalent|bare runs one side
//! alone, to profile it).

#![allow(missing_docs)]

// Its load loops and alternating rounds are for request-response servers; this bench takes
// its settings, its median and its CPU clock (all threads, librdkafka's included).
mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use framework::axum::Json;
use framework::config::Settings;
use framework::kafka::{Outgoing, Transport};
use framework::telemetry::{REQUEST_ID_KEY, TRACEPARENT, TRACESTATE, WorkContext};
use framework::{App, Inject, kafka_consumer, module};
use futures_util::FutureExt;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Headers;
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
use serde::{Deserialize, Serialize};
use std::panic::AssertUnwindSafe;
use tracing::Instrument;

#[derive(Serialize, Deserialize)]
pub struct Tick {
    id: u64,
    note: String,
}

/// Records per round, for [`Clock::tick`].
static RECORDS: AtomicU64 = AtomicU64::new(0);

/// When the first and the last record of a round were handled, by the wall clock and by the
/// process's CPU clock; every consumer ticks one.
#[derive(Default)]
pub struct Clock {
    seen: AtomicU64,
    first: OnceLock<(Instant, Duration)>,
    last: OnceLock<(Instant, Duration)>,
}

impl Clock {
    fn tick(&self) {
        let seen = self.seen.fetch_add(1, Ordering::Relaxed) + 1;
        if seen == 1 {
            let _ = self.first.set((Instant::now(), common::cpu_time()));
        }
        if seen == RECORDS.load(Ordering::Relaxed) {
            let _ = self.last.set((Instant::now(), common::cpu_time()));
        }
    }

    /// Waits for the last record, and rates the round.
    async fn rates(&self, started: Instant) -> Rates {
        while self.last.get().is_none() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let (first, last) = (self.first.get().unwrap(), self.last.get().unwrap());
        let records = RECORDS.load(Ordering::Relaxed) as f64;
        Rates {
            overall: records / last.0.duration_since(started).as_secs_f64(),
            steady: (records - 1.0) / last.0.duration_since(first.0).as_secs_f64(),
            per_cpu_second: (records - 1.0) / (last.1 - first.1).as_secs_f64(),
        }
    }
}

/// One round of one consumer.
#[derive(Clone, Copy)]
struct Rates {
    /// Records/s from start-up, joining the group included.
    overall: f64,
    /// Records/s from the first record to the last.
    steady: f64,
    /// Records per second of the process's CPU time, from the first record to the last: what
    /// a consumer costs, whatever the broker's pace (it runs alone in its round).
    per_cpu_second: f64,
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
    let app = App::from_settings(settings).unwrap();
    // As the `run` command does: with no subscriber, tracing hands every span's fields to
    // `log` (sqlx turns on its `log` feature), which a service never pays.
    framework::telemetry::init(app.config(), app.tracing_layers());
    let app = app.start().await.unwrap();
    let rates = app
        .component::<Counter>()
        .unwrap()
        .clock
        .rates(started)
        .await;
    app.shutdown().await.unwrap();
    rates
}

/// The hand-written consumers: what a hand-wiring rdkafka user writes, in a task of its own.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Hand {
    /// With what the framework gives each record, written the way an rdkafka user would:
    /// the request id and W3C trace context from the headers, a span, a panic guard, and a
    /// count and a duration of handled records. The target: the framework within 5% of it.
    Equivalent,
    /// Decode, handle, store the offset, nothing else: what the framework's own cost is
    /// measured against.
    Bare,
}

/// Consumes the whole topic in a new group, storing each handled record's offset.
async fn by_hand(brokers: &str, topic: &str, hand: Hand) -> Rates {
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
    let labels = [("topic", topic.to_owned()), ("group", group)];
    let handled = framework::metrics::counter!("bench_hand_messages_total", &labels);
    let took = framework::metrics::histogram!("bench_hand_message_duration_seconds", &labels);
    let clock = Arc::new(Clock::default());
    let ticks = clock.clone();
    let consuming = tokio::spawn(async move {
        while ticks.last.get().is_none() {
            let message = consumer.recv().await.unwrap();
            let payload = message.payload().unwrap_or_default();
            let handle = async {
                let tick: Tick = serde_json::from_slice(payload).unwrap();
                std::hint::black_box(tick.id);
                ticks.tick();
            };
            if hand == Hand::Equivalent {
                // The trace context by OpenTelemetry's propagators, off the headers as text.
                let (mut request_id, mut trace) = (None, HashMap::new());
                for header in message.headers().iter().flat_map(|h| h.iter()) {
                    match (header.key, header.value) {
                        (REQUEST_ID_KEY, value) => request_id = value,
                        (TRACEPARENT | TRACESTATE, Some(value)) => {
                            if let Ok(value) = std::str::from_utf8(value) {
                                trace.insert(header.key.to_owned(), value.to_owned());
                            }
                        }
                        _ => {}
                    }
                }
                let span = tracing::info_span!(
                    "kafka",
                    topic = message.topic(),
                    partition = message.partition(),
                    offset = message.offset(),
                    request_id = tracing::field::Empty,
                    trace_id = tracing::field::Empty,
                    span_id = tracing::field::Empty,
                );
                let parent = framework::telemetry::extract(&trace);
                let context = WorkContext::begin(request_id, parent, &span);
                let started = Instant::now();
                let guarded = AssertUnwindSafe(handle).catch_unwind();
                if context.scope(guarded).instrument(span).await.is_ok() {
                    handled.increment(1);
                    took.record(started.elapsed().as_secs_f64());
                }
            } else {
                handle.await;
            }
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

/// One of the three consumers.
#[derive(Clone, Copy)]
enum Side {
    Framework,
    Hand(Hand),
}

const SIDES: [Side; 3] = [
    Side::Framework,
    Side::Hand(Hand::Equivalent),
    Side::Hand(Hand::Bare),
];

impl Side {
    fn name(self) -> &'static str {
        match self {
            Side::Framework => "#[kafka_consumer]",
            Side::Hand(Hand::Equivalent) => "hand-written rdkafka, same features",
            Side::Hand(Hand::Bare) => "bare rdkafka loop",
        }
    }

    async fn consume(self, brokers: &str, topic: &str) -> Rates {
        match self {
            Side::Framework => through_framework(brokers, topic).await,
            Side::Hand(hand) => by_hand(brokers, topic, hand).await,
        }
    }
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
    // A round that is not counted: it warms the broker, and the framework's start installs the
    // process's metrics recorder (the Prometheus plugin's), which the hand-written side's
    // count and duration go to as well.
    Side::Framework.consume(&brokers, &topic).await;
    // One side alone (`BENCH_ONLY=framework|equivalent|bare`), to profile it.
    if let Ok(only) = std::env::var("BENCH_ONLY") {
        let side = match only.as_str() {
            "framework" => Side::Framework,
            "equivalent" => Side::Hand(Hand::Equivalent),
            "bare" => Side::Hand(Hand::Bare),
            other => panic!("BENCH_ONLY={other}: framework, equivalent or bare"),
        };
        for _ in 0..rounds {
            let rates = side.consume(&brokers, &topic).await;
            println!("{}: {:.0} records/s", side.name(), rates.steady);
        }
        return;
    }
    // Each round runs the three one after another, in a rotating order, each alone.
    let mut rates: [Vec<Rates>; 3] = Default::default();
    for round in 0..rounds as usize {
        let mut line = format!("round {}:", round + 1);
        for turn in 0..SIDES.len() {
            let index = (round + turn) % SIDES.len();
            let rate = SIDES[index].consume(&brokers, &topic).await;
            line += &format!(
                " {} {:.0}/s ({:.0} with the join, {:.0}/CPU-s);",
                SIDES[index].name(),
                rate.steady,
                rate.overall,
                rate.per_cpu_second
            );
            rates[index].push(rate);
        }
        println!("{line}");
    }
    // The median: joining a group on tansu takes either ~370 or ~425 ms, whichever client.
    let median = |rates: &[Rates], rate: fn(&Rates) -> f64| {
        let mut rates: Vec<f64> = rates.iter().map(rate).collect();
        rates.sort_by(f64::total_cmp);
        common::median(&rates)
    };
    println!("{records} records, {rounds} rounds, each in a new group (medians):");
    // The target is on throughput; the CPU time shows what the consumer costs besides.
    for (what, unit, target, rate) in [
        (
            "from the first record to the last",
            "records/s",
            " (target >= 0.95)",
            (|r: &Rates| r.steady) as fn(&Rates) -> f64,
        ),
        (
            "from start-up, joining the group included",
            "records/s",
            " (target >= 0.95)",
            |r: &Rates| r.overall,
        ),
        (
            "per second of the process's CPU time, first record to last",
            "records/CPU-s",
            "",
            |r: &Rates| r.per_cpu_second,
        ),
    ] {
        let [f, e, b] = [0, 1, 2].map(|i| median(&rates[i], rate));
        println!("  {what}:");
        for (side, value) in SIDES.iter().zip([f, e, b]) {
            println!("    {:<38} {value:>9.0} {unit}", side.name());
        }
        println!(
            "    ratio to the same features by hand: {:.3}{target}; to the bare loop: {:.3}",
            f / e,
            f / b
        );
    }
    // No rounds with the consumers at once: a hand-written loop
    // never yields to tokio while librdkafka has records ready (rdkafka's `recv` takes no
    // part in tokio's cooperative budget), so under contention it keeps a worker thread that
    // the framework's tasks, which do yield, give up; such rounds measure the scheduler's
    // share, not the cost per record, which the CPU time above does.
    if !measuring {
        println!("  (smoke run of a debug build: use `cargo bench` for figures)");
    }
}
