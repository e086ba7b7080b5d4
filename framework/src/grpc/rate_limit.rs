//! Rate limits over gRPC: a method with `rate_limit = ".."` (its `#[rpc]`'s, else its
//! `#[grpc_service]`'s) counts each client's calls (the principal, else the peer's address)
//! (behind a proxy of `GRPC_TRUSTED_PROXIES`, the address it forwards) under its own policy, named `{package.Service}/{rust_method_name}`. A refusal is
//! `RESOURCE_EXHAUSTED` with `google.rpc.ErrorInfo` `RATE_LIMITED` and `google.rpc.RetryInfo`
//! (gRPC's status code for a quota, doc/statuscodes.md), and the `ratelimit` headers HTTP has.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use axum::http::{Extensions, Response};
use tonic::body::Body;
use tonic::transport::server::TcpConnectInfo;

use super::GrpcServiceRecord;
use super::methods::{MethodTable, ServiceTable};
use crate::config::{ConfigError, Settings};
use crate::rate_limit::{Decision, Policy, Quota, RateLimiter};
use crate::serving::client_address::TrustedProxies;
use crate::serving::limit::{self, Limited, Policies};

/// Each method's policy.
pub(crate) type Limits = MethodTable<Limited>;

impl Policies for Arc<Limits> {
    fn limited(&self, path: &str) -> Option<&Limited> {
        self.of(path)
    }
}

/// The limit of the server's services, inside the guard.
pub(crate) type LimitLayer = limit::LimitLayer<Arc<Limits>, Body>;

/// Each method's policy, its quota resolved in `settings`; `None` when no method declares a
/// rate limit. A method not found by name gets its service's limit, else the strictest of its
/// methods' (the longest interval between two calls).
///
/// # Errors
/// [`ConfigError`] for a `${KEY}` that is unset or not a quota.
pub(crate) fn limits(
    services: &[&GrpcServiceRecord],
    settings: &Settings,
) -> Result<Option<Limits>, ConfigError> {
    let limited = services
        .iter()
        .any(|s| s.rate_limit.is_some() || s.methods.iter().any(|m| m.rate_limit.is_some()));
    if !limited {
        return Ok(None);
    }
    let mut table = HashMap::new();
    for service in services {
        let policy = |name: &str, quota: Quota| {
            Limited::new(Policy {
                name: format!("{}/{name}", service.service),
                quota,
            })
        };
        let mut methods = HashMap::new();
        let mut strictest: Option<Quota> = None;
        for method in service.methods {
            let quota = method.rate_limit.map(|l| l.quota(settings)).transpose()?;
            if let Some(quota) = quota {
                strictest = Some(strictest.map_or(quota, |s| stricter(s, quota)));
            }
            methods.insert(method.name, quota.map(|q| policy(method.name, q)));
        }
        let unmatched = match service.rate_limit {
            Some(limit) => Some(limit.quota(settings)?),
            None => strictest,
        };
        let unmatched = unmatched.map(|q| policy("*", q));
        table.insert(service.service, ServiceTable { methods, unmatched });
    }
    Ok(Some(MethodTable::new(table)))
}

/// Of `a` and `b`, the one admitting fewer calls over time (then the smaller burst).
fn stricter(a: Quota, b: Quota) -> Quota {
    let rate = |q: Quota, other: Quota| u64::from(q.limit) * u64::from(other.period_secs);
    match rate(a, b).cmp(&rate(b, a)) {
        std::cmp::Ordering::Less => a,
        std::cmp::Ordering::Greater => b,
        std::cmp::Ordering::Equal if a.limit <= b.limit => a,
        std::cmp::Ordering::Equal => b,
    }
}

/// The layer of `limits`; `None` when there are none. The wiring check made sure there is a
/// limiter when there are.
pub(crate) fn layer(
    limits: Option<Arc<Limits>>,
    limiter: Option<Arc<dyn RateLimiter>>,
    proxies: TrustedProxies,
) -> Option<LimitLayer> {
    Some(limit::Limits::layer(
        limiter?, limits?, refused, peer, proxies,
    ))
}

/// The address tonic recorded for the call's connection.
fn peer(extensions: &Extensions) -> Option<IpAddr> {
    extensions
        .get::<TcpConnectInfo>()
        .and_then(TcpConnectInfo::remote_addr)
        .map(|address| address.ip())
}

fn refused(limited: &Limited, decision: &Decision) -> Response<Body> {
    let message = format!(
        "too many calls: this method admits {} per client",
        limited.policy.quota
    );
    let mut response = super::status::rate_limited(message, decision.retry_after).into_http();
    limited.describe(decision, response.headers_mut());
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stricter_quota_admits_fewer_calls_over_time() {
        let q = |spec| Quota::parse(spec).unwrap();
        assert_eq!(stricter(q("100/min"), q("2/s")), q("100/min"));
        assert_eq!(stricter(q("2/s"), q("100/min")), q("100/min"));
        assert_eq!(stricter(q("60/min"), q("1/s")), q("1/s"));
        assert_eq!(stricter(q("3600/h"), q("60/min")), q("60/min"));
    }
}
