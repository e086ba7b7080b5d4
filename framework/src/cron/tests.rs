//! The scheduler on tokio's paused time, with no server and no app: each test pins the clock
//! at a whole minute, so the ticks are exact instants, and tokio's auto-advance jumps from one
//! timer to the next instead of waiting for it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing_subscriber::layer::{Context, SubscriberExt};

use super::clock::Clock;
use super::record::Run;
use super::scheduler::start_jobs_on;
use super::{JobContext, JobRecord, Overlap, Resolved};
use crate::config::Settings;
use crate::di::Location;
use crate::di::{Container, Instance};
use crate::error::Failure;
use futures_util::future::BoxFuture;

/// What the clock reads when a test starts.
fn anchor() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap()
}

/// Milliseconds from the anchor to `at`.
fn millis(at: DateTime<Utc>) -> i64 {
    (at - anchor()).num_milliseconds()
}

/// Seconds from the anchor to each tick `what` happened for, in order, for `job`.
fn ticks(entries: &[Entry], job: &str, what: &str) -> Vec<i64> {
    entries
        .iter()
        .filter(|e| e.job == job && e.what == what)
        .map(|e| e.tick / 1000)
        .collect()
}

/// One thing a run did: the tick it was for and when it did it, in ms from the anchor.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    job: &'static str,
    what: &'static str,
    tick: i64,
    at: i64,
}

/// The component the jobs write to, with the scheduler's clock.
struct Journal {
    clock: Clock,
    entries: Mutex<Vec<Entry>>,
}

impl Journal {
    fn record(&self, what: &'static str, context: &JobContext) {
        self.entries.lock().unwrap().push(Entry {
            job: context.job,
            what,
            tick: millis(context.tick),
            at: millis(self.clock.now()),
        });
    }

    fn entries(&self) -> Vec<Entry> {
        self.entries.lock().unwrap().clone()
    }
}

fn journal(container: &Container) -> Arc<Journal> {
    container.get::<Journal>().expect("the journal")
}

/// Records its run.
fn quick<'a>(
    container: &'a Container,
    context: &'a JobContext,
) -> BoxFuture<'a, Result<(), Failure>> {
    Box::pin(async move {
        journal(container).record("ran", context);
        Ok(())
    })
}

/// Runs 2.5 s.
fn slow<'a>(
    container: &'a Container,
    context: &'a JobContext,
) -> BoxFuture<'a, Result<(), Failure>> {
    Box::pin(async move {
        let journal = journal(container);
        journal.record("ran", context);
        tokio::time::sleep(Duration::from_millis(2500)).await;
        journal.record("finished", context);
        Ok(())
    })
}

/// Runs a minute, and records when the scheduler drops it.
fn hanging<'a>(
    container: &'a Container,
    context: &'a JobContext,
) -> BoxFuture<'a, Result<(), Failure>> {
    struct Dropped(Arc<Journal>, JobContext);
    impl Drop for Dropped {
        fn drop(&mut self) {
            self.0.record("dropped", &self.1);
        }
    }
    Box::pin(async move {
        let journal = journal(container);
        journal.record("ran", context);
        let _dropped = Dropped(journal.clone(), context.clone());
        tokio::time::sleep(Duration::from_secs(60)).await;
        journal.record("finished", context);
        Ok(())
    })
}

/// A job as the macro would register it, with its schedule parsed.
fn job(
    handler: &'static str,
    schedule: &'static str,
    overlap: Overlap,
    timeout_secs: Option<u64>,
    run: Run,
) -> Resolved {
    let record = Box::leak(Box::new(JobRecord {
        handler,
        schedule,
        singleton: false,
        overlap,
        timeout_secs,
        run,
        dependencies: Vec::new,
        transactional: || false,
        location: Location {
            file: file!(),
            line: line!(),
        },
    }));
    Resolved::new(record, &Settings::default()).expect("a valid schedule")
}

/// The schedulers of `jobs`, started at the anchor.
struct Scheduled {
    journal: Arc<Journal>,
    stop: CancellationToken,
    tasks: Vec<JoinHandle<Result<(), std::convert::Infallible>>>,
}

impl Scheduled {
    fn start(jobs: Vec<Resolved>) -> Scheduled {
        let clock = Clock::anchored(anchor());
        let journal = Arc::new(Journal {
            clock,
            entries: Mutex::default(),
        });
        let mut container = Container::new(Arc::new(Settings::default()));
        container.insert(Instance::of(journal.clone()));
        let stop = CancellationToken::new();
        let tasks = start_jobs_on(clock, jobs, &Arc::new(container), &stop);
        Scheduled {
            journal,
            stop,
            tasks,
        }
    }

    /// Stops scheduling and waits for the schedulers to end; the journal.
    async fn shutdown(self) -> Vec<Entry> {
        self.stop.cancel();
        for task in self.tasks {
            task.await.expect("the scheduler does not panic").unwrap();
        }
        self.journal.entries()
    }
}

/// The log events on this thread (a paused test and its tasks run on one), as their fields.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<HashMap<&'static str, String>>>>);

impl Logs {
    fn capture() -> (Logs, tracing::subscriber::DefaultGuard) {
        let logs = Logs::default();
        let guard =
            tracing::subscriber::set_default(tracing_subscriber::registry().with(logs.clone()));
        (logs, guard)
    }

