//! Work that must not be cut in half when its caller stops waiting.
//!
//! A handler's future is dropped when the request times out (408), the gRPC deadline passes
//! or the client goes away. Whatever it was awaiting stops at that point, which is right
//! before a commit (a dropped sqlx transaction rolls back) and wrong after it: a commit whose
//! event is then never published is work that outlives the response that reported its
//! failure. [`shield`] runs such a tail on a task of its own that finishes either way, and
//! the app's shutdown waits for it (under `SHUTDOWN_TIMEOUT_SECS`).

use std::future::Future;
use std::sync::LazyLock;
use std::time::Duration;

use tokio_util::task::TaskTracker;

/// Every shielded task of the process; shutdown waits for them.
static SHIELDED: LazyLock<TaskTracker> = LazyLock::new(TaskTracker::new);

/// Runs `work` to completion even if the future returned here is dropped, and returns its
/// output when it is awaited to the end.
///
/// The work keeps the caller's request id, trace context, tracing span and Sentry hub (what
/// it publishes carries them), and the app's shutdown waits for it after draining requests,
/// before the components (pools, producer) stop. A panic in `work` is resumed in the caller.
///
/// Shield only what must not stop half-way, typically a commit and what must follow it:
///
/// ```ignore
/// let staged = repo.insert(&article).await?;          // dropped here: rolled back
/// framework::shield(async move {
///     staged.commit().await?;                          // from here on, both happen
///     producer.publish_json(topic, &key, &event).await
/// })
/// .await?;
/// ```
pub async fn shield<F>(work: F) -> F::Output
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let task = SHIELDED.spawn(crate::work::carry(work));
    match task.await {
        Ok(output) => output,
        Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
        // Never aborted: only a runtime that shuts down cancels it, and then nobody waits.
        Err(_) => std::future::pending().await,
    }
}

/// Waits, at most `deadline`, for the shielded work in progress; `false` if some was left.
pub(crate) async fn wait_for_shielded(deadline: Duration) -> bool {
    SHIELDED.close();
    let finished = tokio::time::timeout(deadline, SHIELDED.wait())
        .await
        .is_ok();
    // Several apps may run in one process (tests): later work is tracked again.
    SHIELDED.reopen();
    finished
}
