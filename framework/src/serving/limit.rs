//! The rate limit HTTP routes and gRPC methods share: it counts each request of a client (the
//! guard's [`Principal`], else the peer's address, or the forwarded one behind a trusted
//! proxy) under the policy of its route or method,
//! lets it through with the IETF `RateLimit` and `RateLimit-Policy` headers
//! (draft-ietf-httpapi-ratelimit-headers-10 §3, §4), or answers the refusal in the protocol's
//! own words (HTTP 429, gRPC `RESOURCE_EXHAUSTED`). Inside the guard: a guarded route counts
//! each principal apart.

use std::net::IpAddr;
use std::sync::Arc;

use axum::http::{Extensions, HeaderMap, HeaderName, HeaderValue, Request, Response};
use futures_util::future::Either;

use super::client_address::TrustedProxies;
use super::gate::{Gate, GateFuture, GateLayer, Inner, take_ready};
use crate::identity::Principal;
use crate::rate_limit::{Client, Decision, Policy, RateLimiter};

/// `RateLimit-Policy`: the quota policies of the resource.
pub(crate) static RATE_LIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
/// `RateLimit`: what is left of them.
pub(crate) static RATE_LIMIT: HeaderName = HeaderName::from_static("ratelimit");

/// A policy in force, with its `RateLimit-Policy` value made once.
pub(crate) struct Limited {
    pub(crate) policy: Policy,
    /// `"<name>";q=<limit>;w=<seconds>`.
    policy_header: HeaderValue,
}

impl Limited {
    pub(crate) fn new(policy: Policy) -> Limited {
        let policy_header = HeaderValue::from_str(&format!(
            "{};q={};w={}",
            sf_string(&policy.name),
            policy.quota.limit,
            policy.quota.period_secs
        ))
        .unwrap_or_else(|_| HeaderValue::from_static("\"limit\""));
        Limited {
            policy,
            policy_header,
        }
    }

    /// Adds `RateLimit-Policy` and `RateLimit` (`"<name>";r=<remaining>;t=<seconds until the
    /// whole quota is back>`) to `headers`.
    pub(crate) fn describe(&self, decision: &Decision, headers: &mut HeaderMap) {
        let reset = decision.reset.as_millis().div_ceil(1000);
        let state = format!(
            "{};r={};t={reset}",
            sf_string(&self.policy.name),
            decision.remaining
        );
        headers.insert(RATE_LIMIT_POLICY.clone(), self.policy_header.clone());
        if let Ok(value) = HeaderValue::from_str(&state) {
            headers.insert(RATE_LIMIT.clone(), value);
        }
    }
}

/// `name` as a structured field string (RFC 8941 §3.3.3): quoted, `"` and `\` escaped, any
/// byte outside printable ASCII dropped (route paths and gRPC method names have none).
fn sf_string(name: &str) -> String {
    let mut quoted = String::with_capacity(name.len() + 2);
    quoted.push('"');
    for c in name.chars().filter(|c| (' '..='~').contains(c)) {
        if c == '"' || c == '\\' {
            quoted.push('\\');
        }
        quoted.push(c);
    }
    quoted.push('"');
    quoted
}

/// The policy of the request at a path: one route's, or a gRPC server's per method.
pub(crate) trait Policies: Send + Sync + 'static {
    /// `None`: unlimited.
    fn limited(&self, path: &str) -> Option<&Limited>;
}

impl Policies for Limited {
    fn limited(&self, _path: &str) -> Option<&Limited> {
        Some(self)
    }
}

/// How a protocol answers a refused request: 429, or `RESOURCE_EXHAUSTED`.
pub(crate) type Refuse<B> = fn(&Limited, &Decision) -> Response<B>;

/// Where a protocol's server puts the peer's address in a request's extensions.
pub(crate) type Peer = fn(&Extensions) -> Option<IpAddr>;

/// The limits of a service, by `policies`.
pub(crate) struct Limits<P, B> {
    limiter: Arc<dyn RateLimiter>,
    policies: P,
    refuse: Refuse<B>,
    peer: Peer,
    proxies: TrustedProxies,
}

/// Limits a service by its policies.
pub(crate) type LimitLayer<P, B> = GateLayer<Limits<P, B>>;

impl<P: Policies, B> Limits<P, B> {
    /// The layer of these limits.
    pub(crate) fn layer(
        limiter: Arc<dyn RateLimiter>,
        policies: P,
        refuse: Refuse<B>,
        peer: Peer,
        proxies: TrustedProxies,
    ) -> LimitLayer<P, B> {
        GateLayer::new(Limits {
            limiter,
            policies,
            refuse,
            peer,
            proxies,
        })
    }
}

impl<P: Policies, B: Send + 'static> Gate<B> for Limits<P, B> {
    fn call<S: Inner<R, B>, R: Send + 'static>(
        self: &Arc<Self>,
        inner: &mut S,
        request: Request<R>,
    ) -> GateFuture<S::Future, B, S::Error> {
        let limits = self.clone();
        if limits.policies.limited(request.uri().path()).is_none() {
            return Either::Left(inner.call(request));
        }
        let address = (limits.peer)(request.extensions())
            .map(|peer| limits.proxies.client(peer, request.headers()));
        let client = Client::of(request.extensions().get::<Principal>(), address);
        let mut inner = take_ready(inner);
        Either::Right(Box::pin(async move {
            let Some(limited) = limits.policies.limited(request.uri().path()) else {
                return inner.call(request).await;
            };
            let decision = match limits.limiter.check_now(&limited.policy, &client) {
                Some(decision) => decision,
                None => limits.limiter.check(&limited.policy, &client).await,
            };
            if !decision.admitted {
                tracing::info!(
                    policy = %limited.policy.name,
                    client = %client,
                    retry_after_ms = decision.retry_after.as_millis() as u64,
                    "request refused: rate limit reached"
                );
                return Ok((limits.refuse)(limited, &decision));
            }
            let mut response = inner.call(request).await?;
            limited.describe(&decision, response.headers_mut());
            Ok(response)
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rate_limit::Quota;

    #[test]
    fn headers_name_the_policy_as_a_structured_string() {
        let limited = Limited::new(Policy {
            name: "POST /notes/{id}".into(),
            quota: Quota::parse("100/min").unwrap(),
        });
        let mut headers = HeaderMap::new();
        let decision = Decision {
            admitted: true,
            remaining: 42,
            reset: std::time::Duration::from_millis(34_500),
            retry_after: std::time::Duration::ZERO,
        };
        limited.describe(&decision, &mut headers);
        assert_eq!(
            headers[&RATE_LIMIT_POLICY],
            r#""POST /notes/{id}";q=100;w=60"#
        );
        assert_eq!(headers[&RATE_LIMIT], r#""POST /notes/{id}";r=42;t=35"#);
        assert_eq!(sf_string("a\"b\\c\u{e9}"), r#""a\"b\\c""#);
    }
}
