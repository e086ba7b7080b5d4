//! Shutdown as the HTTP and gRPC servers see it: the signal, the calls in flight, and bodies
//! that end when shutdown starts instead of holding it.
//!
//! A graceful drain waits for what is in flight. A response whose next frame is ready (any
//! unary answer) is sent in full, so in-flight requests drain. But a stream that waits for
//! its next event (a gRPC server stream, `grpc.health.v1.Health/Watch`, an SSE body) or for
//! its client (a client stream, a request body that stalls) never finishes by itself: once
//! shutdown starts, such a body ends at its first frame that is not ready. How it ends is
//! the protocol's business ([`Ending`]). And a connection with nothing in flight (a client
//! that ignores `GOAWAY`, or stalls mid-handshake) does not hold the drain either.
//!
//! Before all that, from the signal on (through `SHUTDOWN_DELAY_SECS`, which must be above 0
//! for it to help), the server is *leaving*: it still serves and accepts, but tells clients to
//! move away (HTTP/1.1 `connection: close` on every response, HTTP/2 `GOAWAY`), so that when
//! its listener closes, the connections clients were using are gone. An HTTP/1.1 connection
//! that stays idle through the whole delay hears nothing, and is closed at the stop.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use http_body::{Body, Frame, SizeHint};
use tokio::sync::Notify;
use tokio::sync::futures::Notified;
use tokio::time::{Instant, Sleep};
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};
use tokio_util::task::TaskTracker;
use tokio_util::task::task_tracker::TaskTrackerToken;

/// An error a body ends with.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Once shutdown started and no call is in flight, how long connections still open get to
/// close by themselves (a call that crossed the server's `GOAWAY` gets in, responses are
/// flushed) before the server stops waiting for them.
const IDLE_GRACE: Duration = Duration::from_millis(250);

/// Once shutdown started, how long a request body may wait for its next frame before it is
/// cut: a frame in transit (a unary call's message behind its headers) arrives well within
/// it, a client that stalls or a client stream waiting for its next message does not.
const REQUEST_GRACE: Duration = Duration::from_millis(250);

/// One server's view of shutdown: whether it started, and the calls still in flight.
///
/// Every call copies it for its bodies, and tonic clones the layers that hold it on every
/// call: it is a `&'static` rather than an `Arc`, whose count each concurrent call would bounce
/// between the cores twice per copy (with this `Arc` and the gRPC span maker's gone, the gRPC
/// bench's median went from 0.973 to 0.991 of hand-written tonic, on 2 cores). So each server
/// start leaves its `Shared` (under 200 bytes) for the rest of the process.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Drain {
    shared: &'static Shared,
}

/// What every call's bodies share. Bodies look at `started` and wait on `wake` rather than
/// on the `CancellationToken`: tokio-util's token takes its one mutex to clone, to drop, to
/// wait on and even for `is_cancelled`, and every concurrent call would contend for it.
#[derive(Debug)]
struct Shared {
    stop: CancellationToken,
    calls: TaskTracker,
    /// Set once shutdown was announced (or `stop` cancelled, whichever comes first).
    leaving: AtomicBool,
    /// Set once `stop` is cancelled, before `wake` wakes the bodies that wait.
    started: AtomicBool,
    wake: Notify,
}

impl Drain {
    /// The server is leaving once `leaving` resolves (the app's shutdown announced, see
    /// [`Health::shutting_down`]); shutdown starts when `stop` is cancelled. Spawns the task
    /// that relays them to the connections and bodies, so it must be called within the
    /// runtime.
    ///
    /// [`Health::shutting_down`]: crate::health::Health::shutting_down
    pub(crate) fn new(
        stop: CancellationToken,
        leaving: impl Future<Output = ()> + Send + 'static,
    ) -> Drain {
        let shared: &'static Shared = Box::leak(Box::new(Shared {
            stop: stop.clone(),
            calls: TaskTracker::new(),
            leaving: AtomicBool::new(false),
            started: AtomicBool::new(false),
            wake: Notify::new(),
        }));
        tokio::spawn(async move {
            tokio::select! {
                () = leaving => {}
                () = stop.cancelled() => {}
            }
            shared.leaving.store(true, Ordering::Relaxed);
            stop.cancelled().await;
            shared.started.store(true, Ordering::Release);
            shared.wake.notify_waiters();
        });
        Drain { shared }
    }

    /// Whether the server is leaving: its responses tell clients to go elsewhere.
    pub(crate) fn leaving(&self) -> bool {
        self.shared.leaving.load(Ordering::Relaxed)
    }

    /// Counts a call as in flight until the token is dropped (with its response body).
    pub(crate) fn call(&self) -> TaskTrackerToken {
        self.shared.calls.token()
    }

    /// Resolves when shutdown starts.
    pub(crate) fn stopped(&self) -> WaitForCancellationFutureOwned {
        self.shared.stop.clone().cancelled_owned()
    }

    /// Resolves once shutdown started and no call has been in flight for [`IDLE_GRACE`]:
    /// the connections still open then hold nothing that needs them.
    pub(crate) async fn idle(&self) {
        let calls = &self.shared.calls;
        self.shared.stop.cancelled().await;
        calls.close();
        loop {
            calls.wait().await;
            tokio::time::sleep(IDLE_GRACE).await;
            if calls.is_empty() {
                return;
            }
        }
    }
}

