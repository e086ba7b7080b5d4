//! The record `#[cron_job]` submits, and the parameters it extracts: not public API
//! (`framework::__private` names them).

use futures_util::future::BoxFuture;

use super::{JobContext, Overlap};
use crate::di::{Container, Inject, Location};
use crate::error::{ErrorKind, Failure};
use crate::transaction::{Tx, TxError};

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
    /// Whether a parameter is the run's `Tx`: each run is then a transaction, committed when
    /// the job returns `Ok`.
    pub transactional: fn() -> bool,
    /// Where it is written.
    pub location: Location,
}

inventory::collect!(JobRecord);

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

/// The run's transaction, committed when the job returns `Ok` and rolled back when it fails,
/// panics or times out.
impl FromJob for Tx {
    fn from_job(_: &JobContext, _: &Container) -> Result<Self, Failure> {
        Tx::current().ok_or_else(|| Failure::of(&TxError::OutsideUnit))
    }
}

/// A singleton component; checked at startup like every `Inject<T>`.
impl<T: ?Sized + Send + Sync + 'static> FromJob for Inject<T> {
    fn from_job(_: &JobContext, container: &Container) -> Result<Self, Failure> {
        container.get::<T>().map(Inject).ok_or_else(|| Failure {
            kind: ErrorKind::Internal,
            code: "JOB_COMPONENT_MISSING",
            message: format!("component `{}` is not built", std::any::type_name::<T>()),
            refused_for: None,
        })
    }
}
