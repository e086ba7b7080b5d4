//! The outbox relay: publishes the events units of work stored ([`Tx::publish`]) to the
//! [`EventSink`], at least once and in order per key, then deletes them.
//!
//! Every replica runs one, as `OUTBOX_WORKERS` workers. Rows are spread over [`BUCKETS`]
//! buckets by key, and each worker of a replica has its own share of the buckets, so the
//! workers publish side by side while each key's rows stay with one of them, in order. On
//! PostgreSQL a worker takes its buckets' transaction-scoped advisory locks before reading
//! their rows, so no two replicas publish one row (or one key) at a time: the same worker of
//! another replica stands by and takes over within a wake-up. A round holds its transaction,
//! and so a connection, while it publishes: during a broker outage, up to the producer's
//! delivery timeout per retry. On PostgreSQL these connections are the relay's own,
//! `OUTBOX_WORKERS` + 1 (for `LISTEN`) beside `DATABASE_MAX_CONNECTIONS`, opened when first
//! used. SQLite is one process's database, and its relay is the only one, on the service's
//! pool. A relay wakes when a commit of its replica stored events, and every
//! `OUTBOX_POLL_INTERVAL_MS` in any case. On PostgreSQL it also wakes on
//! `NOTIFY framework_outbox`, which only the commits of a replica whose relay does not run
//! send: PostgreSQL serialises the commits that notify (one database-wide lock, held through
//! the commit's flush), and that cost 0.1 of the outbox bench's requests/s. A worker whose
//! buckets another replica holds tries again after [`CONTENDED_RETRY`], so a row committed
//! while that replica published waits no poll interval. While the sink fails, rows stay and the relay retries
//! with backoff; `/health` (unit `outbox`) and the metrics show the backlog.
//!
//! [`Tx::publish`]: crate::transaction::Tx::publish

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::future::join_all;
use serde::Deserialize;
use sqlx::Pool;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::transaction::{SqlBackend, Statement};
use crate::config::ConfigSection;
use crate::di::BuildError;
use crate::health::Probe;
use crate::plugin::Stage;
use crate::transaction::{EventSink, OutboxEvent, SinkError};

/// How many buckets the keys are spread over; each is published by one worker at a time.
pub(super) const BUCKETS: i32 = 16;

/// Wakes the relay's workers: a commit that stored events wakes the workers of their buckets,
/// a `NOTIFY framework_outbox` (a commit of a replica without a relay) every worker. A watch
/// per worker, so that each sees every wake-up, even one that came while it was busy.
#[derive(Clone)]
pub(super) struct Wake {
    workers: Arc<[watch::Sender<u64>]>,
    /// Whether this replica's relay runs; set when it starts.
    running: Arc<AtomicBool>,
}

impl Wake {
    /// For `workers` workers, worker `w` owning the buckets `b` with `b % workers == w`.
    pub(super) fn new(workers: i32) -> Wake {
        Wake {
            workers: (0..workers.max(1)).map(|_| watch::Sender::new(0)).collect(),
            running: Arc::default(),
        }
    }

    /// Whether this replica's commits must tell the other replicas' relays about their
    /// events: only while its own relay does not run.
    pub(super) fn notifies(&self) -> bool {
        !self.running.load(Ordering::Relaxed)
    }

    /// Wakes the workers of the buckets set in `mask` (bit `b` for bucket `b`).
    pub(super) fn buckets(&self, mask: u32) {
        for (worker, sender) in self.workers.iter().enumerate() {
            let owned = (0..BUCKETS)
                .filter(|b| *b as usize % self.workers.len() == worker)
                .any(|b| mask & (1 << b) != 0);
            if owned {
                sender.send_modify(|n| *n = n.wrapping_add(1));
            }
        }
    }

    /// Wakes every worker (on PostgreSQL's `NOTIFY`).
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    pub(super) fn all(&self) {
        self.buckets(u32::MAX);
    }

    /// The worker's buckets and its wake-ups.
    fn worker(&self, worker: usize) -> (Vec<i32>, watch::Receiver<u64>) {
        let buckets = (0..BUCKETS)
            .filter(|b| *b as usize % self.workers.len() == worker)
            .collect();
        (buckets, self.workers[worker].subscribe())
    }