/// Why a body ends early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cut {
    /// Shutdown started while the body waited for its next frame.
    Shutdown,
    /// The call's deadline passed.
    Deadline,
}

/// How a body ends when it is cut: its last frame, or an error.
pub(crate) trait Ending: Unpin {
    /// The last item of the body.
    fn end<D>(&mut self, cut: Cut) -> Result<Frame<D>, BoxError>;
}

/// A body that ends early: at its first frame that is not ready once shutdown started, or
/// when its deadline passes. Otherwise it is the inner body, frame for frame.
pub(crate) struct DrainBody<B, E> {
    inner: B,
    ending: E,
    drain: Drain,
    /// Made on the first frame that is not ready: most unary bodies never need it.
    stopped: Option<Pin<Box<Notified<'static>>>>,
    deadline: Option<Instant>,
    timer: Option<Pin<Box<Sleep>>>,
    /// How long it may wait once shutdown started ([`REQUEST_GRACE`] for a request body,
    /// none for a response's), and the timer of that wait.
    grace: Duration,
    grace_timer: Option<Pin<Box<Sleep>>>,
    /// Keeps the call counted as in flight until the body is dropped.
    _call: Option<TaskTrackerToken>,
    done: bool,
}

impl<B, E> DrainBody<B, E> {
    /// `inner`, cut by `drain`'s shutdown or at `deadline`; `call` is the call's token
    /// (response bodies keep their call in flight; request bodies have none, and get
    /// [`REQUEST_GRACE`] after shutdown started before a frame that is not ready cuts them).
    pub(crate) fn new(
        inner: B,
        ending: E,
        drain: Drain,
        deadline: Option<Instant>,
        call: Option<TaskTrackerToken>,
    ) -> DrainBody<B, E> {
        DrainBody {
            inner,
            ending,
            drain,
            stopped: None,
            deadline,
            timer: None,
            grace: if call.is_some() {
                Duration::ZERO
            } else {
                REQUEST_GRACE
            },
            grace_timer: None,
            _call: call,
            done: false,
        }
    }
}

impl<B, E> DrainBody<B, E>
where
    B: Body,
    E: Ending,
{
    fn cut(&mut self, cut: Cut) -> Poll<Option<Result<Frame<B::Data>, BoxError>>> {
        self.done = true;
        Poll::Ready(Some(self.ending.end(cut)))
    }

    /// Whether the deadline passed; arms its timer when not.
    fn past_deadline(&mut self, cx: &mut Context<'_>) -> bool {
        let Some(deadline) = self.deadline else {
            return false;
        };
        let timer = self
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        timer.as_mut().poll(cx).is_ready()
    }

    /// Whether the grace after shutdown started is over; arms its timer when not.
    fn past_grace(&mut self, cx: &mut Context<'_>) -> bool {
        if self.grace.is_zero() {
            return true;
        }
        let grace = self.grace;
        let timer = self
            .grace_timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(grace)));
        timer.as_mut().poll(cx).is_ready()
    }

    /// Whether shutdown started; registers for it when not.
    fn stopping(&mut self, cx: &mut Context<'_>) -> bool {
        let shared = self.drain.shared;
        if shared.started.load(Ordering::Acquire) {
            return true;
        }
        // Made, then `started` read again: a `Notified` receives every `notify_waiters` made
        // after it, and the relay stores `started` before it notifies, so a shutdown that
        // starts between the two reads is seen by one of them.
        let stopped = self
            .stopped
            .get_or_insert_with(|| Box::pin(shared.wake.notified()));
        stopped.as_mut().poll(cx).is_ready() || shared.started.load(Ordering::Acquire)
    }
}

