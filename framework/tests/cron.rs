//! `#[cron_job]` through the real app: a singleton job ticking every second on three app
//! instances that share one lease store (the in-process store, and the real Redis of
//! `REDIS_URL`) runs each tick exactly once in total, and goes on when the instance that ran
//! the last tick stops; a failing job is reported and keeps its schedule; a tick is skipped
//! while the previous run still goes on; shutdown waits for a run in progress.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use framework::cron::JobContext;
use framework::testing::TestApp;
use framework::{DomainError, Inject, cron_job, module};

/// What the jobs of one app did: (job, tick in seconds), in order.
#[module]
pub struct Journal {
    #[state]
    runs: Mutex<Vec<(&'static str, i64)>>,
}

impl Journal {
    fn record(&self, context: &JobContext) {
        let job = context.job.rsplit("::").next().unwrap_or(context.job);
        self.runs
            .lock()
            .unwrap()
            .push((job, context.tick.timestamp()));
    }

    fn ticks(&self, job: &str) -> Vec<i64> {
        let runs = self.runs.lock().unwrap();
        runs.iter()
            .filter(|(j, _)| *j == job)
            .map(|(_, t)| *t)
            .collect()
    }
}

#[derive(Debug, thiserror::Error, DomainError)]
pub enum JobError {
    #[error("the report store is unavailable")]
    #[domain(internal, code = "REPORT_STORE_DOWN")]
    Unavailable,
}

#[cron_job(schedule = "* * * * * *", singleton)]
async fn every_second(context: JobContext, journal: Inject<Journal>) -> Result<(), JobError> {
    journal.record(&context);
    Ok(())
}

#[cron_job(schedule = "* * * * * *")]
async fn always_failing(context: JobContext, journal: Inject<Journal>) -> Result<(), JobError> {
    journal.record(&context);
    Err(JobError::Unavailable)
}

/// Runs 2.5 s every second: with the default overlap policy, ticks meanwhile are skipped.
#[cron_job(schedule = "* * * * * *")]
async fn slow(context: JobContext, journal: Inject<Journal>) -> Result<(), JobError> {
    journal.record(&context);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    journal.record(&JobContext {
        job: "slow_done",
        tick: context.tick,
    });
    Ok(())
}

async fn start(store: &str, service: &str) -> TestApp {
    TestApp::start(&[
        ("DATABASE_URL", ""),
        ("KAFKA_BROKERS", ""),
        ("REDIS_URL", store),
        ("APP_NAME", service),
    ])
    .await
    .expect("the app starts")
}

fn journal(app: &TestApp) -> std::sync::Arc<Journal> {
    app.running().component::<Journal>().expect("the journal")
}

/// Three replicas, 10 s: every tick once in total; then the one that ran the latest tick
/// stops and the others go on, still once per tick.
async fn a_singleton_runs_each_tick_once_across_replicas(store: &str, service: &str) {
    let mut replicas = Vec::new();
    for _ in 0..3 {
        replicas.push(start(store, service).await);
    }
    let started = chrono::Utc::now().timestamp();
    tokio::time::sleep(Duration::from_secs(10)).await;
    let ended = chrono::Utc::now().timestamp();

    let mut counts: BTreeMap<i64, usize> = BTreeMap::new();
    let mut by_replica = Vec::new();
    for replica in &replicas {
        let ticks = journal(replica).ticks("every_second");
        for tick in &ticks {
            *counts.entry(*tick).or_default() += 1;
        }
        by_replica.push(ticks.len());
    }
    // The ticks strictly inside the window: every replica was up for all of them.
    let inside: Vec<(i64, usize)> = counts
        .iter()
        .filter(|(tick, _)| **tick > started && **tick < ended)
        .map(|(t, c)| (*t, *c))
        .collect();
    println!("ticks run per replica over 10 s: {by_replica:?}; per tick: {inside:?}");
    assert!(inside.len() >= 8, "too few ticks: {inside:?}");
    assert!(
        inside.iter().all(|(_, count)| *count == 1),
        "each tick exactly once in total: {inside:?}"
    );
    assert_eq!(
        inside.len() as i64,
        ended - started - 1,
        "no tick missed: {inside:?}"
    );

    // Stop the replica that ran the latest tick: the others take the next ones.
    let latest = *counts.keys().last().unwrap();
    let holder = replicas
        .iter()
        .position(|r| journal(r).ticks("every_second").contains(&latest))
        .unwrap();
    replicas.remove(holder).shutdown().await.unwrap();
    let resumed = chrono::Utc::now().timestamp();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut later: BTreeMap<i64, usize> = BTreeMap::new();
    for replica in &replicas {
        for tick in journal(replica).ticks("every_second") {
            if tick > resumed {
                *later.entry(tick).or_default() += 1;
            }
        }
    }
    println!("after the stop, per tick: {later:?}");
    assert!(later.len() >= 2, "the others took over: {later:?}");
    assert!(later.values().all(|count| *count == 1), "{later:?}");
    for replica in replicas {
        replica.shutdown().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_singleton_runs_each_tick_once_across_replicas_in_process() {
    a_singleton_runs_each_tick_once_across_replicas("memory://cron-replicas", "cron").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_singleton_runs_each_tick_once_across_replicas_on_redis() {
    let url = std::env::var("REDIS_URL").unwrap_or_default();
    assert!(
        url.starts_with("redis://"),
        "the Redis tests need REDIS_URL=redis://host:port of a running Redis \
         (scripts/test starts redis-server); got {url:?}"
    );
    let service = format!("cron-{}", uuid::Uuid::new_v4().simple());
    a_singleton_runs_each_tick_once_across_replicas(&url, &service).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_are_reported_and_overlapping_ticks_skipped_and_shutdown_waits() {
    let app = start("memory://cron-single", "cron-single").await;
    let journal = journal(&app);
    let deadline = Instant::now() + Duration::from_secs(10);
    // Until `slow` has been running for a while and is in its second run.
    while journal.ticks("slow").len() < 2 {
        assert!(Instant::now() < deadline, "slow never ran twice");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let failing = journal.ticks("always_failing");
    assert!(
        failing.len() >= 3,
        "a failing job keeps its schedule: {failing:?}"
    );
    let slow = journal.ticks("slow");
    assert!(
        slow[1] - slow[0] >= 3,
        "ticks during a 2.5 s run are skipped: {slow:?}"
    );

    // The second run of `slow` is in progress: shutdown waits for it.
    app.shutdown().await.unwrap();
    assert_eq!(
        journal.ticks("slow_done").len(),
        journal.ticks("slow").len(),
        "every started run finished"
    );
}
