//! The tower plumbing of a check that stands before a service (the guard, the rate limit):
//! a [`Gate`] decides each request (lets it through, possibly changed, or answers it itself),
//! and [`GateLayer`] puts it in front of any HTTP or gRPC service.

use std::sync::Arc;
use std::task::{Context, Poll};

use axum::http::{Request, Response};
use futures_util::future::{BoxFuture, Either};

/// What a gate's call returns: the inner service's own future when the gate decided at once
/// and let the request through, else a boxed one.
pub(crate) type GateFuture<F, B, E> = Either<F, BoxFuture<'static, Result<Response<B>, E>>>;

/// A service a gate stands before: any that answers `Request<R>` with `Response<B>` and can
/// move to another task.
pub(crate) trait Inner<R, B>:
    tower::Service<
        Request<R>,
        Response = Response<B>,
        Future: Send + 'static,
        Error: Send + 'static,
    > + Clone
    + Send
    + 'static
{
}

impl<S, R, B> Inner<R, B> for S
where
    S: tower::Service<Request<R>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
}

/// A check before a service.
pub(crate) trait Gate<B>: Send + Sync + 'static {
    /// Decides `request`: calls `inner` with it (made ready by the caller, per tower's
    /// contract; [`take_ready`] for a call from a boxed future), or answers it.
    fn call<S: Inner<R, B>, R: Send + 'static>(
        self: &Arc<Self>,
        inner: &mut S,
        request: Request<R>,
    ) -> GateFuture<S::Future, B, S::Error>;
}

/// The ready `inner`, for a future to call later, leaving a clone in its place: the clone is
/// not ready, the service that `poll_ready` readied is (tower's `Service` contract).
pub(crate) fn take_ready<S: Clone>(inner: &mut S) -> S {
    let clone = inner.clone();
    std::mem::replace(inner, clone)
}

/// Puts the gate `G` in front of a service.
pub(crate) struct GateLayer<G>(Arc<G>);

impl<G> GateLayer<G> {
    pub(crate) fn new(gate: G) -> Self {
        GateLayer(Arc::new(gate))
    }
}

impl<G> Clone for GateLayer<G> {
    fn clone(&self) -> Self {
        GateLayer(self.0.clone())
    }
}

impl<S, G> tower::Layer<S> for GateLayer<G> {
    type Service = Gated<S, G>;

    fn layer(&self, inner: S) -> Gated<S, G> {
        Gated {
            inner,
            gate: self.0.clone(),
        }
    }
}

/// See [`GateLayer`].
pub(crate) struct Gated<S, G> {
    inner: S,
    gate: Arc<G>,
}

impl<S: Clone, G> Clone for Gated<S, G> {
    fn clone(&self) -> Self {
        Gated {
            inner: self.inner.clone(),
            gate: self.gate.clone(),
        }
    }
}

// `B` is named through `S::Response` (an `Inner<R, B>` bound would leave it unconstrained).
impl<S, G, B, R> tower::Service<Request<R>> for Gated<S, G>
where
    S: tower::Service<Request<R>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    G: Gate<B>,
    B: Send + 'static,
    R: Send + 'static,
{
    type Response = Response<B>;
    type Error = S::Error;
    type Future = GateFuture<S::Future, B, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<R>) -> Self::Future {
        self.gate.call(&mut self.inner, request)
    }
}
