//! The wiring check's vocabulary, where the framework's users and tests have always found it:
//! where a registration was written, and the problems the check reports.

pub use crate::di::{
    BuildContext, BuildError, BuildFuture, Candidate, Condition, Field, Location, Needer,
    ProviderKind, ProviderRecord, StopHook, WiringError, WiringReport, shared,
};
pub use crate::error::ErrorCodeRecord;
