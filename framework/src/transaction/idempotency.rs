//! What the HTTP `Idempotency-Key` needs of a store (draft-ietf-httpapi-idempotency-key-header):
//! a claim per key, the first response kept for replays, and a fingerprint of the request it
//! answered. The database plugin provides it (`dyn IdempotencyStore`); the HTTP plugin uses it.

use std::time::Duration;

use futures_util::future::BoxFuture;

use super::TxError;

/// A response kept for the replays of its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    /// The HTTP status.
    pub status: u16,
    /// The headers to replay (name, value), as sent.
    pub headers: Vec<(String, String)>,
    /// The body, as sent.
    pub body: Vec<u8>,
}

/// What a claim of a key found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The key is the caller's: it runs the request, then completes or releases the claim.
    Acquired,
    /// A request with this key is still running (its claim's lease has not run out).
    InProgress,
    /// The key was used with another request (another fingerprint).
    Mismatch,
    /// The key's request finished: its response, to replay.
    Completed(StoredResponse),
}

/// Keys of idempotent requests, per scope (a route), each held by one request until it
/// completes, then kept with its response until it expires.
pub trait IdempotencyStore: Send + Sync + 'static {
    /// Claims `key` in `scope` for a request with `fingerprint`: a new key is the caller's
    /// for `lease` (after which a request that died holding it is taken over) and expires
    /// `ttl` after the claim; an expired one is claimed afresh.
    ///
    /// # Errors
    /// [`TxError::Statement`] (or `Begin`) when the store cannot be asked.
    fn claim<'a>(
        &'a self,
        scope: &'a str,
        key: &'a str,
        fingerprint: &'a str,
        lease: Duration,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<Claim, TxError>>;

    /// Keeps `response` as the key's, outside any transaction (for a request whose writes,
    /// if any, were not in one, or were rolled back).
    ///
    /// # Errors
    /// [`TxError::Statement`] when the store cannot be written.
    fn complete<'a>(
        &'a self,
        scope: &'a str,
        key: &'a str,
        response: &'a StoredResponse,
    ) -> BoxFuture<'a, Result<(), TxError>>;

    /// Gives the key up (the request failed with a 5xx, or its response could not be kept):
    /// a retry runs the request again.
    ///
    /// # Errors
    /// [`TxError::Statement`] when the store cannot be written (the claim then lapses at the
    /// end of its lease).
    fn release<'a>(&'a self, scope: &'a str, key: &'a str) -> BoxFuture<'a, Result<(), TxError>>;
}
