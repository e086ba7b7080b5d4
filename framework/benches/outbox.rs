//! Create-with-event, two ways, in one app on PostgreSQL (`DATABASE_URL`) and the broker of
//! `KAFKA_BROKERS` (the in-process one when unset):
//!
//! - through the framework's unit of work: a `#[http_route]` handler takes a `Tx`, inserts a
//!   row and stores the event with `tx.publish_json`; the framework commits, and the outbox
//!   relay publishes it (the request does not wait for the broker);
//! - by hand, as a service without an outbox writes it: begin, insert, commit, then publish
//!   with the `Producer` and wait for the broker's acknowledgement before answering.
//!
//! A keep-alive client loads each in rotating rounds and reports requests/s and the ratio
//! (target: the outbox at least 0.8 of the direct path), then the time from each commit to
//! the consumer's handler, p50 and p99 per side (target for the outbox: p99 under 100 ms).
//! The delays are measured twice: at full load, where every side's queues are full, and at a
//! steady `BENCH_RATE` (250 requests/s) well below both sides' capacity, which is the delay
//! of the path itself. The consumers fetch with `KAFKA_FETCH_WAIT_MAX_MS=10`: tansu, the broker CI runs, holds
//! each fetch for the whole wait, which at librdkafka's default (500 ms) would be most of
//! both sides' delay.
//!
//! Run with `cargo bench -p framework --bench outbox` (env: BENCH_ROUNDS, BENCH_SECS,
//! BENCH_CONCURRENCY).

#![allow(missing_docs)]

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use framework::axum::Json;
use framework::axum::http::StatusCode;
use framework::config::Settings;
use framework::db::{PgPool, SqlTx};
use framework::kafka::Producer;
use framework::sqlx::{self, Postgres};
use framework::transaction::TxError;
use framework::{
    App, Config, ConfigSection, DomainError, Inject, Tx, http_route, kafka_consumer, module,
};
use http_body_util::Full;
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Serialize, Deserialize)]
pub struct Created {
    id: Uuid,
}

#[derive(Debug, thiserror::Error, DomainError)]
pub enum BenchError {
    #[error("storage failed")]
    #[domain(internal, code = "BENCH_STORAGE")]
    Storage(#[from] sqlx::Error),
    #[error("transaction failed")]
    #[domain(internal, code = "BENCH_TRANSACTION")]
    Transaction(#[from] TxError),
    #[error("publishing failed")]
    #[domain(internal, code = "BENCH_PUBLISH")]
    Publish(#[from] framework::kafka::PublishError),
}

/// `BENCH_OUTBOX_TOPIC` and `BENCH_DIRECT_TOPIC`.
#[derive(Debug, Clone, Deserialize, validator::Validate)]
pub struct Topics {
    outbox_topic: String,
    direct_topic: String,
}

impl ConfigSection for Topics {
    const PREFIX: &'static str = "BENCH_";
}

/// The topics, when each item was committed, and when its event reached a consumer.
#[module]
pub struct Ledger {
    topics: Config<Topics>,
    #[state]
    committed: Mutex<HashMap<Uuid, Instant>>,
    #[state]
    consumed: Mutex<HashMap<Uuid, Instant>>,
}

impl Ledger {
    fn committed(&self, id: Uuid) {
        self.committed.lock().unwrap().insert(id, Instant::now());
    }

    /// The items committed so far.
    fn ids(&self) -> HashSet<Uuid> {
        self.committed.lock().unwrap().keys().copied().collect()
    }

    fn consumed(&self, id: Uuid) {
        self.consumed.lock().unwrap().insert(id, Instant::now());
    }

    /// Commit-to-consume times of `ids` whose events arrived, in milliseconds, sorted.
    fn delays(&self, ids: &[Uuid]) -> Vec<f64> {
        let committed = self.committed.lock().unwrap();
        let consumed = self.consumed.lock().unwrap();
        let mut delays: Vec<f64> = ids
            .iter()
            .filter_map(|id| {
                Some(
                    consumed
                        .get(id)?
                        .saturating_duration_since(*committed.get(id)?),
                )
            })
            .map(|d| d.as_secs_f64() * 1000.0)
            .collect();
        delays.sort_by(f64::total_cmp);
        delays
    }
}

/// The hand-written side's dependencies.
#[module]
pub struct Direct {
    pool: PgPool,
    producer: Producer,
}

const INSERT: &str = "INSERT INTO bench_outbox_items (id, side) VALUES ($1, $2)";

#[http_route(POST, "/outbox")]
async fn via_outbox(tx: Tx, ledger: Inject<Ledger>) -> Result<StatusCode, BenchError> {
    let id = Uuid::new_v4();
    {
        let mut conn = tx.connection::<Postgres>().await?;
        sqlx::query(INSERT)
            .bind(id)
            .bind("outbox")
            .execute(&mut *conn)
            .await?;
    }
    tx.publish_json(
        &ledger.topics.outbox_topic,
        &id.to_string(),
        &Created { id },
    )
    .await?;
    let ledger = ledger.0.clone();
    tx.after_commit(async move { ledger.committed(id) });
    Ok(StatusCode::CREATED)
}

#[http_route(POST, "/direct")]
async fn direct(direct: Inject<Direct>, ledger: Inject<Ledger>) -> Result<StatusCode, BenchError> {
    let id = Uuid::new_v4();
    let mut tx = direct.pool.begin().await?;
    sqlx::query(INSERT)
        .bind(id)
        .bind("direct")
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    ledger.committed(id);
    direct
        .producer
        .publish_json(
            &ledger.topics.direct_topic,
            &id.to_string(),
            &Created { id },
        )
        .await?;
    Ok(StatusCode::CREATED)
}

#[kafka_consumer(
    topic = "${BENCH_OUTBOX_TOPIC}",
    group = "${BENCH_OUTBOX_TOPIC}",
    concurrency = 8
)]
async fn consume_outbox(
    Json(event): Json<Created>,
    ledger: Inject<Ledger>,
) -> Result<(), BenchError> {
    ledger.consumed(event.id);
    Ok(())
}

#[kafka_consumer(
    topic = "${BENCH_DIRECT_TOPIC}",
    group = "${BENCH_DIRECT_TOPIC}",
    concurrency = 8
)]
async fn consume_direct(
    Json(event): Json<Created>,
    ledger: Inject<Ledger>,
) -> Result<(), BenchError> {
    ledger.consumed(event.id);
    Ok(())
}