impl<B, E> Body for DrainBody<B, E>
where
    B: Body + Unpin,
    B::Error: Into<BoxError>,
    E: Ending,
{
    type Data = B::Data;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        if this.deadline.is_some_and(|d| d <= Instant::now()) {
            return this.cut(Cut::Deadline);
        }
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                // Nothing may follow trailers.
                this.done = frame.is_trailers();
                // The grace is per frame: a body still arriving is not a stalled one.
                this.grace_timer = None;
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(error))) => {
                this.done = true;
                Poll::Ready(Some(Err(error.into())))
            }
            Poll::Ready(None) => {
                this.done = true;
                Poll::Ready(None)
            }
            Poll::Pending if this.stopping(cx) && this.past_grace(cx) => this.cut(Cut::Shutdown),
            Poll::Pending if this.past_deadline(cx) => this.cut(Cut::Deadline),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl<B, E> std::fmt::Debug for DrainBody<B, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DrainBody")
            .field("deadline", &self.deadline)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use axum::body::Bytes;
    use http_body_util::{BodyExt, StreamBody};

    use super::*;

    /// Ends with an error naming the cut.
    struct Fail;

    impl Ending for Fail {
        fn end<D>(&mut self, cut: Cut) -> Result<Frame<D>, BoxError> {
            Err(format!("{cut:?}").into())
        }
    }

    fn drain() -> (CancellationToken, Drain) {
        let stop = CancellationToken::new();
        (stop.clone(), Drain::new(stop, std::future::pending()))
    }

    /// One frame now, then nothing (a stream waiting for its next event).
    fn waiting() -> impl Body<Data = Bytes, Error = Infallible> + Unpin {
        let first = futures_util::stream::iter([Ok(Frame::data(Bytes::from("first")))]);
        StreamBody::new(futures_util::StreamExt::chain(
            first,
            futures_util::stream::pending(),
        ))
    }

    #[tokio::test]
    async fn a_ready_body_is_sent_in_full_after_shutdown_started() {
        let (stop, drain) = drain();
        stop.cancel();
        let body = DrainBody::new(
            http_body_util::Full::new(Bytes::from("whole")),
            Fail,
            drain,
            None,
            None,
        );
        let bytes = body.collect().await.unwrap().to_bytes();
        assert_eq!(bytes, "whole");
    }

    #[tokio::test]
    async fn a_waiting_body_ends_when_shutdown_starts() {
        let (stop, drain) = drain();
        let mut body = DrainBody::new(waiting(), Fail, drain, None, Some(drain.call()));
        let first = body.frame().await.unwrap().unwrap();
        assert_eq!(first.into_data().unwrap(), "first");
        let cut = tokio::spawn(async move { body.frame().await.map(|r| r.map(drop)) });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!cut.is_finished(), "nothing cuts it before shutdown");
        stop.cancel();
        let error = cut.await.unwrap().unwrap().unwrap_err();
        assert_eq!(error.to_string(), "Shutdown");
        // Its call was counted until the body went away.
        tokio::time::timeout(Duration::from_secs(2), drain.idle())
            .await
            .expect("idle once the body is gone");
    }

    #[tokio::test]
    async fn a_request_body_waits_out_its_grace_before_it_is_cut() {
        let (stop, drain) = drain();
        // No call: a request body.
        let mut body = DrainBody::new(waiting(), Fail, drain, None, None);
        body.frame().await.unwrap().unwrap();
        stop.cancel();
        let started = Instant::now();
        let error = body.frame().await.unwrap().unwrap_err();
        assert_eq!(error.to_string(), "Shutdown");
        assert!(
            started.elapsed() >= REQUEST_GRACE,
            "{:?}",
            started.elapsed()
        );
    }

    #[tokio::test]
    async fn a_request_body_frame_in_transit_at_shutdown_still_arrives() {
        let (stop, drain) = drain();
        let frames = futures_util::stream::unfold(0, |n| async move {
            match n {
                0 => Some((Ok::<_, Infallible>(Frame::data(Bytes::from("first"))), 1)),
                // In transit when shutdown starts.
                1 => {
                    tokio::time::sleep(REQUEST_GRACE / 2).await;
                    Some((Ok(Frame::data(Bytes::from("second"))), 2))
                }
                _ => std::future::pending().await,
            }
        });
        let mut body = DrainBody::new(StreamBody::new(Box::pin(frames)), Fail, drain, None, None);
        body.frame().await.unwrap().unwrap();
        stop.cancel();
        let second = body.frame().await.unwrap().unwrap();
        assert_eq!(second.into_data().unwrap(), "second");
        // Then nothing more comes: cut once a grace passed without a frame.
        let waited = Instant::now();
        let error = body.frame().await.unwrap().unwrap_err();
        assert_eq!(error.to_string(), "Shutdown");
        assert!(waited.elapsed() >= REQUEST_GRACE, "{:?}", waited.elapsed());
    }

    #[tokio::test]
    async fn a_body_ends_at_its_deadline() {
        let (_stop, drain) = drain();
        let deadline = Instant::now() + Duration::from_millis(100);
        let mut body = DrainBody::new(waiting(), Fail, drain, Some(deadline), None);
        body.frame().await.unwrap().unwrap();
        let error = body.frame().await.unwrap().unwrap_err();
        assert_eq!(error.to_string(), "Deadline");
        assert!(Instant::now() >= deadline);
        assert!(body.frame().await.is_none(), "nothing after the cut");
    }

    #[tokio::test]
    async fn idle_waits_for_calls_in_flight() {
        let (stop, drain) = drain();
        let call = drain.call();
        stop.cancel();
        let idle = tokio::spawn(async move { drain.idle().await });
        tokio::time::sleep(IDLE_GRACE * 2).await;
        assert!(!idle.is_finished(), "a call is in flight");
        drop(call);
        tokio::time::timeout(Duration::from_secs(2), idle)
            .await
            .expect("idle after the call")
            .unwrap();
    }
}
