//! The tower layer that makes each HTTP request and gRPC call a unit of work: its span, and its
//! [`WorkContext`] from the `x-request-id` (set just outside it) and the incoming trace
//! context (`traceparent`, `tracestate`, `baggage`).

use std::task::{Context, Poll};

use axum::http::{HeaderMap, Request};
use tokio::task::futures::TaskLocalFuture;
use tower::{Layer, Service};

use super::REQUEST_ID;
use crate::telemetry::WorkContext;

/// Makes the request's span with `make_span` (inside the request's observer scope, so that it
/// may tag it), puts the span and the request's [`WorkContext`] in its extensions (the span
/// for `tower_http`'s `TraceLayer` inside: see [`span_of`]), and makes the context the current
/// one while the request is handled (for what the handler publishes).
#[derive(Debug, Clone, Copy)]
pub struct WorkContextLayer<M> {
    make_span: M,
}

impl<M> WorkContextLayer<M> {
    /// The layer making each request's span with `make_span`, which must declare the
    /// `trace_id` and `span_id` fields (`tracing::field::Empty`): they are recorded once the
    /// trace is known.
    pub fn new(make_span: M) -> Self {
        WorkContextLayer { make_span }
    }
}

impl<S, M: Clone> Layer<S> for WorkContextLayer<M> {
    type Service = WorkContextService<S, M>;

    fn layer(&self, inner: S) -> Self::Service {
        WorkContextService {
            inner,
            make_span: self.make_span.clone(),
        }
    }
}

/// The service of [`WorkContextLayer`].
#[derive(Debug, Clone)]
pub struct WorkContextService<S, M> {
    inner: S,
    make_span: M,
}

/// The unit's span, in the request's extensions.
#[derive(Clone)]
struct UnitSpan(tracing::Span);

impl<S, M, B> Service<Request<B>> for WorkContextService<S, M>
where
    S: Service<Request<B>>,
    M: Fn(&Request<B>) -> tracing::Span,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = crate::work::Within<TaskLocalFuture<WorkContext, S::Future>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        // The request's own observer scope (a Sentry hub), for what the layers inside and
        // the handler report; tagged further with its route by the span's maker.
        let scope = crate::work::begin(|_| {});
        let (call, context) = crate::work::enter(scope.as_ref(), || {
            let span = (self.make_span)(&request);
            let headers = request.headers();
            let parent = crate::telemetry::extract(&HeaderExtractor(headers));
            let context = WorkContext::begin(
                headers.get(&REQUEST_ID).map(|v| v.as_bytes()),
                parent,
                &span,
            );
            if crate::work::is_observed() {
                let trace_id = context.trace.trace_id().to_string();
                let request_id = context.request_id.as_deref().unwrap_or_default();
                crate::work::tag(&[("request_id", request_id), ("trace_id", &trace_id)]);
            }
            let extensions = request.extensions_mut();
            extensions.insert(context.clone());
            extensions.insert(UnitSpan(span));
            (self.inner.call(request), context)
        });
        crate::work::within(context.scope(call), scope)
    }
}

/// The span [`WorkContextLayer`] made for `request`: what `tower_http`'s `TraceLayer` inside
/// it takes as its span maker (`make_span_with(span_of)`). A disabled span outside the layer.
pub fn span_of<B>(request: &Request<B>) -> tracing::Span {
    request
        .extensions()
        .get::<UnitSpan>()
        .map_or_else(tracing::Span::none, |span| span.0.clone())
}

/// Headers as OpenTelemetry's propagators read them: a value that is not visible ASCII counts
/// as absent.
pub(crate) struct HeaderExtractor<'a>(pub(crate) &'a HeaderMap);

impl opentelemetry::propagation::Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|name| name.as_str()).collect()
    }
}
