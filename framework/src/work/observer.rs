//! The seam through which a plugin watches every unit of work.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

/// The function that sets one tag (`key`, `value`) of a unit.
pub type Tagger<'a> = dyn FnMut(&str, &str) + 'a;

/// What a plugin that watches every unit of work implements and installs with [`observe`]: the
/// Sentry plugin reports each unit's server-side errors and panics with the unit's tags.
pub trait Observer: Send + Sync + 'static {
    /// A scope of its own for a new unit; `tags` is given the function that sets one tag.
    fn begin(&self, tags: &mut dyn FnMut(&mut Tagger<'_>)) -> Arc<dyn Scope>;

    /// The scope of the unit the calling task works for (what [`within`] entered), to carry
    /// onto another task.
    fn current(&self) -> Arc<dyn Scope>;

    /// Tags the current unit.
    fn tag(&self, key: &str, value: &str);

    /// An error that failed the current unit, with its source chain, under its stable `code`.
    fn error(&self, error: &(dyn std::error::Error + 'static), code: &str);

    /// A failure known by its code and message chain (a dead letter, a failed job run):
    /// `what` says what failed.
    fn failure(&self, what: &str, code: &str, chain: &str);
}

/// One unit's scope: what runs inside [`Scope::enter`] is reported under it.
pub trait Scope: Send + Sync {
    /// Runs `work` with this scope current, exactly once (the deliveries rely on it: a
    /// request's future is polled inside).
    fn enter(&self, work: &mut dyn FnMut());
}

static OBSERVER: OnceLock<Box<dyn Observer>> = OnceLock::new();

/// Whether the observer watches: read on every unit, so a flag rather than a lock.
static ON: AtomicBool = AtomicBool::new(false);

/// Installs the process's observer and starts observing. One observer per process (an error
/// reporter is process-wide): a second call keeps the first one and only starts it again.
pub fn observe(observer: impl Observer) {
    let _ = OBSERVER.set(Box::new(observer));
    ON.store(true, Ordering::Relaxed);
}

/// Stops observing (at shutdown, once the observer flushed what it holds).
pub fn stop_observing() {
    ON.store(false, Ordering::Relaxed);
}

fn observer() -> Option<&'static dyn Observer> {
    if ON.load(Ordering::Relaxed) {
        OBSERVER.get().map(|o| &**o)
    } else {
        None
    }
}

/// Whether an observer watches the units; a delivery skips work (building tags) when not.
pub fn is_observed() -> bool {
    observer().is_some()
}

/// A scope for a new unit, tagged by `tags` (given the function that sets one, and run only
/// when observed); `None` when nothing observes.
pub fn begin(tags: impl FnOnce(&mut Tagger<'_>)) -> Option<Arc<dyn Scope>> {
    let observer = observer()?;
    let mut tags = Some(tags);
    Some(observer.begin(&mut |tag| {
        if let Some(tags) = tags.take() {
            tags(tag);
        }
    }))
}

/// The current unit's scope, to carry onto another task; `None` when nothing observes.
pub fn current() -> Option<Arc<dyn Scope>> {
    observer().map(|o| o.current())
}

/// Tags the current unit (nothing when nothing observes).
pub fn tag(tags: &[(&str, &str)]) {
    if let Some(observer) = observer() {
        for (key, value) in tags {
            observer.tag(key, value);
        }
    }
}

/// Reports an error that failed the current unit (a 5xx, an `INTERNAL`), under `code`.
pub fn report_error(error: &(dyn std::error::Error + 'static), code: &str) {
    if let Some(observer) = observer() {
        observer.error(error, code);
    }
}

/// Logs a server-side failure of the current unit (`what`: `"request failed"`) at ERROR with
/// its chain, and reports it under `code`. A call that an open circuit breaker refused is
/// logged at DEBUG only, unreported: the breaker logged its opening, and while it stays open
/// an event per refused call would flood the logs and Sentry with that same news.
pub fn report_server_failure(error: &(dyn std::error::Error + 'static), code: &str, what: &str) {
    let chain = crate::error::error_chain(error);
    if crate::breaker::is_refusal(error) {
        tracing::debug!(code, error = %chain, "{what}: the circuit breaker is open");
        return;
    }
    tracing::error!(code, error = %chain, "{what}");
    report_error(error, code);
}

/// Reports a failure known by its code and message chain: `what` failed.
pub fn report_failure(what: &str, code: &str, chain: &str) {
    if let Some(observer) = observer() {
        observer.failure(what, code, chain);
    }
}

/// `work()`, run inside `scope` when there is one.
pub fn enter<R>(scope: Option<&Arc<dyn Scope>>, work: impl FnOnce() -> R) -> R {
    let Some(scope) = scope else {
        return work();
    };
    let (mut work, mut out) = (Some(work), None);
    scope.enter(&mut || out = work.take().map(|work| work()));
    out.expect("a scope runs its work")
}

/// `work`, polled inside `scope` when there is one.
pub fn within<F: Future>(work: F, scope: Option<Arc<dyn Scope>>) -> Within<F> {
    Within { work, scope }
}

pin_project_lite::pin_project! {
    /// The future of [`within`].
    pub struct Within<F> {
        #[pin]
        work: F,
        scope: Option<Arc<dyn Scope>>,
    }
}

impl<F: Future> Future for Within<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let Some(scope) = this.scope else {
            return this.work.poll(cx);
        };
        let mut work = this.work;
        let mut polled = Poll::Pending;
        scope.enter(&mut || polled = work.as_mut().poll(cx));
        polled
    }
}
