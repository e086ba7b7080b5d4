use std::ops::Deref;
use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use crate::error::Problem;
use crate::http::AppState;

/// An extractor for a singleton component: `svc: Inject<ArticleService>`.
///
/// Every `Inject<T>` of a `#[http_route]` is checked at startup, so a missing component is a
/// wiring error before the server starts, not a failed request.
pub struct Inject<T: ?Sized>(pub Arc<T>);

impl<T: ?Sized> Deref for Inject<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: ?Sized> Clone for Inject<T> {
    fn clone(&self) -> Self {
        Inject(self.0.clone())
    }
}

impl<T: ?Sized + Send + Sync + 'static> FromRequestParts<AppState> for Inject<T> {
    type Rejection = Problem;

    async fn from_request_parts(_parts: &mut Parts, state: &AppState) -> Result<Self, Problem> {
        state.container.get::<T>().map(Inject).ok_or_else(|| {
            tracing::error!(
                component = std::any::type_name::<T>(),
                "component missing from the container"
            );
            Problem::internal()
        })
    }
}
