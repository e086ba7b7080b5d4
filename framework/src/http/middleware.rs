use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

use super::HttpConfig;
use super::Problem;
use super::RouteRecord;
use super::labels::http_method;
use super::problem_layer::render_problems;
use crate::serving::{WorkContextLayer, context_of, request_id_layer};
use crate::telemetry::bounded::{MAX_FIELD, truncated};

/// The standard stack, outermost first: request id (an invalid one dropped, a missing one
/// generated, then echoed: see [`request_id_layer`]), the work context (request id and trace,
/// and the observer's scope when one watches: see [`WorkContextLayer`]), CORS (when
/// `HTTP_CORS_ALLOWED_ORIGINS` is set), the security headers (`x-content-type-options`,
/// `x-frame-options`, `referrer-policy`, `content-security-policy`, and HSTS when
/// configured), a tracing span, request metrics, response compression, problem+json
/// rendering, panic -> 500, timeout, request decompression (`Content-Encoding: gzip`; any
/// other coding answers 415 `UNSUPPORTED_CONTENT_ENCODING` with `Accept-Encoding: gzip`), and
/// the body limit, on the decoded body.
///
/// Public so a hand-written axum router can get exactly the same stack (the benchmark does).
pub fn apply_standard_layers<S: Clone + Send + Sync + 'static>(
    router: Router<S>,
    config: &HttpConfig,
) -> Router<S> {
    standard_layers(router, config, RouteModules::default())
}

/// The module of each route, by path template and method, for the request spans and Sentry.
#[derive(Debug, Clone, Default)]
pub(crate) struct RouteModules(Arc<HashMap<String, Vec<(&'static str, &'static str)>>>);

impl RouteModules {
    pub(crate) fn new(routes: &[&'static RouteRecord], base_path: &str) -> RouteModules {
        let mut modules: HashMap<String, Vec<_>> = HashMap::new();
        for route in routes {
            let module = crate::telemetry::module_of(route.handler);
            let template = super::full_path(base_path, route.path);
            modules
                .entry(template)
                .or_default()
                .push((route.method, module));
        }
        RouteModules(Arc::new(modules))
    }

    fn of(&self, template: &str, method: &Method) -> Option<&'static str> {
        let methods = self.0.get(template)?;
        methods
            .iter()
            .find(|(m, _)| *m == method.as_str())
            .map(|(_, module)| *module)
    }
}

/// [`apply_standard_layers`], naming each request's module on its span.
pub(crate) fn standard_layers<S: Clone + Send + Sync + 'static>(
    router: Router<S>,
    config: &HttpConfig,
    modules: RouteModules,
) -> Router<S> {
    // `Router::layer` wraps the innermost layer first, so these lists read bottom-up.
    let router = router
        .layer(DefaultBodyLimit::disable())
        .layer(RequestBodyLimitLayer::new(config.body_limit_bytes))
        // Outside the limit, so that the limit counts decoded bytes: a small gzip body that
        // inflates past it answers 413 rather than filling memory.
        .layer(super::decompression::layer())
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(config.request_timeout_secs),
        ))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(axum::middleware::from_fn(render_problems))
        .layer(CompressionLayer::new());
    #[cfg(feature = "metrics")]
    let router = router.layer(axum::middleware::from_fn(super::metrics::record_http));
    let router = router
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(move |request: &Request| request_span(request, &modules))
                .on_response(DefaultOnResponse::new().level(Level::DEBUG))
                .on_failure(on_failure),
        )
        .layer(WorkContextLayer);
    let router = super::cors::security_headers(config)
        .into_iter()
        .fold(router, Router::layer);
    // Outermost but for the request id: a preflight is answered before any route runs (no
    // credentials needed), and every answer to an allowed origin, refusals included, carries
    // the CORS headers a page needs to read it. Checked when the config loaded.
    let router = match super::cors::layer(config).ok().flatten() {
        Some(cors) => router.layer(cors),
        None => router,
    };
    router.layer(request_id_layer())
}

fn request_span(request: &Request, modules: &RouteModules) -> tracing::Span {
    let template = request
        .extensions()
        .get::<MatchedPath>()
        .map(MatchedPath::as_str);
    // An unmatched path is the client's: kept for the logs, but bounded.
    let route = match template {
        Some(template) => Cow::Borrowed(template),
        None => truncated(request.uri().path(), MAX_FIELD),
    };
    let route = route.as_ref();
    let method = http_method(request.method());
    let module = template.and_then(|t| modules.of(t, request.method()));
    let context = context_of(request);
    if crate::work::is_observed() {
        let tags = [
            ("route", route),
            ("method", method),
            ("module", module.unwrap_or_default()),
        ];
        crate::work::tag(&tags);
    }
    tracing::info_span!(
        "http",
        method,
        route,
        module,
        request_id = context.request_id.as_deref().unwrap_or_default(),
        trace_id = %context.trace.trace_id(),
        span_id = %context.trace.span_id(),
    )
}

fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!(panic = %crate::work::Panicked::of(panic), "handler panicked");
    Problem::internal().into_response()
}

/// A response that failed: a 5xx's cause is logged where it happened, with its error chain
/// (and a circuit breaker's refusals only at DEBUG), so a line per 5xx here would repeat it
/// (a flood while a dependency is down); a body that broke off is logged nowhere else.
fn on_failure(
    failure: tower_http::classify::ServerErrorsFailureClass,
    latency: Duration,
    _span: &tracing::Span,
) {
    use tower_http::classify::ServerErrorsFailureClass::{Error, StatusCode};
    match failure {
        StatusCode(status) => tracing::debug!(%status, ?latency, "response failed"),
        Error(error) => tracing::warn!(%error, ?latency, "response body failed"),
    }
}