    /// Seconds from the anchor to the tick of each event whose message starts with `message`.
    fn ticks(&self, job: &str, message: &str) -> Vec<i64> {
        self.matching(job, message)
            .iter()
            .map(|fields| {
                // As `%tick` logs it: `2030-01-01 00:00:05 UTC`.
                let tick = fields["tick"].trim_end_matches(" UTC");
                let tick = NaiveDateTime::parse_from_str(tick, "%Y-%m-%d %H:%M:%S").expect(tick);
                millis(tick.and_utc()) / 1000
            })
            .collect()
    }

    fn matching(&self, job: &str, message: &str) -> Vec<HashMap<&'static str, String>> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|fields| {
                fields.get("job").map(String::as_str) == Some(job)
                    && fields
                        .get("message")
                        .is_some_and(|m| m.starts_with(message))
            })
            .cloned()
            .collect()
    }
}

#[derive(Default)]
struct Fields(HashMap<&'static str, String>);

impl tracing::field::Visit for Fields {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.0.insert(field.name(), value.to_owned());
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name(), format!("{value:?}"));
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Logs {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        self.0.lock().unwrap().push(fields.0);
    }
}

#[tokio::test(start_paused = true)]
async fn an_every_second_job_runs_at_each_second() {
    let scheduled = Scheduled::start(vec![job(
        "every_second",
        "* * * * * *",
        Overlap::Skip,
        None,
        quick,
    )]);
    tokio::time::sleep(Duration::from_millis(60_500)).await;
    let entries = scheduled.shutdown().await;

    assert_eq!(
        ticks(&entries, "every_second", "ran"),
        (1..=60).collect::<Vec<_>>()
    );
    let late: Vec<&Entry> = entries.iter().filter(|e| e.at != e.tick).collect();
    assert!(late.is_empty(), "each run starts at its tick: {late:?}");
}

#[tokio::test(start_paused = true)]
async fn a_daily_job_runs_once_a_day_at_its_time() {
    let scheduled = Scheduled::start(vec![job(
        "nightly",
        "0 30 3 * * *",
        Overlap::Skip,
        None,
        quick,
    )]);
    tokio::time::sleep(Duration::from_secs(3 * 24 * 3600)).await;
    let entries = scheduled.shutdown().await;

    let hour = 3600;
    let at_03_30 = 3 * hour + 1800;
    assert_eq!(
        ticks(&entries, "nightly", "ran"),
        [at_03_30, at_03_30 + 24 * hour, at_03_30 + 48 * hour]
    );
    assert!(entries.iter().all(|e| e.at == e.tick), "{entries:?}");
}

#[tokio::test(start_paused = true)]
async fn a_tick_during_a_run_is_skipped_and_counted_unless_overlap_is_allowed() {
    let (logs, _guard) = Logs::capture();
    let scheduled = Scheduled::start(vec![
        job("skipping", "* * * * * *", Overlap::Skip, None, slow),
        job("allowing", "* * * * * *", Overlap::Allow, None, slow),
    ]);
    tokio::time::sleep(Duration::from_millis(10_500)).await;
    let entries = scheduled.shutdown().await;

    // Each run takes 2.5 s: the run of 1 s covers the ticks of 2 s and 3 s, and so on.
    assert_eq!(ticks(&entries, "skipping", "ran"), [1, 4, 7, 10]);
    assert_eq!(
        logs.ticks("skipping", "tick skipped"),
        [2, 3, 5, 6, 8, 9],
        "each skipped tick is reported"
    );
    assert_eq!(
        ticks(&entries, "allowing", "ran"),
        (1..=10).collect::<Vec<_>>()
    );
    assert!(logs.ticks("allowing", "tick skipped").is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_run_past_its_timeout_is_abandoned_and_reported() {
    let (logs, _guard) = Logs::capture();
    let scheduled = Scheduled::start(vec![job(
        "hanging",
        "*/5 * * * * *",
        Overlap::Skip,
        Some(2),
        hanging,
    )]);
    tokio::time::sleep(Duration::from_secs(13)).await;
    let entries = scheduled.shutdown().await;

    let entry = |what, tick: i64, at: i64| Entry {
        job: "hanging",
        what,
        tick: tick * 1000,
        at: at * 1000,
    };
    // Dropped at its timeout; the schedule goes on, the next tick is not skipped.
    assert_eq!(
        entries,
        [
            entry("ran", 5, 5),
            entry("dropped", 5, 7),
            entry("ran", 10, 10),
            entry("dropped", 10, 12),
        ]
    );
    let abandoned = logs.matching("hanging", "job run abandoned");
    assert_eq!(abandoned.len(), 2, "each abandoned run is reported");
    for fields in &abandoned {
        assert_eq!(fields["code"], "JOB_TIMED_OUT");
        assert_eq!(fields["elapsed"], "2s");
    }
    assert_eq!(logs.ticks("hanging", "job run abandoned"), [5, 10]);
}

#[tokio::test(start_paused = true)]
async fn shutdown_waits_for_the_runs_in_progress() {
    let scheduled = Scheduled::start(vec![job(
        "allowing",
        "* * * * * *",
        Overlap::Allow,
        None,
        slow,
    )]);
    let clock = scheduled.journal.clock;
    // The runs of 2 s, 3 s and 4 s are going on.
    tokio::time::sleep(Duration::from_millis(4250)).await;
    let entries = scheduled.shutdown().await;

    assert_eq!(
        millis(clock.now()),
        6500,
        "the schedulers end when the last run does"
    );
    assert_eq!(ticks(&entries, "allowing", "ran"), [1, 2, 3, 4]);
    assert_eq!(
        ticks(&entries, "allowing", "finished"),
        [1, 2, 3, 4],
        "every run started finished"
    );
}
