#![doc = include_str!("../../docs/cache.md")]

mod config;
mod flight;
mod memory;
mod plugin;
#[cfg(all(feature = "redis", feature = "ratelimit"))]
mod rate_limit;
#[cfg(feature = "redis")]
mod redis;
mod store;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

pub use config::RedisConfig;
use futures_util::future::BoxFuture;
pub use memory::MemoryStore;
#[cfg(feature = "redis")]
pub use redis::RedisStore;
pub use store::{Store, StoreError};

use crate::breaker::Breaker;
use crate::config::{ConfigSection, Settings};
use crate::di::{
    BuildContext, BuildError, BuildFuture, Condition, Location, ProviderKind, ProviderRecord,
};
use crate::di::{Container, Dependency, Injectable, Instance, Key, ResolveError};
use crate::health::Probe;
use crate::lease::{LeaseError, LeaseStore};
use crate::rate_limit::RateLimiter;

/// `when` predicate: `REDIS_URL` is set.
pub fn is_configured(settings: &Settings) -> bool {
    settings
        .get("REDIS_URL")
        .is_some_and(|u| !u.trim().is_empty())
}

/// Typed cache; a `#[module]` field of type `Cache`. Keys are prefixed with the service
/// name (`APP_NAME`), so services sharing a Redis do not see each other's entries.
#[derive(Clone)]
pub struct Cache {
    store: Arc<dyn Store>,
    prefix: Arc<str>,
    flights: Arc<flight::Flights>,
}

impl Cache {
    /// A cache over `store` whose keys start with `<service>:`.
    pub fn new(store: Arc<dyn Store>, service: &str) -> Cache {
        Cache {
            store,
            prefix: format!("{service}:").into(),
            flights: Arc::default(),
        }
    }

    /// `key` with the service prefix.
    pub(crate) fn key(&self, key: &str) -> String {
        let mut full = String::with_capacity(self.prefix.len() + key.len());
        full.push_str(&self.prefix);
        full.push_str(key);
        full
    }

    /// The value under `key`; `None` when absent, expired, undecodable or unreachable.
    pub async fn get<T: DeserializeOwned>(&self, key: &str) -> Option<T> {
        match self.lookup(&self.key(key)).await {
            Lookup::Hit(value) => Some(value),
            Lookup::Miss | Lookup::Stale => None,
        }
    }

    async fn lookup<T: DeserializeOwned>(&self, key: &str) -> Lookup<T> {
        let bytes = match self.store.get(key).await {
            Ok(Some(bytes)) => bytes,
            Ok(None) => return Lookup::Miss,
            Err(error) => {
                store_failed(key, &error, "cache read failed; treated as a miss");
                return Lookup::Miss;
            }
        };
        if bytes.starts_with(FILL_MARK.as_bytes()) {
            return Lookup::Miss;
        }
        match serde_json::from_slice(&bytes) {
            Ok(value) => Lookup::Hit(value),
            Err(error) => {
                // Written by another version of the type, say: load it afresh.
                tracing::warn!(key, %error, "cached value does not decode; treated as a miss");
                Lookup::Stale
            }
        }
    }

    /// Stores `value` under `key` for `ttl`; skipped, with a warning, if the backend fails.
    pub async fn set<T: Serialize + ?Sized>(&self, key: &str, value: &T, ttl: Duration) {
        self.write(&self.key(key), value, ttl).await;
    }

    async fn write<T: Serialize + ?Sized>(&self, key: &str, value: &T, ttl: Duration) {
        let bytes = match serde_json::to_vec(value) {
            Ok(bytes) => bytes,
            Err(error) => {
                tracing::warn!(key, %error, "value cannot be cached; skipped");
                return;
            }
        };
        if let Err(error) = self.store.set(key, bytes, ttl).await {
            store_failed(key, &error, "cache write skipped");
        }
    }

    /// Removes `key`. If the backend fails, the entry lives until its TTL ends.
    pub async fn delete(&self, key: &str) {
        self.remove(&self.key(key)).await;
    }

    async fn remove(&self, key: &str) {
        if let Err(error) = self.store.delete(key).await {
            tracing::warn!(key, %error, "cache invalidation failed; the entry expires with its TTL");
        }
    }

