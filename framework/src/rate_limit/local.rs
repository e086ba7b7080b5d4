//! The in-process limiter, on governor's GCRA: each replica counts its own requests. The
//! limiter when no cache is configured (`REDIS_URL` unset), the cache's with `REDIS_URL=memory`,
//! and the Redis limiter's fallback while Redis does not answer.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, RwLock};

use futures_util::future::BoxFuture;
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;

use super::{Client, Decision, Policy, Quota, RateLimiter};
use crate::config::Settings;
use crate::di::{
    BuildContext, BuildFuture, Condition, Instance, Key, Location, ProviderKind, ProviderRecord,
};

type Keyed = governor::RateLimiter<
    String,
    DefaultKeyedStateStore<String>,
    DefaultClock,
    StateInformationMiddleware,
>;

/// One quota's allowances, by key, and how many checks since they were last pruned.
struct Allowances {
    keyed: Keyed,
    checks: AtomicU32,
}

/// After this many checks of a quota, the keys whose allowance is whole again are dropped: the
/// map holds only the clients seen within about a period (a day's for a `/d` quota), which
/// Redis's keys, expiring after as long, hold too. The scan is the request's that reaches the
/// count: one pass over the map per 4096 requests.
const PRUNE_EVERY: u32 = 4096;

/// GCRA allowances in process, per key and quota.
#[derive(Default)]
pub struct LocalLimiter {
    quotas: RwLock<HashMap<Quota, Arc<Allowances>>>,
}

impl LocalLimiter {
    /// Counts one request under `key` against `quota`.
    pub fn admit(&self, key: String, quota: Quota) -> Decision {
        let allowances = self.allowances(quota);
        if allowances.checks.fetch_add(1, Ordering::Relaxed) % PRUNE_EVERY == PRUNE_EVERY - 1 {
            allowances.keyed.retain_recent();
        }
        let interval = quota.interval();
        match allowances.keyed.check_key(&key) {
            Ok(state) => {
                let remaining = state.remaining_burst_capacity();
                Decision {
                    admitted: true,
                    remaining,
                    reset: interval * quota.limit.saturating_sub(remaining),
                    retry_after: std::time::Duration::ZERO,
                }
            }
            Err(refused) => {
                let retry_after = refused.wait_time_from(allowances.keyed.clock().now());
                Decision {
                    admitted: false,
                    remaining: 0,
                    reset: retry_after + interval * quota.limit.saturating_sub(1),
                    retry_after,
                }
            }
        }
    }

    fn allowances(&self, quota: Quota) -> Arc<Allowances> {
        if let Some(found) = self.quotas.read().ok().and_then(|q| q.get(&quota).cloned()) {
            return found;
        }
        let mut quotas = self.quotas.write().unwrap_or_else(|p| p.into_inner());
        quotas
            .entry(quota)
            .or_insert_with(|| {
                let burst = NonZeroU32::new(quota.limit).unwrap_or(NonZeroU32::MIN);
                // `Quota::parse` makes both non-zero; a zero interval is impossible.
                let cells = governor::Quota::with_period(quota.interval())
                    .unwrap_or_else(|| governor::Quota::per_second(NonZeroU32::MAX))
                    .allow_burst(burst);
                Arc::new(Allowances {
                    keyed: governor::RateLimiter::keyed(cells)
                        .with_middleware::<StateInformationMiddleware>(),
                    checks: AtomicU32::new(0),
                })
            })
            .clone()
    }
}

impl RateLimiter for LocalLimiter {
    fn check<'a>(&'a self, policy: &'a Policy, client: &'a Client) -> BoxFuture<'a, Decision> {
        let decision = self.admit(policy.key(client), policy.quota);
        Box::pin(std::future::ready(decision))
    }

    fn check_now(&self, policy: &Policy, client: &Client) -> Option<Decision> {
        Some(self.admit(policy.key(client), policy.quota))
    }
}

/// `when` predicate: no cache is configured (`REDIS_URL` unset or blank), so nothing else
/// provides a limiter. The cache's own reading of the key; the core does not name the cache.
fn without_cache(settings: &Settings) -> bool {
    settings
        .get("REDIS_URL")
        .is_none_or(|u| u.trim().is_empty())
}

inventory::submit! {
    ProviderRecord {
        name: "framework::rate_limit::LocalLimiter",
        provides: || vec![Key::of::<dyn RateLimiter>()],
        fields: Vec::new,
        condition: Some(Condition {
            name: "framework::rate_limit::without_cache",
            check: without_cache,
            hint: None,
        }),
        build: |_: &BuildContext| -> BuildFuture<'_> {
            Box::pin(async move {
                let limiter: Arc<dyn RateLimiter> = Arc::new(LocalLimiter::default());
                Ok(vec![Instance::of::<dyn RateLimiter>(limiter)])
            })
        },
        kind: ProviderKind::Framework,
        location: Location { file: file!(), line: line!() },
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_burst_of_the_limit_is_admitted_then_one_per_interval() {
        let limiter = LocalLimiter::default();
        let quota = Quota::parse("5/s").unwrap();
        let decisions: Vec<Decision> = (0..7).map(|_| limiter.admit("k".into(), quota)).collect();
        let admitted = decisions.iter().filter(|d| d.admitted).count();
        assert_eq!(admitted, 5, "{decisions:?}");
        assert_eq!(decisions[0].remaining, 4);
        assert_eq!(decisions[4].remaining, 0);
        let refused = decisions[5];
        assert!(!refused.admitted);
        assert!(
            refused.retry_after > Duration::ZERO
                && refused.retry_after <= Duration::from_millis(200),
            "{refused:?}"
        );
        // Another key has its own allowance.
        assert!(limiter.admit("other".into(), quota).admitted);
        std::thread::sleep(refused.retry_after + Duration::from_millis(5));
        assert!(limiter.admit("k".into(), quota).admitted);
        assert!(!limiter.admit("k".into(), quota).admitted);
    }
}
