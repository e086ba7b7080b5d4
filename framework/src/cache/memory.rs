//! The in-process store behind `REDIS_URL=memory`: process-wide and named (`memory`,
//! `memory://<name>`), like the in-process Kafka broker, so that several apps in one process
//! share it as replicas share a Redis.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use super::store::{BoxFuture, Store, StoreError};

/// Entries past this count make a write sweep out the expired ones first.
const SWEEP_AT: usize = 10_000;

/// An in-process store.
#[derive(Default)]
pub struct MemoryStore {
    entries: Mutex<HashMap<String, (Vec<u8>, Instant)>>,
}

impl MemoryStore {
    /// The process-wide store called `name`.
    pub fn named(name: &str) -> Arc<MemoryStore> {
        static STORES: OnceLock<Mutex<HashMap<String, Arc<MemoryStore>>>> = OnceLock::new();
        let stores = STORES.get_or_init(Default::default);
        let mut stores = stores.lock().unwrap_or_else(|e| e.into_inner());
        stores.entry(name.to_owned()).or_default().clone()
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Vec<u8>, Instant)>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Store for MemoryStore {
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Vec<u8>>, StoreError>> {
        let mut entries = self.entries();
        let value = match entries.get(key) {
            Some((value, expires)) if *expires > Instant::now() => Some(value.clone()),
            Some(_) => {
                entries.remove(key);
                None
            }
            None => None,
        };
        Box::pin(std::future::ready(Ok(value)))
    }

    fn set<'a>(
        &'a self,
        key: &'a str,
        value: Vec<u8>,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        let mut entries = self.entries();
        let now = Instant::now();
        if entries.len() >= SWEEP_AT {
            entries.retain(|_, (_, expires)| *expires > now);
        }
        entries.insert(key.to_owned(), (value, now + ttl));
        Box::pin(std::future::ready(Ok(())))
    }

    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        self.entries().remove(key);
        Box::pin(std::future::ready(Ok(())))
    }

    fn ping(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(std::future::ready(Ok(())))
    }

    fn claim<'a>(
        &'a self,
        key: &'a str,
        owner: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        let mut entries = self.entries();
        let now = Instant::now();
        let free = entries.get(key).is_none_or(|(_, expires)| *expires <= now);
        if free {
            entries.insert(key.to_owned(), (owner.as_bytes().to_vec(), now + ttl));
        }
        Box::pin(std::future::ready(Ok(free)))
    }

    fn renew<'a>(
        &'a self,
        key: &'a str,
        owner: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        let mut entries = self.entries();
        let now = Instant::now();
        let held = match entries.get_mut(key) {
            Some((holder, expires)) if holder == owner.as_bytes() && *expires > now => {
                *expires = now + ttl;
                true
            }
            _ => false,
        };
        Box::pin(std::future::ready(Ok(held)))
    }

    fn replace<'a>(
        &'a self,
        key: &'a str,
        owner: &'a str,
        value: Vec<u8>,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        let mut entries = self.entries();
        let now = Instant::now();
        let held = match entries.get_mut(key) {
            Some(entry) if entry.0 == owner.as_bytes() && entry.1 > now => {
                *entry = (value, now + ttl);
                true
            }
            _ => false,
        };
        Box::pin(std::future::ready(Ok(held)))
    }

    fn release<'a>(
        &'a self,
        key: &'a str,
        owner: &'a str,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        let mut entries = self.entries();
        let held = entries.get(key).is_some_and(|(holder, expires)| {
            holder == owner.as_bytes() && *expires > Instant::now()
        });
        if held {
            entries.remove(key);
        }
        Box::pin(std::future::ready(Ok(held)))
    }
}