    fn workers(&self) -> usize {
        self.workers.len()
    }
}

/// How often the backlog gauges are refreshed.
const SAMPLE_EVERY: Duration = Duration::from_secs(1);

/// How often handled message ids older than `INBOX_RETENTION_HOURS` are deleted.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// How soon a worker tries again when another replica held some of its buckets: that
/// replica's round may have begun before this replica's commit, whose rows would otherwise
/// wait for the poll interval (commits notify no relay-running replica).
const CONTENDED_RETRY: Duration = Duration::from_millis(20);

/// The least wait after the sink's breaker refused a round (one refused while its trial is
/// under way says 0).
const REFUSED_WAIT: Duration = Duration::from_millis(100);

/// The longest wait between retries while the sink fails.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// The `OUTBOX_*` keys (and the inbox's retention).
#[derive(Debug, Clone, Deserialize, validator::Validate)]
pub struct OutboxConfig {
    /// `OUTBOX_RELAY`: run the relay on this replica when a database and an event sink (the
    /// Kafka plugin) are configured; default true.
    #[serde(default = "yes")]
    pub relay: bool,
    /// `OUTBOX_POLL_INTERVAL_MS`: the longest the relay sleeps without a wake-up; default
    /// 1000, at least 10.
    #[serde(default = "default_poll_ms")]
    #[validate(range(min = 10))]
    pub poll_interval_ms: u64,
    /// `OUTBOX_WORKERS`: the relay's workers on this replica, each publishing its share of
    /// the keys; default 1, 1 to 16. A worker publishes its round's keys side by side and
    /// starts the next round when the slowest is acknowledged: more workers keep keys that
    /// are slow to publish from holding up the others, at the cost of more, smaller rounds.
    /// On PostgreSQL each has a connection of its own, and the relay's `LISTEN` one more,
    /// beside `DATABASE_MAX_CONNECTIONS`.
    #[serde(default = "default_workers")]
    #[validate(range(min = 1, max = 16))]
    pub workers: i32,
    /// `OUTBOX_LINGER_MS`: the least time between the starts of a worker's rounds, as a
    /// producer's `linger.ms`: under load a round carries the events of that long rather
    /// than one each, for a fraction of the statements; an event waits at most that much
    /// longer. Default 5, 0 to 1000.
    #[serde(default = "default_linger_ms")]
    #[validate(range(max = 1000))]
    pub linger_ms: u64,
    /// `OUTBOX_BATCH_SIZE`: events a worker reads per round; default 256, 1 to 10000.
    #[serde(default = "default_batch")]
    #[validate(range(min = 1, max = 10000))]
    pub batch_size: i64,
    /// `OUTBOX_INBOX_RETENTION_HOURS`: how long a consumer's handled message ids are kept to
    /// recognise a redelivery; default 168 (a week), at least 1.
    #[serde(default = "default_retention")]
    #[validate(range(min = 1))]
    pub inbox_retention_hours: i64,
}

fn yes() -> bool {
    true
}
fn default_poll_ms() -> u64 {
    1000
}
fn default_workers() -> i32 {
    1
}
fn default_linger_ms() -> u64 {
    5
}
fn default_batch() -> i64 {
    256
}
fn default_retention() -> i64 {
    168
}

impl ConfigSection for OutboxConfig {
    const PREFIX: &'static str = "OUTBOX_";
}

/// One stored event and its row.
pub(super) struct Row {
    id: i64,
    event: OutboxEvent,
}

type RawRow = (i64, uuid::Uuid, String, String, Vec<u8>, String);

const SELECT_ROWS: &str = "SELECT id, event_id, topic, key, payload, headers FROM framework_outbox";

fn row((id, event_id, topic, key, payload, headers): RawRow) -> Row {
    Row {
        id,
        event: OutboxEvent {
            id: event_id,
            topic,
            key,
            payload,
            // Written by `encode_headers`; a row edited by hand to nonsense still goes out.
            headers: serde_json::from_str(&headers).unwrap_or_default(),
        },
    }
}