    /// The value under `key`, or else what `load` returns, stored for `ttl`. Concurrent
    /// misses of one key wait for a single load and share its value; a failed load is
    /// returned to its caller and the next waiter loads instead.
    ///
    /// A [`delete`](Cache::delete) of `key` while the load runs (an update that committed
    /// after the load read the old row) wins: the loaded value is returned to this caller
    /// but not stored, since it may be older than the change. The load claims `key` in the
    /// store first (for at most 10 s, on every replica), and stores its value only if the
    /// claim is still there; the invalidation removes it.
    pub async fn get_or_load<T, E, F, Fut>(&self, key: &str, ttl: Duration, load: F) -> Result<T, E>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let key = self.key(key);
        match self.lookup(&key).await {
            Lookup::Hit(value) => return Ok(value),
            // Out of the way of this load's claim, which only an absent key takes.
            Lookup::Stale => self.remove(&key).await,
            Lookup::Miss => {}
        }
        let flight = self.flights.join(&key);
        let mut loaded = flight.lock().await;
        // Loaded by the flight we waited for (works even when the backend is down).
        if let Some(value) = loaded
            .as_deref()
            .and_then(|b| serde_json::from_slice(b).ok())
        {
            return Ok(value);
        }
        let fill = Fill::claim(&*self.store, &key).await;
        let value = match load().await {
            Ok(value) => value,
            Err(error) => {
                fill.release().await;
                return Err(error);
            }
        };
        match serde_json::to_vec(&value) {
            // Shared with those waiting unless invalidated meanwhile: then they load anew.
            Ok(bytes) if fill.store(bytes.clone(), ttl).await => *loaded = Some(bytes),
            Ok(_) => tracing::debug!(key, "invalidated while loading; not cached"),
            Err(error) => {
                fill.release().await;
                tracing::warn!(key, %error, "value cannot be cached; skipped");
            }
        }
        Ok(value)
    }

    /// Whether the backend answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.store.ping().await
    }
}

/// What a read found.
enum Lookup<T> {
    Hit(T),
    /// Absent, expired, a fill in progress, or the backend unreachable.
    Miss,
    /// A value that does not decode (another version of the type wrote it).
    Stale,
}

/// What a fill's claim holds in the store: not JSON, so no reader takes it for a value.
const FILL_MARK: &str = "\0fill:";
/// How long a load may take and still store its value.
const FILL_LEASE: Duration = Duration::from_secs(10);

/// A load's claim on its key; `None` inside when another load holds the key (on another
/// replica) or the store did not answer: the value is then not stored, and whether an
/// invalidation came between is not known.
struct Fill<'a> {
    store: &'a dyn Store,
    key: &'a str,
    token: Option<String>,
}

impl<'a> Fill<'a> {
    async fn claim(store: &'a dyn Store, key: &'a str) -> Fill<'a> {
        let token = format!("{FILL_MARK}{}", uuid::Uuid::new_v4().simple());
        let token = match store.claim(key, &token, FILL_LEASE).await {
            Ok(true) => Some(token),
            Ok(false) => None,
            Err(error) => {
                tracing::warn!(key, %error, "cache write skipped");
                None
            }
        };
        Fill { store, key, token }
    }

    /// Stores `value` if the claim still stands; `false` when an invalidation removed it.
    async fn store(&self, value: Vec<u8>, ttl: Duration) -> bool {
        let Some(token) = &self.token else {
            return true;
        };
        match self.store.replace(self.key, token, value, ttl).await {
            Ok(stored) => stored,
            Err(error) => {
                tracing::warn!(key = self.key, %error, "cache write skipped");
                true
            }
        }
    }

    /// Gives the claim up, so that the next miss can fill the key.
    async fn release(&self) {
        if let Some(token) = &self.token
            && let Err(error) = self.store.release(self.key, token).await
        {
            tracing::warn!(key = self.key, %error, "cache fill claim left to expire");
        }
    }
}

impl Injectable for Cache {
    fn dependency() -> Dependency {
        Dependency::Component(Key::of::<Cache>())
    }

    fn resolve(container: &Container) -> Result<Self, ResolveError> {
        container
            .get::<Cache>()
            .map(|cache| Cache::clone(&cache))
            .ok_or(ResolveError::Missing("Cache"))
    }
}

/// Logs a failed read or write of the store at WARN; one that Redis's open breaker refused
/// at DEBUG: the breaker logged its opening, and a line per request would only repeat it.
/// (A failed invalidation stays a warning: the entry then lives until its TTL ends.)
fn store_failed(key: &str, error: &StoreError, what: &str) {
    if matches!(error, StoreError::CircuitOpen(_)) {
        tracing::debug!(key, %error, "{what}");
    } else {
        tracing::warn!(key, %error, "{what}");
    }
}

/// What `REDIS_URL` names: the store, its breaker (Redis's), and the rate limiter on it
/// (`None` without the `ratelimit` feature).
struct Backend {
    store: Arc<dyn Store>,
    breaker: Option<Breaker>,
    limiter: Option<Arc<dyn RateLimiter>>,
}

