//! Leases: a key held by one owner at a time, for a while. What a plugin that must act once
//! across replicas (cron's singleton jobs) needs, and a store plugin provides (the cache, on
//! Redis or in process), without either naming the other: the provider registers a
//! `dyn LeaseStore` component, the user injects it.

use std::time::Duration;

use futures_util::future::BoxFuture;

/// The store could not be asked (Redis down, say): the caller cannot know who holds the key.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct LeaseError(pub String);

/// Leases on keys, each held by one `owner` (an id unique to the replica) at most, until its
/// time-to-live passes or the owner releases it.
pub trait LeaseStore: Send + Sync + 'static {
    /// Takes `key` for `owner` for `ttl` unless someone holds it; whether it did.
    fn claim<'a>(
        &'a self,
        key: &'a str,
        owner: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<bool, LeaseError>>;

    /// Extends `key` to `ttl` from now if `owner` still holds it; whether it did (`false`:
    /// the lease was lost).
    fn renew<'a>(
        &'a self,
        key: &'a str,
        owner: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<bool, LeaseError>>;

    /// Gives `key` up if `owner` holds it; whether it did.
    fn release<'a>(
        &'a self,
        key: &'a str,
        owner: &'a str,
    ) -> BoxFuture<'a, Result<bool, LeaseError>>;
}