/// What a round did: published (and deleted) `count` rows; `failed` when the sink refused
/// one, whose key's later rows were then left for the next round; `contended` when, on
/// PostgreSQL, another replica's worker held some of the buckets, which were left out.
#[derive(Default)]
pub(super) struct Round {
    count: usize,
    failed: Option<SinkError>,
    contended: bool,
}

/// Publishes `rows` (in id order): one key's rows one after another, stopping at its first
/// failure so that none overtakes it, different keys side by side. Returns the ids published
/// and the first failure.
async fn publish(sink: &dyn EventSink, rows: Vec<Row>) -> (Vec<i64>, Option<SinkError>) {
    let mut by_key: BTreeMap<String, Vec<Row>> = BTreeMap::new();
    for row in rows {
        by_key.entry(row.event.key.clone()).or_default().push(row);
    }
    let chains = by_key.into_values().map(|rows| async move {
        let mut published = Vec::with_capacity(rows.len());
        for row in rows {
            if let Err(error) = sink.publish(&row.event).await {
                return (published, Some(error));
            }
            published.push(row.id);
        }
        (published, None)
    });
    let mut ids = Vec::new();
    let mut failed = None;
    for (published, error) in join_all(chains).await {
        ids.extend(published);
        failed = failed.or(error);
    }
    (ids, failed)
}

/// A backend's relay statements.
pub(super) trait Relay: SqlBackend {
    /// Publishes and deletes the next rows of `buckets` this replica may take, at most
    /// `limit`.
    fn round<'a>(
        pool: &'a Pool<Self>,
        sink: &'a dyn EventSink,
        buckets: &'a [i32],
        limit: i64,
    ) -> impl Future<Output = Result<Round, sqlx::Error>> + Send + 'a;

    /// Rows waiting, and the oldest one's time.
    fn backlog(
        pool: &Pool<Self>,
    ) -> impl Future<Output = Result<(i64, Option<DateTime<Utc>>), sqlx::Error>> + Send;

    /// A pool of the relay's own for its `workers` (and its listener), `None` where it
    /// shares the service's pool.
    fn relay_pool(pool: &Pool<Self>, workers: usize) -> Option<Pool<Self>>;

    /// At this replica's stop, once its units of work ended: wakes the other replicas'
    /// relays for the rows its own relay, stopped, left (committed after it stopped, say).
    fn hand_over(pool: &Pool<Self>) -> impl Future<Output = ()> + Send;

    /// Wakes `wake` on every `NOTIFY framework_outbox`, until `shutdown`; `None` where the
    /// backend has no notifications.
    fn listen(
        pool: Pool<Self>,
        wake: Wake,
        shutdown: CancellationToken,
    ) -> Option<futures_util::future::BoxFuture<'static, ()>>;
}

