//! Runs each job at its ticks until shutdown.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::clock::Clock;
use super::{JobContext, Overlap, Resolved};
use crate::di::Container;
use crate::error::Failure;
use crate::lease::LeaseStore;
use crate::metrics::Meter;
use crate::telemetry::WorkContext;
use crate::transaction::Transactions;
use crate::work::Tagger;

/// Job runs by outcome: `job_runs_total` and `job_run_duration_seconds` by job and outcome
/// (`succeeded`, `failed`, `panicked`, `abandoned`).
static RUNS: Meter = Meter::new(
    "job_runs_total",
    "job_run_duration_seconds",
    &["job", "outcome"],
);

/// How long a run's lease lives without renewal: a replica that dies mid-run holds the job
/// no longer than this.
const LEASE_TTL: Duration = Duration::from_secs(30);
/// How often a running job renews its lease.
const RENEW_EVERY: Duration = Duration::from_secs(10);
/// How long a claimed tick stays claimed: longer than any clock skew between replicas.
const TICK_TTL: Duration = Duration::from_secs(300);

/// Starts one scheduler task per job; each stops scheduling when `stop` is cancelled and ends
/// once its runs in progress have finished.
pub(crate) fn start_jobs(
    jobs: Vec<Resolved>,
    container: &Arc<Container>,
    stop: &CancellationToken,
) -> Vec<JoinHandle<Result<(), Infallible>>> {
    start_jobs_on(Clock::start(), jobs, container, stop)
}

/// [`start_jobs`] reading time from `clock`.
pub(super) fn start_jobs_on(
    clock: Clock,
    jobs: Vec<Resolved>,
    container: &Arc<Container>,
    stop: &CancellationToken,
) -> Vec<JoinHandle<Result<(), Infallible>>> {
    // One owner token per app: it tells this replica's leases from the others'.
    let owner: Arc<str> = uuid::Uuid::new_v4().to_string().into();
    jobs.into_iter()
        .map(|job| {
            // The wiring check made sure a singleton job has a lease store.
            let leases = job
                .record
                .singleton
                .then(|| container.get::<dyn LeaseStore>())
                .flatten()
                .map(|store| Leases {
                    store,
                    owner: owner.clone(),
                    job: job.record.handler,
                });
            tracing::info!(job = job.record.handler, schedule = %job.expression, singleton = job.record.singleton, "job scheduled");
            let scheduler = Scheduler {
                job,
                clock,
                container: container.clone(),
                leases,
                running: Arc::default(),
            };
            tokio::spawn(scheduler.run(stop.clone()))
        })
        .collect()
}

struct Scheduler {
    job: Resolved,
    clock: Clock,
    container: Arc<Container>,
    leases: Option<Leases>,
    /// A run of this job is going on in this replica.
    running: Arc<AtomicBool>,
}

impl Scheduler {
    async fn run(self, stop: CancellationToken) -> Result<(), Infallible> {
        let this = Arc::new(self);
        let mut runs = JoinSet::new();
        let clock = this.clock;
        // Strictly after the last tick: waking a hair early must not run a tick twice. Ticks
        // missed while the process stalled are not made up.
        let mut last = clock.now();
        while let Some(tick) = this.job.schedule.after(&last.max(clock.now())).next() {
            last = tick;
            tokio::select! {
                () = clock.sleep_until(tick) => {}
                () = stop.cancelled() => break,
            }
            while runs.try_join_next().is_some() {}
            if let Some(claimed) = this.clone().start(tick).await {
                runs.spawn(claimed);
            }
        }
        // Stop scheduling; the runs in progress finish (the app's deadline bounds this).
        while runs.join_next().await.is_some() {}
        Ok(())
    }

