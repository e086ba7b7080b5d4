//! The record `#[http_route]` submits: not public API (`framework::__private` names it).

use axum::routing::MethodRouter;

use super::AppState;
use crate::di::{Dependency, Location};
use crate::identity::Requirement;
use crate::rate_limit::RateLimit;

/// A `#[http_route]` handler.
pub struct RouteRecord {
    /// `GET`, `POST`, ...
    pub method: &'static str,
    /// The path under `HTTP_BASE_PATH`, axum syntax (`/articles/{id}`).
    pub path: &'static str,
    /// The handler function's path.
    pub handler: &'static str,
    /// Builds the axum method router for the handler.
    pub mount: fn() -> MethodRouter<AppState>,
    /// The `Inject<T>` arguments of the handler.
    pub dependencies: fn() -> Vec<Dependency>,
    /// Whether an argument is the request's `Tx`: the route then runs as a unit of work.
    pub transactional: fn() -> bool,
    /// `idempotency`: the route honours `Idempotency-Key`.
    pub idempotency: bool,
    /// `scope = ..` or `authenticated`, or a `Principal` or `Claims<T>` argument: what the
    /// caller must hold; `None`: public.
    pub requirement: Option<Requirement>,
    /// `rate_limit = ..`: requests per client; `None`: unlimited.
    pub rate_limit: Option<RateLimit>,
    /// What its arguments and return type add to the OpenAPI document.
    #[cfg(feature = "openapi")]
    pub openapi: fn(&mut crate::http::openapi::Operation),
    /// Where it was declared.
    pub location: Location,
}

inventory::collect!(RouteRecord);
