//! Redis through fred. The client reconnects by itself; while it is not connected, calls
//! fail at once (the cache then falls through) instead of queueing behind a dead connection.

use std::time::Duration;

use fred::bytes::Bytes;
use fred::prelude::{ClientLike, Config, Expiration, KeysInterface, LuaInterface, ReconnectPolicy};
use fred::types::Builder;
use fred::types::{SetOptions, Value};

use super::store::{BoxFuture, Store, StoreError};

/// How long a command may take before it counts as failed.
const COMMAND_TIMEOUT: Duration = Duration::from_millis(500);
/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// The delay between reconnection attempts, forever.
const RECONNECT_DELAY_MS: u32 = 500;

/// A Redis connection.
pub struct RedisStore {
    client: fred::clients::Client,
}

fn backend(error: fred::error::Error) -> StoreError {
    StoreError::Backend(error.to_string())
}

impl RedisStore {
    /// Connects to `url` (`redis://host:port[/db]`), waiting for the first connection up to
    /// a second; a server that is down is retried in the background until it answers.
    pub async fn connect(url: &str) -> Result<RedisStore, StoreError> {
        let mut config = Config::from_url(url).map_err(backend)?;
        // Host and port only: the URL may carry a password.
        let server = config
            .server
            .hosts()
            .iter()
            .map(|s| format!("{}:{}", s.host, s.port))
            .collect::<Vec<_>>()
            .join(",");
        // The first connection retries like any later one: the cache is optional.
        config.fail_fast = false;
        let client = Builder::from_config(config)
            .with_connection_config(|c| {
                c.connection_timeout = CONNECT_TIMEOUT;
                c.internal_command_timeout = CONNECT_TIMEOUT;
                c.max_command_attempts = 1;
            })
            .with_performance_config(|p| p.default_command_timeout = COMMAND_TIMEOUT)
            .set_policy(ReconnectPolicy::new_constant(0, RECONNECT_DELAY_MS))
            .build()
            .map_err(backend)?;
        let _connection = client.connect();
        if tokio::time::timeout(CONNECT_TIMEOUT, client.wait_for_connect())
            .await
            .is_err()
        {
            tracing::warn!(
                %server,
                "Redis does not answer; the cache is skipped until it does"
            );
        }
        Ok(RedisStore { client })
    }

    /// The client, when it is connected.
    fn connected(&self) -> Result<&fred::clients::Client, StoreError> {
        if self.client.is_connected() {
            Ok(&self.client)
        } else {
            Err(StoreError::Disconnected)
        }
    }
}

impl Store for RedisStore {
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Vec<u8>>, StoreError>> {
        Box::pin(async move {
            let value: Option<Bytes> = self.connected()?.get(key).await.map_err(backend)?;
            Ok(value.map(|v| v.to_vec()))
        })
    }

    fn set<'a>(
        &'a self,
        key: &'a str,
        value: Vec<u8>,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let expiry = Expiration::PX(millis(ttl));
            self.connected()?
                .set::<(), _, _>(key, value, Some(expiry), None, false)
                .await
                .map_err(backend)
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move { self.connected()?.del::<(), _>(key).await.map_err(backend) })
    }

    fn ping(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move { self.connected()?.ping::<()>(None).await.map_err(backend) })
    }

    fn claim<'a>(
        &'a self,
        key: &'a str,
        owner: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            let expiry = Expiration::PX(millis(ttl));
            let set: Option<String> = self
                .connected()?
                .set(key, owner, Some(expiry), Some(SetOptions::NX), false)
                .await
                .map_err(backend)?;
            Ok(set.is_some())
        })
    }

    fn renew<'a>(
        &'a self,
        key: &'a str,
        owner: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            let args = vec![owner.to_owned(), millis(ttl).to_string()];
            let renewed: i64 = self
                .connected()?
                .eval(RENEW, key, args)
                .await
                .map_err(backend)?;
            Ok(renewed == 1)
        })
    }

    fn replace<'a>(
        &'a self,
        key: &'a str,
        owner: &'a str,
        value: Vec<u8>,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            let args: Vec<Value> =
                vec![owner.into(), Bytes::from(value).into(), millis(ttl).into()];
            let replaced: i64 = self
                .connected()?
                .eval(REPLACE, key, args)
                .await
                .map_err(backend)?;
            Ok(replaced == 1)
        })
    }

    fn release<'a>(
        &'a self,
        key: &'a str,
        owner: &'a str,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            let released: i64 = self
                .connected()?
                .eval(RELEASE, key, owner)
                .await
                .map_err(backend)?;
            Ok(released == 1)
        })
    }
}

/// Extends the lease `KEYS[1]` to `ARGV[2]` ms if `ARGV[1]` holds it: atomic on the server.
const RENEW: &str = "if redis.call('get', KEYS[1]) == ARGV[1] then \
    return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end";
/// Sets `KEYS[1]` to `ARGV[2]` for `ARGV[3]` ms if `ARGV[1]` holds it.
const REPLACE: &str = "if redis.call('get', KEYS[1]) == ARGV[1] then \
    redis.call('set', KEYS[1], ARGV[2], 'PX', ARGV[3]) return 1 else return 0 end";
/// Deletes the lease `KEYS[1]` if `ARGV[1]` holds it.
const RELEASE: &str = "if redis.call('get', KEYS[1]) == ARGV[1] then \
    return redis.call('del', KEYS[1]) else return 0 end";

fn millis(duration: Duration) -> i64 {
    duration.as_millis().max(1) as i64
}
