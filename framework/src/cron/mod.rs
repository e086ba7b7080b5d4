//! `#[cron_job]`: async functions run on a cron schedule (with seconds). A singleton job runs
//! once per tick across all replicas, through leases in the cache's store (Redis, or the
//! in-process store of the embedded default). By default a tick is skipped while the
//! previous run still goes on.

mod clock;
mod plugin;
pub(crate) mod record;
mod scheduler;
#[cfg(test)]
mod tests;

use std::str::FromStr;

use chrono::{DateTime, Utc};

pub(crate) use record::JobRecord;
pub(crate) use scheduler::start_jobs;

use crate::config::{ConfigError, Settings};

/// What a tick does while the previous run goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overlap {
    /// Skip the tick (the default).
    Skip,
    /// Start another run.
    Allow,
}

/// A job with its schedule read (from the config, if `${KEY}`) and parsed.
#[derive(Clone)]
pub(crate) struct Resolved {
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
