//! Rate limits shared by the replicas through Redis: each request is one GCRA step run
//! atomically on the server ([`RedisStore::admit`]). While Redis does not answer, each replica
//! counts its own requests in process instead (a limit then holds per replica, not in all),
//! and says so once in its log.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures_util::future::BoxFuture;

use super::RedisStore;
use crate::rate_limit::{Client, Decision, LocalLimiter, Policy, RateLimiter};

/// The Redis limiter, with its in-process fallback.
pub(crate) struct RedisLimiter {
    store: Arc<RedisStore>,
    /// The cache's `<service>:`: services sharing a Redis count apart.
    prefix: Arc<str>,
    fallback: LocalLimiter,
    /// Whether the last check fell back.
    degraded: AtomicBool,
}

impl RedisLimiter {
    pub(crate) fn new(store: Arc<RedisStore>, prefix: Arc<str>) -> RedisLimiter {
        RedisLimiter {
            store,
            prefix,
            fallback: LocalLimiter::default(),
            degraded: AtomicBool::new(false),
        }
    }
}

impl RateLimiter for RedisLimiter {
    fn check<'a>(&'a self, policy: &'a Policy, client: &'a Client) -> BoxFuture<'a, Decision> {
        Box::pin(async move {
            let key = format!("{}{}", self.prefix, policy.key(client));
            match self.store.admit(&key, policy.quota).await {
                Ok(decision) => {
                    if self.degraded.swap(false, Ordering::Relaxed) {
                        tracing::info!("Redis answers again: rate limits are shared again");
                    }
                    decision
                }
                Err(error) => {
                    if !self.degraded.swap(true, Ordering::Relaxed) {
                        tracing::warn!(
                            %error,
                            "Redis does not answer: each replica counts rate limits alone until it does"
                        );
                    }
                    self.fallback.admit(key, policy.quota)
                }
            }
        })
    }
}