/// The backend `REDIS_URL` names: `memory`, `memory://<name>`, or a Redis URL (loading
/// [`RedisConfig`] refused any other shape).
async fn build_store(
    url: &str,
    // The breaker's keys, for Redis.
    #[cfg_attr(not(feature = "redis"), allow(unused_variables))] settings: &Settings,
    // The service's key prefix, for the Redis rate limiter.
    #[cfg_attr(
        not(all(feature = "redis", feature = "ratelimit")),
        allow(unused_variables)
    )]
    prefix: &Arc<str>,
) -> Result<Backend, BuildError> {
    let url = url.trim();
    match crate::config::in_process_name(url) {
        Some(name) => Ok(Backend {
            store: MemoryStore::named(name),
            breaker: None,
            #[cfg(feature = "ratelimit")]
            limiter: Some(Arc::new(crate::rate_limit::LocalLimiter::default())),
            #[cfg(not(feature = "ratelimit"))]
            limiter: None,
        }),
        #[cfg(feature = "redis")]
        None => {
            let breaker = Breaker::new("redis", crate::breaker::BreakerConfig::load(settings)?);
            match RedisStore::connect(url, breaker.clone()).await {
                Ok(store) => {
                    let store = Arc::new(store);
                    Ok(Backend {
                        #[cfg(feature = "ratelimit")]
                        limiter: Some(Arc::new(rate_limit::RedisLimiter::new(
                            store.clone(),
                            prefix.clone(),
                        ))),
                        #[cfg(not(feature = "ratelimit"))]
                        limiter: None,
                        store,
                        breaker: Some(breaker),
                    })
                }
                // Not the URL itself: it may carry a password.
                Err(e) => Err(format!("invalid REDIS_URL: {e}").into()),
            }
        }
        #[cfg(not(feature = "redis"))]
        None => Err(
            "REDIS_URL names a Redis server, but framework was built without its \
             `redis` feature: enable it, or set REDIS_URL=memory for the in-process store"
                .into(),
        ),
    }
}

inventory::submit! {
    ProviderRecord {
        name: "framework::cache::Cache",
        provides: || {
            let mut keys = vec![Key::of::<Cache>(), Key::of::<dyn LeaseStore>()];
            if cfg!(feature = "ratelimit") {
                keys.push(Key::of::<dyn RateLimiter>());
            }
            keys
        },
        fields: Vec::new,
        condition: Some(Condition {
            name: "framework::cache::is_configured",
            check: is_configured,
            hint: Some(if cfg!(feature = "redis") {
                "REDIS_URL (redis://host:port, or memory)"
            } else {
                "REDIS_URL=memory"
            }),
        }),
        build: |ctx: &BuildContext| -> BuildFuture<'_> {
            Box::pin(async move {
                let url = RedisConfig::load(ctx.settings())?.url.unwrap_or_default();
                let prefix: Arc<str> = format!("{}:", ctx.config().app_name).into();
                let Backend { store, breaker, limiter } =
                    build_store(&url, ctx.settings(), &prefix).await?;
                let cache = Cache::new(store, &ctx.config().app_name);
                let checked = cache.clone();
                // The app does without its cache: down, it only degrades the app.
                ctx.health().add_probed_unit("redis", true, move || {
                    let (cache, breaker) = (checked.clone(), breaker.clone());
                    async move {
                        Probe {
                            result: cache.ping().await.map_err(|e| e.to_string()),
                            details: breaker.map(|b| b.health_details()),
                        }
                    }
                });
                let leases: Arc<dyn LeaseStore> = Arc::new(cache.clone());
                let mut built = vec![
                    Instance::of::<Cache>(Arc::new(cache)),
                    Instance::of::<dyn LeaseStore>(leases),
                ];
                built.extend(limiter.map(Instance::of::<dyn RateLimiter>));
                Ok(built)
            })
        },
        kind: ProviderKind::Framework,
        location: Location { file: file!(), line: line!() },
    }
}

/// The cache's store holds leases too, under the service's key prefix (cron's singleton jobs
/// take theirs here).
impl LeaseStore for Cache {
    fn claim<'a>(
        &'a self,
        key: &'a str,
        owner: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<bool, LeaseError>> {
        Box::pin(async move {
            let key = self.key(key);
            self.store
                .claim(&key, owner, ttl)
                .await
                .map_err(lease_error)
        })
    }

    fn renew<'a>(
        &'a self,
        key: &'a str,
        owner: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<bool, LeaseError>> {
        Box::pin(async move {
            let key = self.key(key);
            self.store
                .renew(&key, owner, ttl)
                .await
                .map_err(lease_error)
        })
    }

    fn release<'a>(
        &'a self,
        key: &'a str,
        owner: &'a str,
    ) -> BoxFuture<'a, Result<bool, LeaseError>> {
        Box::pin(async move {
            let key = self.key(key);
            self.store.release(&key, owner).await.map_err(lease_error)
        })
    }
}

fn lease_error(error: StoreError) -> LeaseError {
    LeaseError(error.to_string())
}
