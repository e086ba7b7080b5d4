//! The tower layer that gives each HTTP request and gRPC call its [`WorkContext`]: from the
//! `x-request-id` (set just outside it) and an incoming `traceparent`.

use std::borrow::Cow;
use std::task::{Context, Poll};

use axum::http::Request;
use tokio::task::futures::TaskLocalFuture;
use tower::{Layer, Service};

use super::REQUEST_ID;
use crate::telemetry::{TRACEPARENT, WorkContext};

/// Puts the request's [`WorkContext`] in its extensions (for the span) and makes it the
/// current one while the request is handled (for what the handler publishes).
#[derive(Debug, Clone, Copy, Default)]
pub struct WorkContextLayer;

impl<S> Layer<S> for WorkContextLayer {
    type Service = WorkContextService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        WorkContextService { inner }
    }
}

/// The service of [`WorkContextLayer`].
#[derive(Debug, Clone)]
pub struct WorkContextService<S> {
    inner: S,
}

impl<S, B> Service<Request<B>> for WorkContextService<S>
where
    S: Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = crate::work::Within<TaskLocalFuture<WorkContext, S::Future>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let headers = request.headers();
        let context = WorkContext::from_headers(
            headers.get(&REQUEST_ID).map(|v| v.as_bytes()),
            headers.get(TRACEPARENT).map(|v| v.as_bytes()),
        );
        // The request's own observer scope (a Sentry hub), for what the layers inside and
        // the handler report; tagged further with its route by the span's maker.
        let scope = crate::work::begin(|tag| {
            tag(
                "request_id",
                context.request_id.as_deref().unwrap_or_default(),
            );
            tag("trace_id", &context.trace.trace_id().to_string());
        });
        request.extensions_mut().insert(context.clone());
        let call = crate::work::enter(scope.as_ref(), || self.inner.call(request));
        crate::work::within(context.scope(call), scope)
    }
}

/// The context [`WorkContextLayer`] gave `request`, or a new one outside it.
pub(crate) fn context_of<B>(request: &Request<B>) -> Cow<'_, WorkContext> {
    match request.extensions().get::<WorkContext>() {
        Some(context) => Cow::Borrowed(context),
        None => Cow::Owned(WorkContext::from_headers(None, None)),
    }
}
