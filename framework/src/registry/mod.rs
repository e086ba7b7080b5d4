//! The wiring check's vocabulary, where the framework's users and tests have always found it:
//! where a registration was written, and the problems the check reports.

pub use crate::di::{BuildError, Candidate, Location, Needer, WiringError, WiringReport};
