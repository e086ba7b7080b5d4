//! The request id of the work in progress, so it travels on: into the Kafka records an HTTP
//! or gRPC handler publishes, and from a consumed record into the handler's own publishes.

use std::future::Future;

tokio::task_local! {
    static CURRENT: String;
}

/// The request id of the current task, if it runs inside [`scope`].
pub fn current() -> Option<String> {
    CURRENT.try_with(Clone::clone).ok()
}

/// Runs `work` with `id` as the current request id.
pub async fn scope<F: Future>(id: String, work: F) -> F::Output {
    CURRENT.scope(id, work).await
}
