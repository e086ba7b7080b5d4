//! The cache: typed values with a TTL, invalidation, and cache-aside loading that lets one
//! load per key through at a time. `REDIS_URL=redis://..` uses Redis, `REDIS_URL=memory` an
//! in-process store with the same behaviour.
//!
//! The cache is never the source of truth: when the backend fails, reads fall through (to
//! the loader) and writes are skipped, each with a warning, and the caller goes on.

mod flight;
mod memory;
mod redis;
mod store;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

pub use memory::MemoryStore;
pub use redis::RedisStore;
pub use store::{Store, StoreError};

use crate::config::Settings;
use crate::di::{Container, Dependency, Injectable, Instance, Key, ResolveError};
use crate::registry::{
    BuildContext, BuildError, BuildFuture, Condition, Location, ProviderKind, ProviderRecord,
};

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

    /// The store, for job leases.
    pub(crate) fn store(&self) -> &dyn Store {
        &*self.store
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
        self.read(&self.key(key)).await
    }

    async fn read<T: DeserializeOwned>(&self, key: &str) -> Option<T> {
        let bytes = match self.store.get(key).await {
            Ok(bytes) => bytes?,
            Err(error) => {
                tracing::warn!(key, %error, "cache read failed; treated as a miss");
                return None;
            }
        };
        match serde_json::from_slice(&bytes) {
            Ok(value) => Some(value),
            Err(error) => {
                // Written by another version of the type, say: load it afresh.
                tracing::warn!(key, %error, "cached value does not decode; treated as a miss");
                None
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
            tracing::warn!(key, %error, "cache write skipped");
        }
    }

    /// Removes `key`. If the backend fails, the entry lives until its TTL ends.
    pub async fn delete(&self, key: &str) {
        let key = self.key(key);
        if let Err(error) = self.store.delete(&key).await {
            tracing::warn!(key, %error, "cache invalidation failed; the entry expires with its TTL");
        }
    }

    /// The value under `key`, or else what `load` returns, stored for `ttl`. Concurrent
    /// misses of one key wait for a single load and share its value; a failed load is
    /// returned to its caller and the next waiter loads instead.
    pub async fn get_or_load<T, E, F, Fut>(&self, key: &str, ttl: Duration, load: F) -> Result<T, E>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let key = self.key(key);
        if let Some(value) = self.read(&key).await {
            return Ok(value);
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
        let value = load().await?;
        match serde_json::to_vec(&value) {
            Ok(bytes) => {
                if let Err(error) = self.store.set(&key, bytes.clone(), ttl).await {
                    tracing::warn!(key, %error, "cache write skipped");
                }
                *loaded = Some(bytes);
            }
            Err(error) => tracing::warn!(key, %error, "value cannot be cached; skipped"),
        }
        Ok(value)
    }

    /// Whether the backend answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.store.ping().await
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

/// The store `REDIS_URL` names: `memory`, `memory://<name>`, or a Redis URL.
async fn build_store(url: &str) -> Result<Arc<dyn Store>, BuildError> {
    let url = url.trim();
    match crate::config::in_process_name(url) {
        Some(name) => Ok(MemoryStore::named(name)),
        None if !url.starts_with("redis://") => Err(
            "REDIS_URL must be `redis://[:password@]host:port[/db]`, `memory` or `memory://<name>`"
                .into(),
        ),
        None => match RedisStore::connect(url).await {
            Ok(store) => Ok(Arc::new(store)),
            // Not the URL itself: it may carry a password.
            Err(e) => Err(format!("invalid REDIS_URL: {e}").into()),
        },
    }
}

inventory::submit! {
    ProviderRecord {
        name: "framework::cache::Cache",
        provides: || vec![Key::of::<Cache>()],
        fields: Vec::new,
        condition: Some(Condition { name: "framework::cache::is_configured", check: is_configured }),
        build: |ctx: &BuildContext| -> BuildFuture<'_> {
            Box::pin(async move {
                let config = ctx.config();
                let store = build_store(config.redis_url.as_deref().unwrap_or_default()).await?;
                let cache = Cache::new(store, &config.app_name);
                let checked = cache.clone();
                // The app does without its cache: down, it only degrades the app.
                ctx.health().add_optional_unit("redis", move || {
                    let cache = checked.clone();
                    async move { cache.ping().await.map_err(|e| e.to_string()) }
                });
                Ok(vec![Instance::of::<Cache>(Arc::new(cache))])
            })
        },
        kind: ProviderKind::Framework,
        location: Location { file: file!(), line: line!() },
    }
}