#[cfg(feature = "postgres")]
impl Relay for sqlx::Postgres {
    async fn round(
        pool: &Pool<Self>,
        sink: &dyn EventSink,
        buckets: &[i32],
        limit: i64,
    ) -> Result<Round, sqlx::Error> {
        let mut tx = pool.begin().await?;
        // The locks last as long as the transaction: through the publishing and the delete.
        let locked: Vec<i32> = sqlx::query_scalar(
            "SELECT b FROM unnest($1::int4[]) AS b WHERE pg_try_advisory_xact_lock(7262118, b)",
        )
        .bind(buckets)
        .fetch_all(&mut *tx)
        .await?;
        let contended = locked.len() < buckets.len();
        if locked.is_empty() {
            tx.commit().await?;
            return Ok(Round {
                contended,
                ..Round::default()
            });
        }
        // A statement of its own, after the locks: under READ COMMITTED its snapshot then
        // holds the deletes of the replica that had them (one statement's snapshot would
        // predate the locks, and could read rows that replica has just published).
        let rows: Vec<RawRow> = sqlx::query_as(&format!(
            "{SELECT_ROWS} WHERE bucket = ANY($1) ORDER BY id LIMIT $2"
        ))
        .bind(&locked)
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        let (ids, failed) = publish(sink, rows.into_iter().map(row).collect()).await;
        if !ids.is_empty() {
            sqlx::query("DELETE FROM framework_outbox WHERE id = ANY($1)")
                .bind(&ids)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(Round {
            count: ids.len(),
            failed,
            contended,
        })
    }

    async fn backlog(pool: &Pool<Self>) -> Result<(i64, Option<DateTime<Utc>>), sqlx::Error> {
        sqlx::query_as("SELECT COUNT(*), MIN(created_at) FROM framework_outbox")
            .fetch_one(pool)
            .await
    }

    fn relay_pool(pool: &Pool<Self>, workers: usize) -> Option<Pool<Self>> {
        // A connection per worker and one for LISTEN, apart from the handlers': a round does
        // not queue behind them for the service's pool when it is busy, and a broker outage,
        // through which every round holds its connection, takes none of theirs.
        Some(
            sqlx::pool::PoolOptions::new()
                .max_connections(workers as u32 + 1)
                .min_connections(0)
                .acquire_timeout(pool.options().get_acquire_timeout())
                .connect_lazy_with((*pool.connect_options()).clone()),
        )
    }

    async fn hand_over(pool: &Pool<Self>) {
        let notified = sqlx::query("SELECT pg_notify('framework_outbox', '')")
            .execute(pool)
            .await;
        if let Err(error) = notified {
            tracing::debug!(%error, "the other replicas' relays were not woken at stop");
        }
    }

    fn listen(
        pool: Pool<Self>,
        wake: Wake,
        shutdown: CancellationToken,
    ) -> Option<futures_util::future::BoxFuture<'static, ()>> {
        Some(Box::pin(async move {
            let mut failures = 0;
            while !shutdown.is_cancelled() {
                let error = tokio::select! {
                    () = shutdown.cancelled() => return,
                    error = listen_until_error(&pool, &wake, &mut failures) => error,
                };
                failures += 1;
                tracing::warn!(%error, "outbox relay: LISTEN failed; polling until it is back");
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep(backoff(failures)) => {}
                }
            }
        }))
    }
}

/// Wakes `wake` on every notification until the listening connection fails.
#[cfg(feature = "postgres")]
async fn listen_until_error(
    pool: &Pool<sqlx::Postgres>,
    wake: &Wake,
    failures: &mut u32,
) -> sqlx::Error {
    let mut listener = match sqlx::postgres::PgListener::connect_with(pool).await {
        Ok(listener) => listener,
        Err(error) => return error,
    };
    if let Err(error) = listener.listen("framework_outbox").await {
        return error;
    }
    // Events stored while nobody listened.
    wake.all();
    loop {
        if let Err(error) = listener.recv().await {
            return error;
        }
        *failures = 0;
        wake.all();
    }
}

#[cfg(feature = "sqlite")]
impl Relay for sqlx::Sqlite {
    async fn round(
        pool: &Pool<Self>,
        sink: &dyn EventSink,
        buckets: &[i32],
        limit: i64,
    ) -> Result<Round, sqlx::Error> {
        // No transaction around the publishing: it would hold SQLite's only write lock, and
        // every writer would wait for the broker. This relay is the database's only one, and
        // its workers' buckets are disjoint.
        let buckets = serde_json::to_string(buckets).unwrap_or_else(|_| "[]".to_owned());
        let rows: Vec<RawRow> = sqlx::query_as(&format!(
            "{SELECT_ROWS} WHERE bucket IN (SELECT value FROM json_each($1)) ORDER BY id LIMIT $2"
        ))
        .bind(buckets)
        .bind(limit)
        .fetch_all(pool)
        .await?;
        let (ids, failed) = publish(sink, rows.into_iter().map(row).collect()).await;
        let ids_json = serde_json::to_string(&ids).unwrap_or_else(|_| "[]".to_owned());
        sqlx::query("DELETE FROM framework_outbox WHERE id IN (SELECT value FROM json_each($1))")
            .bind(ids_json)
            .execute(pool)
            .await?;
        Ok(Round {
            count: ids.len(),
            failed,
            contended: false,
        })
    }

