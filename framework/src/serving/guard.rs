//! The guard HTTP routes and gRPC methods with a requirement share: it reads the credentials
//! from the request's headers (`authorization`, the API key header; gRPC metadata are
//! headers), authenticates them, checks the requirement, and puts the [`Principal`] in the
//! request's extensions for the handler, or answers the refusal in the protocol's own words.

use std::sync::Arc;
use std::task::{Context, Poll};

use axum::http::{HeaderMap, HeaderValue, Request, Response, header};
use futures_util::future::{BoxFuture, Either};

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

struct Guard<P, B> {
    authenticator: Option<Arc<dyn Authenticator>>,
    policy: P,
    refuse: Refuse<B>,
}

/// Guards a service by `policy`.
pub(crate) struct GuardLayer<P, B>(Arc<Guard<P, B>>);

impl<P, B> Clone for GuardLayer<P, B> {
    fn clone(&self) -> Self {
        GuardLayer(self.0.clone())
    }
}

impl<P: Policy, B> GuardLayer<P, B> {
    pub(crate) fn new(
        authenticator: Option<Arc<dyn Authenticator>>,
        policy: P,
        refuse: Refuse<B>,
    ) -> Self {
        GuardLayer(Arc::new(Guard {
            authenticator,
            policy,
            refuse,
        }))
    }
}

impl<S, P, B> tower::Layer<S> for GuardLayer<P, B> {
    type Service = Guarded<S, P, B>;

    fn layer(&self, inner: S) -> Guarded<S, P, B> {
        Guarded {
            inner,
            guard: self.0.clone(),
        }
    }
}

/// See [`GuardLayer`].
pub(crate) struct Guarded<S, P, B> {
    inner: S,
    guard: Arc<Guard<P, B>>,
}

impl<S: Clone, P, B> Clone for Guarded<S, P, B> {
    fn clone(&self) -> Self {
        Guarded {
            inner: self.inner.clone(),
            guard: self.guard.clone(),
        }
    }
}

impl<S, P, B, R> tower::Service<Request<R>> for Guarded<S, P, B>
where
    S: tower::Service<Request<R>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    P: Policy,
    B: Send + 'static,
    R: Send + 'static,
{
    type Response = Response<B>;
    type Error = S::Error;
    type Future = Either<S::Future, BoxFuture<'static, Result<Response<B>, S::Error>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<R>) -> Self::Future {
        let guard = &self.guard;
        let Some(requirement) = guard.policy.requirement(request.uri().path()) else {
            return Either::Left(self.inner.call(request));
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
                return Either::Left(self.inner.call(request));
            }
            Some(Err(error)) => {
                let refused = (guard.refuse)(Some((&error, authenticator)));
                return Either::Right(Box::pin(std::future::ready(Ok(refused))));
            }
            None => {}
        }
        // The clone is not ready: call the one that is (tower's `Service` contract).
        let ready = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, ready);
        let guard = self.guard.clone();
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
