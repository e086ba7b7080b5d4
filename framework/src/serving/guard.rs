//! The guard HTTP routes and gRPC methods with a requirement share: it reads the credentials
//! from the request's headers (`authorization`, the API key header; gRPC metadata are
//! headers), authenticates them, checks the requirement, and puts the [`Principal`] in the
//! request's extensions for the handler, or answers the refusal in the protocol's own words.

use std::sync::Arc;

use axum::http::{HeaderMap, HeaderValue, Request, Response, header};
use futures_util::future::Either;

use super::gate::{Gate, GateFuture, GateLayer, Inner, take_ready};
use crate::identity::{AuthError, Authenticator, Presented, Requirement, authorize, authorize_now};

/// The credentials in `headers`: `authorization`, and the authenticator's API key header.
pub(crate) fn presented<'a>(
    headers: &'a HeaderMap,
    authenticator: &dyn Authenticator,
) -> Presented<'a> {
    // The first value of each, and whether there is a second, from one lookup.
    let mut authorization = headers.get_all(header::AUTHORIZATION).iter();
    let mut api_key = headers.get_all(authenticator.api_key_header()).iter();
    Presented {
        authorization: authorization.next().map(HeaderValue::as_bytes),
        api_key: api_key.next().map(HeaderValue::as_bytes),
        repeated: authorization.next().is_some() || api_key.next().is_some(),
    }
}

/// What a guarded service requires of the request at a path: one route's requirement, or a
/// gRPC server's per method.
pub(crate) trait Policy: Send + Sync + 'static {
    /// `None`: public.
    fn requirement(&self, path: &str) -> Option<Requirement>;
}

impl Policy for Requirement {
    fn requirement(&self, _path: &str) -> Option<Requirement> {
        Some(*self)
    }
}

/// How a protocol answers a refused request: the error, with the authenticator for its
/// challenge; `None` when there is no authenticator (the wiring check makes sure there is),
/// an internal error, since a guarded request must never get through.
pub(crate) type Refuse<B> = fn(Option<(&AuthError, &dyn Authenticator)>) -> Response<B>;

/// The guard of a service, by `policy`.
pub(crate) struct Guard<P, B> {
    authenticator: Option<Arc<dyn Authenticator>>,
    policy: P,
    refuse: Refuse<B>,
}

/// Guards a service by its policy.
pub(crate) type GuardLayer<P, B> = GateLayer<Guard<P, B>>;

impl<P: Policy, B> Guard<P, B> {
    /// The layer of this guard.
    pub(crate) fn layer(
        authenticator: Option<Arc<dyn Authenticator>>,
        policy: P,
        refuse: Refuse<B>,
    ) -> GuardLayer<P, B> {
        GateLayer::new(Guard {
            authenticator,
            policy,
            refuse,
        })
    }
}

impl<P: Policy, B: Send + 'static> Gate<B> for Guard<P, B> {
    fn call<S: Inner<R, B>, R: Send + 'static>(
        self: &Arc<Self>,
        inner: &mut S,
        mut request: Request<R>,
    ) -> GateFuture<S::Future, B, S::Error> {
        let guard = self;
        let Some(requirement) = guard.policy.requirement(request.uri().path()) else {
            return Either::Left(inner.call(request));
        };
        let Some(authenticator) = guard.authenticator.as_deref() else {
            tracing::error!("a request needs a caller, but no authentication is configured");
            let refused = (guard.refuse)(None);
            return Either::Right(Box::pin(std::future::ready(Ok(refused))));
        };
        // Most requests are decided here (a token verified before, an API key), at the cost
        // of no future of their own.
        let found = presented(request.headers(), authenticator);
        match authorize_now(authenticator, &requirement, found) {
            Some(Ok(principal)) => {
                request.extensions_mut().insert(principal);
                return Either::Left(inner.call(request));
            }
            Some(Err(error)) => {
                let refused = (guard.refuse)(Some((&error, authenticator)));
                return Either::Right(Box::pin(std::future::ready(Ok(refused))));
            }
            None => {}
        }
        let mut inner = take_ready(inner);
        let guard = self.clone();
        Either::Right(Box::pin(async move {
            let Some(authenticator) = guard.authenticator.as_deref() else {
                return Ok((guard.refuse)(None));
            };
            let found = presented(request.headers(), authenticator);
            match authorize(authenticator, &requirement, found).await {
                Ok(principal) => {
                    request.extensions_mut().insert(principal);
                    inner.call(request).await
                }
                Err(error) => Ok((guard.refuse)(Some((&error, authenticator)))),
            }
        }))
    }
}