    async fn backlog(pool: &Pool<Self>) -> Result<(i64, Option<DateTime<Utc>>), sqlx::Error> {
        let (count, oldest): (i64, Option<String>) =
            sqlx::query_as("SELECT COUNT(*), MIN(created_at) FROM framework_outbox")
                .fetch_one(pool)
                .await?;
        let oldest = oldest
            .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
            .map(|t| t.with_timezone(&Utc));
        Ok((count, oldest))
    }

    fn relay_pool(_: &Pool<Self>, _: usize) -> Option<Pool<Self>> {
        // One writer at a time in any case; and `:memory:` is one connection's database.
        None
    }

    async fn hand_over(_: &Pool<Self>) {
        // The only relay of the database is this process's; the next start publishes.
    }

    fn listen(
        _: Pool<Self>,
        _: Wake,
        _: CancellationToken,
    ) -> Option<futures_util::future::BoxFuture<'static, ()>> {
        None
    }
}

/// 100 ms doubled per failure, at most [`MAX_BACKOFF`].
fn backoff(failures: u32) -> Duration {
    Duration::from_millis(100)
        .saturating_mul(2u32.saturating_pow(failures.min(10)))
        .min(MAX_BACKOFF)
}

/// What the relay last saw, for `/health` and the gauges.
#[derive(Default)]
struct Status {
    backlog: i64,
    oldest_age_seconds: f64,
    /// Each failing worker's last failure (by its first bucket), until a round of it
    /// succeeds.
    failing: BTreeMap<i32, String>,
}

/// The relay of one pool, ready to start: a framework component the pool's provider
/// registers, which the database plugin starts when there is a sink.
pub(crate) struct OutboxRelay(Box<dyn StartRelay>);

/// [`OutboxRelay`] over a pool of some backend.
trait StartRelay: Send + Sync {
    fn require(&self) -> futures_util::future::BoxFuture<'_, Result<(), BuildError>>;
    fn start(&self, sink: Arc<dyn EventSink>, stage: &Stage<'_>, config: OutboxConfig);
}

struct PoolRelay<DB: sqlx::Database> {
    pool: Pool<DB>,
    wake: Wake,
}

impl<DB: Relay + super::schema::Migrate> StartRelay for PoolRelay<DB> {
    fn require(&self) -> futures_util::future::BoxFuture<'_, Result<(), BuildError>> {
        Box::pin(super::schema::require(&self.pool))
    }

    fn start(&self, sink: Arc<dyn EventSink>, stage: &Stage<'_>, config: OutboxConfig) {
        let status = Arc::new(Mutex::new(Status::default()));
        let wake = self.wake.clone();
        let shutdown = stage.shutdown().clone();
        let tracker = stage.tracker();
        // From here on this replica's commits wake its own relay only; once it stops, those of
        // the requests still draining notify the other replicas'.
        wake.running.store(true, Ordering::Relaxed);
        let (running, stopped) = (wake.running.clone(), shutdown.clone());
        tracker.spawn(async move {
            stopped.cancelled().await;
            running.store(false, Ordering::Relaxed);
        });
        let pool = match DB::relay_pool(&self.pool, wake.workers()) {
            Some(own) => {
                let closed = own.clone();
                let stopped = shutdown.clone();
                // Closed once the rounds in progress at shutdown gave their connections back.
                tracker.spawn(async move {
                    stopped.cancelled().await;
                    closed.close().await;
                });
                own
            }
            None => self.pool.clone(),
        };
        if let Some(listen) = DB::listen(pool.clone(), wake.clone(), shutdown.clone()) {
            tracker.spawn(listen);
        }
        for worker in 0..wake.workers() {
            let (buckets, woken) = wake.worker(worker);
            tracker.spawn(relay(
                pool.clone(),
                sink.clone(),
                buckets,
                woken,
                config.clone(),
                shutdown.clone(),
                status.clone(),
            ));
        }
        tracker.spawn(sample(self.pool.clone(), status.clone(), shutdown));
        stage.health().add_probed_unit("outbox", true, move || {
            let status = status.clone();
            async move { probe(&status) }
        });
    }
}