    /// The run for `tick`, unless the tick is skipped or another replica has it.
    async fn start(self: Arc<Self>, tick: DateTime<Utc>) -> Option<impl Future<Output = ()>> {
        let job = self.job.record;
        let skip = job.overlap == Overlap::Skip;
        if skip && self.running.load(Ordering::SeqCst) {
            tracing::info!(job = job.handler, %tick, "tick skipped: the previous run is still going");
            return None;
        }
        let lease = match &self.leases {
            Some(leases) => leases.claim(tick, skip).await?,
            None => None,
        };
        self.running.store(true, Ordering::SeqCst);
        // One span and trace per run: the job's own logs carry them, and so do the records
        // it publishes.
        let span = tracing::info_span!(
            "job",
            otel.name = job.handler,
            otel.status_code = tracing::field::Empty,
            error.type = tracing::field::Empty,
            job = job.handler,
            module = crate::telemetry::module_of(job.handler),
            %tick,
            request_id = tracing::field::Empty,
            trace_id = tracing::field::Empty,
            span_id = tracing::field::Empty,
        );
        let context = WorkContext::begin(None, Default::default(), &span);
        let tags = |tag: &mut Tagger<'_>| {
            tag("job", job.handler);
            tag("module", crate::telemetry::module_of(job.handler));
        };
        let run = async move {
            self.run_once(tick, lease).await;
            self.running.store(false, Ordering::SeqCst);
        };
        Some(crate::work::unit(context, span, tags, run))
    }

    /// Runs the job once, renewing its lease meanwhile; a failure, panic or timeout is
    /// reported and the schedule goes on.
    async fn run_once(&self, tick: DateTime<Utc>, lease: Option<String>) {
        let job = self.job.record;
        let context = JobContext {
            job: job.handler,
            tick,
        };
        let started = Instant::now();
        // Checked at startup: a job that takes a `Tx` depends on `Transactions`.
        let tx = (job.transactional)()
            .then(|| self.container.get::<Transactions>())
            .flatten()
            .map(|transactions| transactions.begin());
        let work = crate::work::catch(async {
            let run = (job.run)(&self.container, &context);
            match &tx {
                Some(tx) => tx.clone().scope(run).await,
                None => run.await,
            }
        });
        let work = async {
            match job.timeout_secs {
                Some(secs) => tokio::time::timeout(Duration::from_secs(secs), work)
                    .await
                    .ok(),
                None => Some(work.await),
            }
        };
        let renewing = async {
            match (&self.leases, &lease) {
                (Some(leases), Some(key)) => leases.keep(key).await,
                _ => std::future::pending().await,
            }
        };
        let outcome = tokio::select! {
            outcome = work => outcome,
            // The lease was lost: another replica may run the job now.
            () = renewing => None,
        };
        let outcome = match &tx {
            Some(tx) => match tx.finish(matches!(outcome, Some(Ok(Ok(()))))).await {
                Ok(()) => outcome,
                Err(error) => Some(Ok(Err(Failure::of(&error)))),
            },
            None => outcome,
        };
        let elapsed = started.elapsed();
        let counted = match &outcome {
            Some(Ok(Ok(()))) => "succeeded",
            Some(Ok(Err(_))) => "failed",
            Some(Err(_)) => "panicked",
            None => "abandoned",
        };
        RUNS.record(&[job.handler, counted], elapsed);
        match outcome {
            Some(Ok(Ok(()))) => {
                tracing::info!(job = job.handler, %tick, ?elapsed, "job run finished")
            }
            Some(Ok(Err(failure))) => {
                tracing::error!(job = job.handler, %tick, code = failure.code, error = %failure.message, ?elapsed, "job run failed");
                crate::telemetry::record_error(&tracing::Span::current(), failure.code);
                crate::work::report_failure("job run failed", failure.code, &failure.message);
            }
            // Sentry's panic integration has reported it already, on the run's hub.
            Some(Err(panic)) => {
                tracing::error!(job = job.handler, %tick, code = "JOB_PANICKED", error = %panic, "job run panicked");
                crate::telemetry::record_error(&tracing::Span::current(), "JOB_PANICKED");
            }
            None => {
                tracing::error!(job = job.handler, %tick, code = "JOB_TIMED_OUT", ?elapsed, "job run abandoned: it timed out or lost its lease");
                crate::telemetry::record_error(&tracing::Span::current(), "JOB_TIMED_OUT");
                crate::work::report_failure(
                    "job run abandoned",
                    "JOB_TIMED_OUT",
                    &format!("it timed out or lost its lease after {elapsed:?}"),
                );
            }
        }
        if let (Some(leases), Some(key)) = (&self.leases, &lease) {
            leases.release(key).await;
        }
    }
}

/// A singleton job's leases, in the app's lease store (the cache's).
struct Leases {
    store: Arc<dyn LeaseStore>,
    owner: Arc<str>,
    job: &'static str,
}

impl Leases {
    /// Claims `tick` for this replica and, with `exclusive`, the job's run lease (held while
    /// a run goes on anywhere). `None`: the tick is not this replica's to run. `Some(key)`:
    /// the run lease to renew and release.
    async fn claim(&self, tick: DateTime<Utc>, exclusive: bool) -> Option<Option<String>> {
        let store = &*self.store;
        let owner = &*self.owner;
        let tick_key = format!("job:{}:tick:{}", self.job, tick.timestamp());
        match store.claim(&tick_key, owner, TICK_TTL).await {
            Ok(true) => {}
            Ok(false) => return None,
            Err(error) => {
                tracing::warn!(job = self.job, %tick, %error, "tick skipped: the lease store does not answer");
                return None;
            }
        }
        if !exclusive {
            return Some(None);
        }
        let run_key = format!("job:{}:running", self.job);
        match store.claim(&run_key, owner, LEASE_TTL).await {
            Ok(true) => Some(Some(run_key)),
            Ok(false) => {
                tracing::info!(job = self.job, %tick, "tick skipped: the previous run is still going on another replica");
                None
            }
            Err(error) => {
                tracing::warn!(job = self.job, %tick, %error, "tick skipped: the lease store does not answer");
                None
            }
        }
    }

    /// Renews the run lease `key` until it is lost (then returns) or the run ends.
    async fn keep(&self, key: &str) {
        loop {
            tokio::time::sleep(RENEW_EVERY).await;
            match self.store.renew(key, &self.owner, LEASE_TTL).await {
                Ok(true) => {}
                Ok(false) => {
                    tracing::error!(
                        job = self.job,
                        "the job's lease was lost; abandoning the run"
                    );
                    return;
                }
                // Transient: the lease lives LEASE_TTL, and the next renewal may succeed.
                Err(error) => {
                    tracing::warn!(job = self.job, %error, "cannot renew the job's lease")
                }
            }
        }
    }

    async fn release(&self, key: &str) {
        if let Err(error) = self.store.release(key, &self.owner).await {
            tracing::warn!(job = self.job, %error, "cannot release the job's lease; it expires by itself");
        }
    }
}
