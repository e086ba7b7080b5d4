//! The unit of work of a route whose handler takes a [`Tx`]: the request runs with a
//! transaction that is committed when the response is not an error (status below 400) and
//! rolled back otherwise, or when the handler panics or is dropped (a timeout, a client gone).
//! Routes without a `Tx` parameter get no layer and pay nothing.

use std::sync::Arc;

use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;

use super::{AppState, Problem};
use crate::transaction::{Transactions, Tx, TxError};

/// `route` with its unit of work: each request gets a fresh [`Tx`] from `transactions`.
pub(super) fn layer(
    route: MethodRouter<AppState>,
    transactions: Arc<Transactions>,
) -> MethodRouter<AppState> {
    route.route_layer(axum::middleware::from_fn(move |request, next| {
        run(transactions.clone(), request, next)
    }))
}

/// Whether a response commits its unit of work: it is not an error (status below 400).
pub(super) fn succeeded(status: axum::http::StatusCode) -> bool {
    !(status.is_client_error() || status.is_server_error())
}

/// The handler inside its transaction; a commit that fails answers its problem instead (the
/// handler's writes are not stored, so its response would be false).
pub(super) async fn run(transactions: Arc<Transactions>, request: Request, next: Next) -> Response {
    let tx = transactions.begin();
    let response = tx.clone().scope(next.run(request)).await;
    match tx.finish(succeeded(response.status())).await {
        Ok(()) => response,
        Err(error) => Problem::from_domain_error(&error).into_response(),
    }
}

/// The request's transaction: committed when the handler's response is not an error.
impl<S: Send + Sync> FromRequestParts<S> for Tx {
    type Rejection = Problem;

    async fn from_request_parts(_: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Tx::current().ok_or_else(|| Problem::from_domain_error(&TxError::OutsideUnit))
    }
}