impl OutboxRelay {
    pub(super) fn new<DB: Relay + super::schema::Migrate>(
        pool: Pool<DB>,
        wake: Wake,
    ) -> OutboxRelay {
        OutboxRelay(Box::new(PoolRelay { pool, wake }))
    }

    /// Checks the framework's tables are migrated, then starts the relay, its sampler and
    /// its `/health` unit on the stage's tasks.
    pub(super) async fn start(
        &self,
        sink: Arc<dyn EventSink>,
        stage: &Stage<'_>,
        config: OutboxConfig,
    ) -> Result<(), BuildError> {
        self.0.require().await?;
        self.0.start(sink, stage, config);
        Ok(())
    }
}

fn lock(status: &Mutex<Status>) -> std::sync::MutexGuard<'_, Status> {
    status.lock().unwrap_or_else(|e| e.into_inner())
}

/// The `outbox` unit: down while publishing fails; its backlog and the oldest event's age
/// beside.
fn probe(status: &Mutex<Status>) -> Probe {
    let status = lock(status);
    let mut details = serde_json::Map::new();
    details.insert("backlog".into(), status.backlog.into());
    details.insert(
        "oldest_age_seconds".into(),
        ((status.oldest_age_seconds * 1000.0).round() / 1000.0).into(),
    );
    Probe {
        result: match status.failing.values().next() {
            Some(error) => Err(format!("publishing fails: {error}")),
            None => Ok(()),
        },
        details: Some(details),
    }
}

/// A worker's loop over its `buckets`: rounds while there is work, else a wait for a wake-up,
/// the poll interval or shutdown. Shutdown waits for the round in progress.
async fn relay<DB: Relay>(
    pool: Pool<DB>,
    sink: Arc<dyn EventSink>,
    buckets: Vec<i32>,
    mut woken: watch::Receiver<u64>,
    config: OutboxConfig,
    shutdown: CancellationToken,
    status: Arc<Mutex<Status>>,
) {
    let published = metrics::counter!("outbox_events_published_total");
    let failures_total = metrics::counter!("outbox_publish_failures_total");
    let poll = Duration::from_millis(config.poll_interval_ms);
    let linger = Duration::from_millis(config.linger_ms);
    let mut failures = 0u32;
    let worker = buckets.first().copied().unwrap_or_default();
    let failing = |error: Option<String>| {
        let mut status = lock(&status);
        match error {
            Some(error) => status.failing.insert(worker, error),
            None => status.failing.remove(&worker),
        };
    };
    while !shutdown.is_cancelled() {
        // What is stored from here on is in this round or wakes the next one.
        woken.mark_unchanged();
        let started = tokio::time::Instant::now();
        let pause = match DB::round(&pool, &*sink, &buckets, config.batch_size).await {
            Ok(Round {
                count,
                failed,
                contended,
            }) => {
                published.increment(count as u64);
                match failed {
                    // The sink's breaker is open: no news, and no reason to wait longer than
                    // it stays open (a trial then tells).
                    Some(SinkError {
                        refused_for: Some(open_for),
                        ..
                    }) => {
                        tracing::debug!(
                            published = count,
                            ?open_for,
                            "outbox relay: the broker is down; waiting for its breaker"
                        );
                        Some(open_for.max(REFUSED_WAIT))
                    }
                    Some(error) => {
                        failures += 1;
                        failures_total.increment(1);
                        tracing::warn!(%error, published = count, "outbox relay: publishing failed; the events stay and are retried");
                        failing(Some(error.message));
                        Some(backoff(failures))
                    }
                    None => {
                        failures = 0;
                        failing(None);
                        if count == config.batch_size as usize {
                            // A full round: there may be more.
                            None
                        } else if contended {
                            Some(CONTENDED_RETRY.min(poll))
                        } else {
                            Some(poll)
                        }
                    }
                }
            }
            // The relay's own pool closes at shutdown.
            Err(_) if shutdown.is_cancelled() => break,
            Err(error) => {
                failures += 1;
                tracing::warn!(%error, "outbox relay: the database failed; retrying");
                failing(Some(format!("database: {error}")));
                Some(backoff(failures))
            }
        };
        // Under load, the next round takes what came in meanwhile, rather than one event
        // each; when the last round began longer ago than that, this waits nothing.
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = tokio::time::sleep_until(started + linger) => {}
        }
        let Some(pause) = pause else { continue };
        // A failing sink is not retried at every commit's wake-up, only after its backoff.
        let woken = async {
            if failures > 0 || woken.changed().await.is_err() {
                std::future::pending::<()>().await
            }
        };
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = woken => {}
            () = tokio::time::sleep(pause) => {}
        }
    }
}

