//! Cron jobs as a plugin: every `#[cron_job]` needs its dependencies (and, when a singleton,
//! a [`LeaseStore`], which the cache provides), names a schedule (read from the config when
//! `${KEY}`), and is scheduled once the components are built; shutdown waits for the runs in
//! progress.

use std::convert::Infallible;
use std::fmt::Write;

use tokio::task::JoinHandle;

use super::{JobRecord, Overlap, Resolved};
use crate::config::{ConfigError, Settings};
use crate::di::{BuildError, Location, WiringError};
use crate::di::{Dependency, Key};
use crate::lease::LeaseStore;
use crate::plugin::{Check, Plugin, PluginRecord, Stage, Wiring, resolve_each};
use crate::transaction::Transactions;

inventory::submit! {
    PluginRecord {
        name: "cron",
        order: 400,
        create: CronPlugin::create,
        location: Location { file: file!(), line: line!() },
    }
}

struct CronPlugin {
    records: Vec<&'static JobRecord>,
    schedulers: Vec<JoinHandle<Result<(), Infallible>>>,
}

impl CronPlugin {
    fn create(_: &Settings) -> Result<Box<dyn Plugin>, ConfigError> {
        let mut records: Vec<_> = inventory::iter::<JobRecord>.into_iter().collect();
        records.sort_by_key(|j| (j.handler, j.location));
        Ok(Box::new(CronPlugin {
            records,
            schedulers: Vec::new(),
        }))
    }

    /// The jobs with their schedules read from `settings` and parsed, and the errors: a
    /// missing schedule key, an invalid expression.
    fn resolve(&self, settings: &Settings) -> (Vec<Resolved>, Vec<WiringError>) {
        resolve_each(
            &self.records,
            settings,
            "job",
            |r| (r.handler, r.location),
            Resolved::new,
        )
    }
}

#[crate::async_trait]
impl Plugin for CronPlugin {
    fn check(&self, check: &mut Check<'_>) {
        for job in &self.records {
            let mut dependencies = (job.dependencies)();
            if job.singleton {
                // One run per tick across replicas: leases (the cache provides them).
                dependencies.push(Dependency::Component(Key::of::<dyn LeaseStore>()));
            }
            if (job.transactional)() {
                dependencies.push(Dependency::Component(Key::of::<Transactions>()));
            }
            check.handler("job", job.handler, job.location, dependencies);
        }
        let (_, errors) = self.resolve(check.settings());
        check.errors(errors);
    }

    fn describe(&self, wiring: &mut Wiring<'_>) {
        if self.records.is_empty() {
            return;
        }
        let _ = writeln!(wiring, "\njobs:");
        for job in self.resolve(wiring.settings()).0 {
            let record = job.record;
            let next = job
                .next_run()
                .map_or_else(|| "never".to_owned(), |t| t.to_rfc3339());
            let overlap = match record.overlap {
                Overlap::Skip => "skip",
                Overlap::Allow => "allow",
            };
            let timeout = record
                .timeout_secs
                .map_or_else(|| "none".to_owned(), |s| format!("{s} s"));
            let _ = writeln!(
                wiring,
                "  \"{}\" -> {}  {}\n    next run {next}, singleton {}, overlap {overlap}, timeout {timeout}",
                job.expression, record.handler, record.location, record.singleton
            );
        }
    }

    async fn start(&mut self, stage: &mut Stage<'_>) -> Result<(), BuildError> {
        let Some(container) = stage.container else {
            return Ok(());
        };
        let (jobs, _) = self.resolve(stage.settings());
        self.schedulers = super::start_jobs(jobs, container, stage.shutdown());
        Ok(())
    }

    async fn drain(&mut self) {
        // Each stops scheduling, and its runs in progress finish.
        for scheduler in self.schedulers.drain(..) {
            crate::plugin::drained("job scheduler", scheduler).await;
        }
    }
}