/// `concurrency` keep-alive loops posting to `url` for `length`; each created id is kept.
async fn load(url: &str, concurrency: usize, length: Duration) -> common::Round {
    let uri: hyper::Uri = url.parse().unwrap();
    let clients = (0..concurrency)
        .map(|_| {
            let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
            (client, uri.clone())
        })
        .collect();
    common::round(clients, length, |(client, uri)| async move {
        let request = hyper::Request::post(uri.clone())
            .body(Full::new(Bytes::new()))
            .unwrap();
        let response = client.request(request).await.expect("request");
        assert_eq!(response.status(), 201, "a create failed");
        (client, uri)
    })
    .await
}

/// Requests at `rate` per second for `length` (each on a task of its own, at most 256 at
/// once), then a wait for the last ones.
async fn paced(url: &str, rate: u64, length: Duration) {
    let uri: hyper::Uri = url.parse().unwrap();
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(256));
    let mut every = tokio::time::interval(Duration::from_secs_f64(1.0 / rate.max(1) as f64));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let deadline = Instant::now() + length;
    let mut sent = tokio::task::JoinSet::new();
    while Instant::now() < deadline {
        every.tick().await;
        let slot = slots.clone().acquire_owned().await.unwrap();
        let (client, uri) = (client.clone(), uri.clone());
        sent.spawn(async move {
            let request = hyper::Request::post(uri)
                .body(Full::new(Bytes::new()))
                .unwrap();
            let response = client.request(request).await.expect("request");
            assert_eq!(response.status(), 201, "a create failed");
            drop(slot);
        });
    }
    sent.join_all().await;
}

/// Per side, the commit-to-consume delays of `ids`, once their events had time to arrive.
async fn report(ledger: &Ledger, pool: &PgPool, ids: &HashSet<Uuid>) {
    tokio::time::sleep(Duration::from_secs(3)).await;
    let ids: Vec<Uuid> = ids.iter().copied().collect();
    let sides: Vec<(Uuid, String)> =
        sqlx::query_as("SELECT id, side FROM bench_outbox_items WHERE id = ANY($1)")
            .bind(ids)
            .fetch_all(pool)
            .await
            .expect("the items");
    for side in ["outbox", "direct"] {
        let of_side: Vec<Uuid> = sides
            .iter()
            .filter(|(_, s)| s == side)
            .map(|(id, _)| *id)
            .collect();
        let delays = ledger.delays(&of_side);
        let lost = of_side.len() - delays.len();
        println!(
            "  {side:<7} {} ({lost} of {} not consumed yet)",
            percentiles(&delays),
            of_side.len()
        );
    }
}

