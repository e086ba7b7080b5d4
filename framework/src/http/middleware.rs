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
use tower_http::trace::{DefaultOnResponse, OnResponse, TraceLayer};
use tracing::Level;

use super::HttpConfig;
use super::Problem;
use super::RouteRecord;
use super::labels::http_method;
use super::problem_layer::render_problems;
use crate::serving::{WorkContextLayer, request_id_layer, span_of};
use crate::telemetry::bounded::{MAX_FIELD, truncated};
use crate::telemetry::{OTHER, SpanName};

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
                .make_span_with(span_of)
                .on_response(on_response)
                .on_failure(on_failure),
        )
        .layer(WorkContextLayer::new(move |request: &Request| {
            request_span(request, &modules)
        }));
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

/// The request's span, after OpenTelemetry's HTTP server conventions (semantic conventions
/// 1.42): named `{method} {route}`, the method alone when no route matched; a method outside
/// the known set is `http.request.method` `_OTHER`, with the method as sent, bounded, in
/// `http.request.method_original`, and the span is named `HTTP {route}` (`HTTP` with no
/// route). With the `http.*`, `url.scheme` and `url.path` attributes; the status is recorded by
/// [`on_response`].
fn request_span(request: &Request, modules: &RouteModules) -> tracing::Span {
    let template = request
        .extensions()
        .get::<MatchedPath>()
        .map(MatchedPath::as_str);
    // An unmatched path is the client's: kept for the logs, but bounded.
    let path = truncated(request.uri().path(), MAX_FIELD);
    let method = http_method(request.method());
    let module = template.and_then(|t| modules.of(t, request.method()));
    if crate::work::is_observed() {
        let tags = [
            ("route", template.unwrap_or(&path)),
            ("method", method),
            ("module", module.unwrap_or_default()),
        ];
        crate::work::tag(&tags);
    }
    let (operation, original) = match method {
        OTHER => (
            "HTTP",
            Some(truncated(request.method().as_str(), MAX_FIELD)),
        ),
        known => (known, None),
    };
    tracing::info_span!(
        "http",
        otel.name = %SpanName(operation, template),
        otel.kind = "server",
        otel.status_code = tracing::field::Empty,
        http.request.method = method,
        http.request.method_original = original.as_deref(),
        http.route = template,
        // The server speaks plain HTTP: TLS, when any, ends in front of it.
        url.scheme = "http",
        url.path = %path,
        http.response.status_code = tracing::field::Empty,
        error.type = tracing::field::Empty,
        module,
        request_id = tracing::field::Empty,
        trace_id = tracing::field::Empty,
        span_id = tracing::field::Empty,
    )
}

/// Records the response's status on the request's span: a 5xx is an error (the conventions
/// leave a 4xx unset on a server span, the client's doing).
fn on_response(response: &Response, latency: Duration, span: &tracing::Span) {
    let status = response.status();
    span.record("http.response.status_code", status.as_u16());
    if status.is_server_error() {
        crate::telemetry::record_error(span, status.as_str());
    }
    DefaultOnResponse::new()
        .level(Level::DEBUG)
        .on_response(response, latency, span);
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
    span: &tracing::Span,
) {
    use tower_http::classify::ServerErrorsFailureClass::{Error, StatusCode};
    match failure {
        StatusCode(status) => tracing::debug!(%status, ?latency, "response failed"),
        Error(error) => {
            tracing::warn!(%error, ?latency, "response body failed");
            // The status said success; the span must not.
            crate::telemetry::record_error(span, "RESPONSE_BODY_FAILED");
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::routing::any;
    use tower::ServiceExt;

    use super::*;
    use crate::serving::WorkContextLayer;
    use crate::telemetry::capture::{Fields, spans_of};

    /// The span of a request with `method` to `path`, through a router with one route.
    fn span(method: &str, path: &str) -> Fields {
        let router = Router::new()
            .route("/articles/{id}", any(|| async { "ok" }))
            .layer(WorkContextLayer::new(|request: &Request| {
                request_span(request, &RouteModules::default())
            }));
        let request = Request::builder()
            .method(method)
            .uri(path)
            .body(Body::empty())
            .unwrap();
        let spans = spans_of(|| {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap();
            runtime.block_on(router.oneshot(request)).unwrap();
        });
        spans.into_iter().next().expect("the request's span")
    }

    #[test]
    fn a_known_method_names_the_span_with_the_route() {
        let get = span("GET", "/articles/7");
        assert_eq!(get["otel.name"], "GET /articles/{id}");
        assert_eq!(get["http.request.method"], "GET");
        assert_eq!(get["url.scheme"], "http");
        assert_eq!(get["url.path"], "/articles/7");
        assert!(!get.contains_key("http.request.method_original"));
        assert_eq!(span("GET", "/nowhere")["otel.name"], "GET");
    }

    #[test]
    fn a_method_outside_the_known_set_is_other_and_kept_bounded() {
        let purge = span("PURGE", "/articles/7");
        assert_eq!(purge["otel.name"], "HTTP /articles/{id}");
        assert_eq!(purge["http.request.method"], OTHER);
        assert_eq!(purge["http.request.method_original"], "PURGE");
        assert_eq!(purge["url.scheme"], "http");
        let unrouted = span("get", "/nowhere");
        assert_eq!(unrouted["otel.name"], "HTTP");
        assert_eq!(unrouted["http.request.method_original"], "get");
        let long = "X".repeat(8_000);
        let long = span(&long, "/articles/7");
        assert_eq!(long["http.request.method_original"].len(), MAX_FIELD);
    }
}
