//! The context of the work in progress (its request id and trace), so it travels on: from
//! an HTTP request or gRPC call into the Kafka records it publishes, and from a consumed
//! record into its handler's own publishes.

use std::future::Future;

use opentelemetry::Context;
use tokio::task::futures::TaskLocalFuture;

use super::TraceContext;

/// The request id and trace of one HTTP request, gRPC call, consumed record or job run.
#[derive(Debug, Clone)]
pub struct WorkContext {
    /// The `x-request-id` it came with or was given, if any: always
    /// [valid](super::is_valid_request_id) when it came from [`WorkContext::begin`].
    pub request_id: Option<String>,
    /// Its span of the trace.
    pub trace: TraceContext,
}

tokio::task_local! {
    static CURRENT: WorkContext;
}

impl WorkContext {
    /// The context of the unit whose span is `span`, which arrived with `request_id` and
    /// continues `parent` (see [`TraceContext::begin`]): a request id that is not
    /// [valid](super::is_valid_request_id) counts as none. Records the request id and the
    /// trace's ids on the span's `request_id`, `trace_id` and `span_id` fields, which it must
    /// declare (as `tracing::field::Empty`).
    pub fn begin(request_id: Option<&[u8]>, parent: Context, span: &tracing::Span) -> Self {
        let request_id = request_id
            .filter(|id| super::is_valid_request_id(id))
            .and_then(|id| std::str::from_utf8(id).ok())
            .map(str::to_owned);
        if let Some(id) = &request_id {
            span.record("request_id", id.as_str());
        }
        WorkContext {
            request_id,
            trace: TraceContext::begin(parent, span),
        }
    }

    /// The context of the current task, if it runs inside [`WorkContext::scope`].
    pub fn current() -> Option<WorkContext> {
        CURRENT.try_with(Clone::clone).ok()
    }

    /// Runs `work` with this as the current context.
    pub fn scope<F: Future>(self, work: F) -> TaskLocalFuture<WorkContext, F> {
        CURRENT.scope(self, work)
    }
}
