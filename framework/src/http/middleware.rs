use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use sentry::integrations::tower::{SentryHttpLayer, SentryLayer};
use tower::util::option_layer;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnFailure, DefaultOnResponse, TraceLayer};
use tracing::Level;

use super::problem_layer::{REQUEST_ID, render_problems};
use crate::config::HttpConfig;
use crate::error::Problem;
use crate::telemetry::sentry::HubPerRequest;
use crate::telemetry::{WorkContextLayer, context_of};

/// The standard stack, outermost first: request id (set, then echoed), a Sentry hub with the
/// request's data (when Sentry is on), the work context (request id and trace, see
/// [`WorkContextLayer`]), a tracing span, request metrics, compression, problem+json rendering, panic -> 500, timeout, body limit.
///
/// Public so a hand-written axum router can get exactly the same stack (the benchmark does).
pub fn apply_standard_layers<S: Clone + Send + Sync + 'static>(
    router: Router<S>,
    config: &HttpConfig,
) -> Router<S> {
    let sentry = crate::telemetry::sentry::is_on();
    // `Router::layer` wraps the innermost layer first, so this list reads bottom-up.
    router
        .layer(DefaultBodyLimit::disable())
        .layer(RequestBodyLimitLayer::new(config.body_limit_bytes))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(config.request_timeout_secs),
        ))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(axum::middleware::from_fn(render_problems))
        .layer(CompressionLayer::new())
        .layer(axum::middleware::from_fn(crate::metrics::record_http))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                .on_response(DefaultOnResponse::new().level(Level::DEBUG))
                // 5xx causes are logged where they happen, with the error chain.
                .on_failure(DefaultOnFailure::new().level(Level::WARN)),
        )
        .layer(WorkContextLayer)
        .layer(option_layer(sentry.then(SentryHttpLayer::new)))
        .layer(option_layer(
            sentry.then(|| SentryLayer::<_, _, Request>::new(HubPerRequest)),
        ))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID.clone()))
        .layer(SetRequestIdLayer::new(REQUEST_ID.clone(), MakeRequestUuid))
}

fn request_span<B>(request: &axum::http::Request<B>) -> tracing::Span {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(MatchedPath::as_str)
        .unwrap_or_else(|| request.uri().path());
    let context = context_of(request);
    tracing::info_span!(
        "http",
        method = %request.method(),
        route,
        module = tracing::field::Empty,
        request_id = context.request_id.as_deref().unwrap_or_default(),
        trace_id = %context.trace.trace_id(),
        span_id = %context.trace.span_id(),
    )
}

fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!(panic = super::panic_message(&*panic), "handler panicked");
    Problem::internal().into_response()
}
