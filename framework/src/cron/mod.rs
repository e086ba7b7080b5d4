//! `#[cron_job]`: async functions run on a cron schedule (with seconds). A singleton job runs
//! once per tick across all replicas, through leases in the cache's store (Redis, or the
//! in-process store of the embedded default). By default a tick is skipped while the
//! previous run still goes on.

mod clock;
mod plugin;
mod scheduler;
#[cfg(test)]
mod tests;

use std::str::FromStr;

use chrono::{DateTime, Utc};

pub(crate) use scheduler::start_jobs;

use crate::config::{ConfigError, Settings};
use crate::di::Location;
use crate::di::{Container, Inject};
use crate::error::{ErrorKind, Failure};
use futures_util::future::BoxFuture;

/// What a tick does while the previous run goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overlap {
    /// Skip the tick (the default).
    Skip,
    /// Start another run.
    Allow,
}

/// The adapter the macro generates: extracts the parameters and runs the job once.
pub type Run = for<'a> fn(&'a Container, &'a JobContext) -> BoxFuture<'a, Result<(), Failure>>;

/// A `#[cron_job]`.
pub struct JobRecord {
    /// The function's path.
    pub handler: &'static str,
    /// The cron expression, or `${KEY}` to read it from the config.
    pub schedule: &'static str,
    /// One run per tick across all replicas.
    pub singleton: bool,
    /// What a tick does while the previous run goes on.
    pub overlap: Overlap,
    /// A run taking longer is abandoned and reported.
    pub timeout_secs: Option<u64>,
    /// Runs the job.
    pub run: Run,
    /// The `Inject<T>` parameters.
    pub dependencies: fn() -> Vec<crate::di::Dependency>,
    /// Where it is written.
    pub location: Location,
}

inventory::collect!(JobRecord);

/// A job with its schedule read (from the config, if `${KEY}`) and parsed.
#[derive(Clone)]
pub struct Resolved {
    /// The record.
    pub record: &'static JobRecord,
    /// The cron expression.
    pub expression: String,
    /// The parsed schedule.
    pub schedule: cron::Schedule,
}

impl Resolved {
    /// Resolves the schedule of `record` against the config.
    pub fn new(record: &'static JobRecord, settings: &Settings) -> Result<Resolved, ConfigError> {
        let expression = settings.resolve(record.schedule)?;
        let schedule = cron::Schedule::from_str(&expression).map_err(|_| {
            // Only a schedule from the config gets here: a literal one was checked when
            // compiling. (The parser's own message is a caret under the expression.)
            let key = record
                .schedule
                .trim_start_matches("${")
                .trim_end_matches('}');
            settings.invalid(
                key,
                "not a cron expression with seconds, `sec min hour day-of-month month \
                 day-of-week [year]`, e.g. \"0 */5 * * * *\"",
            )
        })?;
        Ok(Resolved {
            record,
            expression,
            schedule,
        })
    }

    /// The next tick after now.
    pub fn next_run(&self) -> Option<DateTime<Utc>> {
        self.schedule.upcoming(Utc).next()
    }
}

/// What a run knows about itself: a job parameter (`context: JobContext`).
#[derive(Debug, Clone)]
pub struct JobContext {
    /// The job's path.
    pub job: &'static str,
    /// The tick this run is for.
    pub tick: DateTime<Utc>,
}

/// A job parameter.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a `#[cron_job]` parameter",
    label = "not a job parameter",
    note = "job parameters are `Inject<T>` and `JobContext`"
)]
pub trait FromJob: Sized {
    /// Takes the parameter from the run's context and the container.
    fn from_job(context: &JobContext, container: &Container) -> Result<Self, Failure>;
}

impl FromJob for JobContext {
    fn from_job(context: &JobContext, _: &Container) -> Result<Self, Failure> {
        Ok(context.clone())
    }
}

/// A singleton component; checked at startup like every `Inject<T>`.
impl<T: ?Sized + Send + Sync + 'static> FromJob for Inject<T> {
    fn from_job(_: &JobContext, container: &Container) -> Result<Self, Failure> {
        container.get::<T>().map(Inject).ok_or_else(|| Failure {
            kind: ErrorKind::Internal,
            code: "JOB_COMPONENT_MISSING",
            message: format!("component `{}` is not built", std::any::type_name::<T>()),
        })
    }
}
