//! The context of the work in progress (its request id and trace), so it travels on: from
//! an HTTP request or gRPC call into the Kafka records it publishes, and from a consumed
//! record into its handler's own publishes.

use std::future::Future;

use tokio::task::futures::TaskLocalFuture;

use super::TraceContext;

/// The request id and trace of one HTTP request, gRPC call, consumed record or job run.
#[derive(Debug, Clone)]
pub struct WorkContext {
    /// The `x-request-id` it came with or was given, if any: always
    /// [valid](super::is_valid_request_id) when it came from [`WorkContext::from_headers`].
    pub request_id: Option<String>,
    /// Its span of the trace.
    pub trace: TraceContext,
}

tokio::task_local! {
    static CURRENT: WorkContext;
}

impl WorkContext {
    /// The context of work that arrived with these (optional) headers: a request id that
    /// is not [valid](super::is_valid_request_id) counts as none, and a malformed
    /// `traceparent` starts a new trace.
    pub fn from_headers(request_id: Option<&[u8]>, traceparent: Option<&[u8]>) -> Self {
        WorkContext {
            request_id: request_id
                .filter(|id| super::is_valid_request_id(id))
                .and_then(|id| std::str::from_utf8(id).ok())
                .map(str::to_owned),
            trace: TraceContext::continue_from(traceparent),
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