/// Keeps the backlog gauges (`outbox_backlog_events`, `outbox_oldest_event_age_seconds`) and
/// the status current, until shutdown.
async fn sample<DB: Relay>(
    pool: Pool<DB>,
    status: Arc<Mutex<Status>>,
    shutdown: CancellationToken,
) {
    let backlog = metrics::gauge!("outbox_backlog_events");
    let age = metrics::gauge!("outbox_oldest_event_age_seconds");
    let mut every = tokio::time::interval(SAMPLE_EVERY);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = every.tick() => {}
        }
        match DB::backlog(&pool).await {
            Ok((count, oldest)) => {
                let seconds = oldest.map_or(0.0, |t| {
                    (Utc::now() - t).num_milliseconds().max(0) as f64 / 1000.0
                });
                backlog.set(count as f64);
                age.set(seconds);
                let mut status = lock(&status);
                status.backlog = count;
                status.oldest_age_seconds = seconds;
            }
            Err(error) => tracing::debug!(%error, "outbox backlog not sampled"),
        }
    }
}

/// Deletes, every [`PRUNE_EVERY`] until the pool closes, the inbox's message ids older than
/// `OUTBOX_INBOX_RETENTION_HOURS` and the expired idempotency keys. Runs with every pool,
/// relay or not.
pub(super) async fn prune<DB: Relay + super::schema::Migrate>(
    pool: Pool<DB>,
    retention_hours: i64,
) {
    let mut every = tokio::time::interval(PRUNE_EVERY);
    while !pool.is_closed() {
        every.tick().await;
        // A database the framework's tables are not migrated to has nothing to prune.
        if super::schema::require(&pool).await.is_err() {
            continue;
        }
        let inbox = Utc::now() - chrono::Duration::hours(retention_hours);
        let pruned = async {
            let mut conn = pool.acquire().await?;
            DB::run(&mut conn, Statement::PruneInbox { before: inbox }).await?;
            DB::run(
                &mut conn,
                Statement::PruneIdempotency { before: Utc::now() },
            )
            .await
        };
        if let Err(error) = pruned.await {
            tracing::warn!(%error, "the inbox or the expired idempotency keys were not pruned");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_keep_their_bucket() {
        let a = super::super::transaction::bucket("article-1");
        assert_eq!(a, super::super::transaction::bucket("article-1"));
        assert!((0..BUCKETS).contains(&a));
        let spread: std::collections::HashSet<i32> = (0..200)
            .map(|i| super::super::transaction::bucket(&format!("k{i}")))
            .collect();
        assert_eq!(spread.len(), BUCKETS as usize);
    }

    #[test]
    fn a_commit_wakes_the_workers_of_its_buckets_only() {
        let wake = Wake::new(4);
        let (buckets, mut second) = wake.worker(1);
        let (_, first) = wake.worker(0);
        assert_eq!(buckets, [1, 5, 9, 13]);
        wake.buckets(1 << 5);
        assert!(second.has_changed().unwrap());
        assert!(!first.has_changed().unwrap());
        second.mark_unchanged();
        wake.all();
        assert!(second.has_changed().unwrap() && first.has_changed().unwrap());
    }

    #[test]
    fn backoff_doubles_to_a_ceiling() {
        assert_eq!(backoff(1), Duration::from_millis(200));
        assert_eq!(backoff(30), MAX_BACKOFF);
    }
}
