//! One unit of work: an HTTP request, a gRPC call, a consumed record, a job run, or whatever a
//! plugin delivers. Every delivery gives its units the same things: a
//! [`WorkContext`] (request id and trace), a span, and a scope
//! in which an [`Observer`] (the Sentry plugin) sees its errors and panics, tagged with what
//! the unit is; a panic is caught ([`catch`]) where the delivery answers for it. The
//! deliveries call these functions; an observing plugin installs itself with [`observe`].
//! With no observer, each is a flag read and nothing more.

mod observer;
mod panic;

use std::future::Future;

use tracing::Instrument;

use crate::telemetry::WorkContext;

/// Runs `work` as one unit of work: inside `span`, with `context` current (its request id and
/// trace travel into what the work publishes), and in an observer scope of its own, tagged by
/// `tags` and with the unit's `trace_id` and `request_id`. Deliveries that are not tower
/// services (a consumer, a scheduler, a plugin's own loop) call this for each unit.
pub fn unit<F: Future>(
    context: WorkContext,
    span: tracing::Span,
    tags: impl FnOnce(&mut Tagger<'_>),
    work: F,
) -> impl Future<Output = F::Output> {
    let scope = begin(|tag| {
        tags(tag);
        tag("trace_id", &context.trace.trace_id().to_string());
        if let Some(request_id) = &context.request_id {
            tag("request_id", request_id);
        }
    });
    within(context.scope(work), scope).instrument(span)
}

/// `work`, to run on another task as part of the current unit: with its context, tracing
/// span and observer scope.
pub(crate) fn carry<F: Future>(work: F) -> impl Future<Output = F::Output> {
    let work = within(work.instrument(tracing::Span::current()), current());
    let context = WorkContext::current();
    async move {
        match context {
            Some(context) => context.scope(work).await,
            None => work.await,
        }
    }
}

pub use panic::{Panicked, catch, catch_now};

pub use observer::{
    Observer, Scope, Tagger, Within, begin, current, enter, is_observed, observe, report_error,
    report_failure, report_server_failure, stop_observing, tag, within,
};
