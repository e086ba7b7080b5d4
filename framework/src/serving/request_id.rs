//! The request id layers of HTTP and gRPC (see [`is_valid_request_id`]).

use std::task::{Context, Poll};

use axum::http::{HeaderName, Request};
use tower::layer::util::{Identity, Stack};
use tower::{Layer, Service, ServiceBuilder};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};

use crate::telemetry::{REQUEST_ID_KEY, is_valid_request_id};

/// The header (HTTP) and metadata key (gRPC) of the request id.
pub static REQUEST_ID: HeaderName = HeaderName::from_static(REQUEST_ID_KEY);

/// The request id layers of HTTP and gRPC, outermost first: an incoming `x-request-id` that
/// is not [valid](is_valid_request_id), or comes more than once, is dropped; tower-http's
/// `SetRequestIdLayer` then generates a UUID for a request without one, and
/// `PropagateRequestIdLayer` echoes the id in the response. Everything inside sees only a
/// valid id.
pub type RequestIdLayer = Stack<
    PropagateRequestIdLayer,
    Stack<SetRequestIdLayer<MakeRequestUuid>, Stack<DropInvalidRequestIdLayer, Identity>>,
>;

/// The [`RequestIdLayer`].
pub fn request_id_layer() -> RequestIdLayer {
    ServiceBuilder::new()
        .layer(DropInvalidRequestIdLayer)
        .layer(SetRequestIdLayer::new(REQUEST_ID.clone(), MakeRequestUuid))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID.clone()))
        .into_inner()
}

/// Removes an invalid or repeated `x-request-id` from requests (the first of the
/// [`RequestIdLayer`]s).
#[derive(Debug, Clone, Copy, Default)]
pub struct DropInvalidRequestIdLayer;

impl<S> Layer<S> for DropInvalidRequestIdLayer {
    type Service = DropInvalidRequestId<S>;

    fn layer(&self, inner: S) -> Self::Service {
        DropInvalidRequestId { inner }
    }
}

/// The service of [`DropInvalidRequestIdLayer`].
#[derive(Debug, Clone)]
pub struct DropInvalidRequestId<S> {
    inner: S,
}

impl<S, B> Service<Request<B>> for DropInvalidRequestId<S>
where
    S: Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let headers = request.headers();
        let mut ids = headers.get_all(&REQUEST_ID).iter();
        let keep = match (ids.next(), ids.next()) {
            (None, _) => true,
            (Some(id), None) => is_valid_request_id(id.as_bytes()),
            (Some(_), Some(_)) => false,
        };
        if !keep {
            request.headers_mut().remove(&REQUEST_ID);
        }
        self.inner.call(request)
    }
}