/// p50 and p99 of sorted `delays`, and how many there are.
fn percentiles(delays: &[f64]) -> String {
    if delays.is_empty() {
        return "no events consumed".to_owned();
    }
    let at = |p: usize| delays[(delays.len() * p / 100).min(delays.len() - 1)];
    format!(
        "p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms over {} events",
        at(50),
        at(99),
        delays[delays.len() - 1],
        delays.len()
    )
}

#[tokio::main]
async fn main() {
    let plan = common::Plan::from_env(6).target(0.8);
    let concurrency = common::env("BENCH_CONCURRENCY", 32) as usize;
    let database = std::env::var("DATABASE_URL").unwrap_or_default();
    assert!(
        database.starts_with("postgres"),
        "the outbox bench needs DATABASE_URL=postgres://... (scripts/test starts PostgreSQL); got {database:?}"
    );
    let brokers = std::env::var("KAFKA_BROKERS").unwrap_or_else(|_| "memory".to_owned());
    let run = Uuid::new_v4().simple().to_string();
    let (outbox_topic, direct_topic) =
        (format!("bench-outbox-{run}"), format!("bench-direct-{run}"));
    let settings = Settings::from_pairs([
        ("DATABASE_URL", database.as_str()),
        ("DATABASE_MIGRATE", "true"),
        ("DATABASE_MAX_CONNECTIONS", "20"),
        ("KAFKA_BROKERS", brokers.as_str()),
        ("KAFKA_CREATE_TOPICS", "true"),
        // tansu holds each fetch for the whole wait (librdkafka's default 500 ms), which
        // would be most of the commit-to-consume time of both sides; Kafka answers at once.
        ("KAFKA_FETCH_WAIT_MAX_MS", "10"),
        ("BENCH_OUTBOX_TOPIC", outbox_topic.as_str()),
        ("BENCH_DIRECT_TOPIC", direct_topic.as_str()),
        ("OUTBOX_POLL_INTERVAL_MS", "1000"),
        ("HTTP_PORT", "0"),
        ("HTTP_BASE_PATH", ""),
    ]);
    let app = App::from_settings(settings).unwrap().start().await.unwrap();
    let pool = app.component::<PgPool>().expect("the pool");
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS bench_outbox_items (id UUID PRIMARY KEY, side TEXT NOT NULL)",
    )
    .execute(&*pool)
    .await
    .expect("the bench table");
    let base = format!("http://{}", app.http_addr());
    let (outbox_url, direct_url) = (format!("{base}/outbox"), format!("{base}/direct"));
    println!("{concurrency} keep-alive connections, broker {brokers}");
    plan.compare_sides(
        "req",
        vec![
            common::side("Tx + outbox (framework)", |length| {
                load(&outbox_url, concurrency, length)
            }),
            common::side("insert, commit, publish", |length| {
                load(&direct_url, concurrency, length)
            }),
        ],
    )
    .await;
    let ledger = app.component::<Ledger>().expect("the ledger");
    println!("commit to consumer, at full load (every side's queues filled):");
    let loaded = ledger.ids();
    report(&ledger, &pool, &loaded).await;
    // The same at a steady rate well below both sides' capacity: the delay of the path
    // itself, not of the queues that full load fills.
    let rate = common::env("BENCH_RATE", 250);
    let length = plan.length().mul_f64(2.0);
    println!(
        "commit to consumer, at {rate} req/s for {:.1} s each:",
        length.as_secs_f64()
    );
    let mut paced_ids = Vec::new();
    for url in [&outbox_url, &direct_url] {
        let before = ledger.ids();
        paced(url, rate, length).await;
        paced_ids.extend(ledger.ids().difference(&before).copied());
    }
    report(&ledger, &pool, &paced_ids.into_iter().collect()).await;
    app.shutdown().await.unwrap();
}
