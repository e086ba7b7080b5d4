//! One unit of work: an HTTP request, a gRPC call, a consumed record, a job run, or whatever a
//! plugin delivers. Every delivery gives its units the same things: a
//! [`WorkContext`](crate::telemetry::WorkContext) (request id and trace), a span, and a scope
//! in which an [`Observer`] (the Sentry plugin) sees its errors and panics, tagged with what
//! the unit is. The deliveries call these functions; an observing plugin installs itself with
//! [`observe`]. With no observer, each is a flag read and nothing more.

mod observer;

pub use observer::{
    Observer, Scope, Tagger, Within, begin, current, enter, is_observed, observe, report_error,
    report_failure, stop_observing, tag, within,
};
