//! What the cache and job leases need from a backend. Two implementations: the in-process store
//! (`REDIS_URL=memory`) and Redis.

use std::time::Duration;

pub use futures_util::future::BoxFuture;

/// A backend failure: the cache treats it as a miss (reads) or skips the write.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Not connected (Redis down or not reached yet).
    #[error("the cache backend is not connected")]
    Disconnected,
    /// The backend's circuit breaker is open: it failed just now, and is not asked again
    /// until `BREAKER_OPEN_MS` passed.
    #[error(transparent)]
    CircuitOpen(#[from] crate::breaker::CircuitOpen),
    /// Anything the backend or client reported.
    #[error("{0}")]
    Backend(String),
}

/// A key-value store with expiry.
pub trait Store: Send + Sync + 'static {
    /// The value under `key`, if any and not expired.
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Vec<u8>>, StoreError>>;
    /// Stores `value` under `key` for `ttl`.
    fn set<'a>(
        &'a self,
        key: &'a str,
        value: Vec<u8>,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<(), StoreError>>;
    /// Removes `key`.
    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), StoreError>>;
    /// Whether the backend answers.
    fn ping(&self) -> BoxFuture<'_, Result<(), StoreError>>;

    /// Leases: sets `key` to `owner` for `ttl` unless `key` exists; whether it did.
    fn claim<'a>(
        &'a self,
        key: &'a str,
        owner: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<bool, StoreError>>;
    /// Extends `key` to `ttl` from now if `owner` holds it; whether it did.
    fn renew<'a>(
        &'a self,
        key: &'a str,
        owner: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<bool, StoreError>>;
    /// Sets `key` to `value` for `ttl` if `owner` holds it (a cache fill that no invalidation
    /// came between); whether it did.
    fn replace<'a>(
        &'a self,
        key: &'a str,
        owner: &'a str,
        value: Vec<u8>,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<bool, StoreError>>;
    /// Deletes `key` if `owner` holds it; whether it did.
    fn release<'a>(
        &'a self,
        key: &'a str,
        owner: &'a str,
    ) -> BoxFuture<'a, Result<bool, StoreError>>;
}
