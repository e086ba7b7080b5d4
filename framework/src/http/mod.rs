//! HTTP delivery: every `#[http_route]` on one axum `Router` under `HTTP_BASE_PATH`, behind
//! the standard middleware stack.

mod config;
mod cors;
mod decompression;
mod health;
pub(crate) mod idempotency;
mod identity;
mod labels;
#[cfg(feature = "metrics")]
mod metrics;
mod middleware;
#[cfg(feature = "openapi")]
pub mod openapi;
pub(crate) mod plugin;
mod problem;
mod problem_layer;
mod rate_limit;
mod read_buffer;
pub(crate) mod record;
mod serve;
mod switch;
mod unit_of_work;
mod valid;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::{StatusCode, Uri, header};
use axum::response::IntoResponse;
use axum::routing::MethodRouter;

pub(crate) use crate::serving::REQUEST_ID;
pub use config::HttpConfig;
pub(crate) use decompression::GzipBody;
pub use middleware::apply_standard_layers;
pub use problem::{PROBLEM_JSON, Problem, status_of};
pub(crate) use record::RouteRecord;
pub(crate) use serve::serve;
pub(crate) use switch::Switch;
pub use valid::Valid;

use crate::config::CoreConfig;
use crate::di::Container;
use crate::health::Health;
use crate::identity::Authenticator;
use crate::rate_limit::{Policy, RateLimiter};
use crate::telemetry::bounded::{MAX_FIELD, truncated};
use crate::transaction::{IdempotencyStore, Transactions};

/// The router state: the built components, for `Inject<T>`.
#[derive(Clone)]
pub struct AppState {
    pub(crate) container: Arc<Container>,
}

/// The whole HTTP app: the routes under the base path, health outside it, the problem+json
/// fallback and the standard layers.
pub(crate) fn router(
    routes: &[&'static RouteRecord],
    policies: &[Option<Policy>],
    core: &CoreConfig,
    config: &HttpConfig,
    state: AppState,
    health: Health,
) -> Router {
    // Each route at its full path rather than the API nested under the base path: axum's
    // `nest` wraps every nested route in `StripPrefix`, which rebuilds each request's URI.
    let mut by_path: BTreeMap<String, MethodRouter<AppState>> = BTreeMap::new();
    #[cfg(feature = "openapi")]
    let security = state.container.get::<dyn Authenticator>();
    for (route, policy) in routes.iter().zip(policies) {
        let path = full_path(&config.base_path, route.path);
        let method_router = by_path.remove(&path).unwrap_or_default();
        let mounted = (route.mount)();
        // Checked at startup: a route whose handler takes a `Tx` depends on `Transactions`,
        // an idempotent one on the `IdempotencyStore`.
        let transactions = (route.transactional)()
            .then(|| state.container.get::<Transactions>())
            .flatten();
        let store = route
            .idempotency
            .then(|| state.container.get::<dyn IdempotencyStore>())
            .flatten();
        let mounted = match (store, transactions) {
            (Some(store), transactions) => idempotency::layer(
                mounted,
                idempotency::Idempotent {
                    store,
                    transactions,
                    scope: format!("{} {}", route.method, route.path),
                    lease: Duration::from_secs(config.request_timeout_secs.saturating_mul(2)),
                    ttl: Duration::from_secs(config.idempotency_ttl_secs),
                },
            ),
            (None, Some(transactions)) => unit_of_work::layer(mounted, transactions),
            (None, None) => mounted,
        };
        // Before the handler and a replay, after the guard (which names the client): the
        // wiring check made sure there is a limiter.
        let limiter = policy
            .as_ref()
            .and_then(|_| state.container.get::<dyn RateLimiter>());
        let mounted = match (limiter, policy) {
            (Some(limiter), Some(policy)) => {
                rate_limit::layer(mounted, limiter, policy.clone(), config.proxies())
            }
            _ => mounted,
        };
        // Outermost: nothing runs for a caller refused, an idempotent replay included.
        let mounted = match route.requirement {
            Some(requirement) => identity::layer(
                mounted,
                state.container.get::<dyn Authenticator>(),
                requirement,
            ),
            None => mounted,
        };
        by_path.insert(path, method_router.merge(mounted));
    }
    let app = by_path
        .into_iter()
        .fold(Router::new(), |app, (path, method_router)| {
            app.route(&path, method_router)
        })
        .with_state(state);
    let app = app.merge(self::health::router(health));
    let app = match crate::metrics::exposition() {
        Some(exposition) => app.route("/metrics", axum::routing::get(move || metrics(exposition))),
        None => app,
    };
    #[cfg(feature = "openapi")]
    let app = app.merge(crate::http::openapi::router(
        routes,
        core,
        config,
        security.as_deref(),
    ));
    #[cfg(not(feature = "openapi"))]
    let _ = core;
    let app = app.fallback(route_not_found);
    let modules = middleware::RouteModules::new(routes, &config.base_path);
    middleware::standard_layers(app, config, modules)
}

/// The path a route is served at: `path` under `base_path`, where the root route `/` is the
/// base path itself (`/api/v1`, not `/api/v1/`), as axum's `Router::nest` joins them.
pub(crate) fn full_path(base_path: &str, path: &str) -> String {
    if path == "/" && !base_path.is_empty() {
        base_path.to_owned()
    } else {
        format!("{base_path}{path}")
    }
}

/// `GET /metrics`, outside the base path like the health endpoints.
async fn metrics(exposition: &'static dyn crate::metrics::Exposition) -> impl IntoResponse {
    let content_type = exposition.content_type();
    ([(header::CONTENT_TYPE, content_type)], exposition.render())
}

async fn route_not_found(uri: Uri) -> Problem {
    let path = truncated(uri.path(), MAX_FIELD);
    Problem::new(
        StatusCode::NOT_FOUND,
        "ROUTE_NOT_FOUND",
        format!("no route for `{path}`"),
    )
}

/// `Inject<T>` as a handler argument: the component, built at startup (the wiring check made
/// sure there is one).
impl<T: ?Sized + Send + Sync + 'static> axum::extract::FromRequestParts<AppState>
    for crate::di::Inject<T>
{
    type Rejection = Problem;

    async fn from_request_parts(
        _parts: &mut axum::http::request::Parts,
        state: &AppState,
    ) -> Result<Self, Problem> {
        state
            .container
            .get::<T>()
            .map(crate::di::Inject)
            .ok_or_else(|| {
                tracing::error!(
                    component = std::any::type_name::<T>(),
                    "component missing from the container"
                );
                Problem::internal()
            })
    }
}

#[cfg(test)]
mod tests {
    use super::full_path;

    #[test]
    fn a_route_is_served_under_the_base_path_and_the_root_route_at_it() {
        assert_eq!(
            full_path("/api/v1", "/articles/{id}"),
            "/api/v1/articles/{id}"
        );
        assert_eq!(full_path("/api/v1", "/"), "/api/v1");
        assert_eq!(full_path("", "/"), "/");
        assert_eq!(full_path("", "/articles"), "/articles");
    }
}
