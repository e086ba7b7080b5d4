//! Built without the `sentry` feature: nothing is reported, and work runs on no hub. The same
//! functions as the Sentry module, so deliveries call them alike.

// Each delivery calls the ones it needs; a build with none of them calls few.
#![allow(dead_code)]

use std::future::Future;

/// No hub: there is nothing to report on.
pub(crate) enum WorkHub {}

/// Always false.
pub(crate) fn is_on() -> bool {
    false
}

/// None.
pub(crate) fn own_hub(_: impl FnOnce(&mut dyn FnMut(&str, &str))) -> Option<WorkHub> {
    None
}

/// None.
pub(crate) fn current_hub() -> Option<WorkHub> {
    None
}

/// `work` itself.
pub(crate) fn on_hub<F: Future>(work: F, _: Option<WorkHub>) -> F {
    work
}

/// Nothing.
pub(crate) fn tag(_: &[(&str, &str)]) {}

/// Nothing.
pub(crate) fn capture_error(_: &(dyn std::error::Error + 'static), _: &str) {}

/// Nothing.
pub(crate) fn capture_failure(_: &str, _: &str, _: &str) {}
