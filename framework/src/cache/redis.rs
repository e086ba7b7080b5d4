//! Redis through fred. The client reconnects by itself; while it is not connected, calls
//! fail at once (the cache then falls through) instead of queueing behind a dead connection.
//! A server that is connected but does not answer (stopped with SIGSTOP, or swamped) costs
//! each command its timeout, until `BREAKER_FAILURES` of them in a row open the `redis`
//! circuit breaker: then commands fail at once for `BREAKER_OPEN_MS` (see
//! [`crate::breaker`]).

use std::future::Future;
use std::time::Duration;

use fred::bytes::Bytes;
use fred::prelude::{ClientLike, Config, Expiration, KeysInterface, LuaInterface, ReconnectPolicy};
use fred::types::Builder;
use fred::types::{SetOptions, Value};

use super::store::{BoxFuture, Store, StoreError};
use crate::breaker::Breaker;

/// How long a command may take before it counts as failed.
const COMMAND_TIMEOUT: Duration = Duration::from_millis(500);
/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// The delay between reconnection attempts, forever.
const RECONNECT_DELAY_MS: u32 = 500;

/// A Redis connection, behind its breaker.
pub struct RedisStore {
    client: fred::clients::Client,
    breaker: Breaker,
}

fn backend(error: fred::error::Error) -> StoreError {
    StoreError::Backend(error.to_string())
}

impl RedisStore {
    /// Connects to `url` (`redis://host:port[/db]`), waiting for the first connection up to
    /// a second; a server that is down is retried in the background until it answers.
    /// Commands go through `breaker`.
    pub async fn connect(url: &str, breaker: Breaker) -> Result<RedisStore, StoreError> {
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
        Ok(RedisStore { client, breaker })
    }

    /// Runs `command` when the breaker admits it and the client is connected, and reports
    /// its outcome to the breaker: not connected, a transport failure or a timeout count
    /// against Redis, anything else (a wrong type, say) is an answer.
    async fn call<'a, T, F>(
        &'a self,
        command: impl FnOnce(&'a fred::clients::Client) -> F,
    ) -> Result<T, StoreError>
    where
        F: Future<Output = Result<T, fred::error::Error>>,
    {
        let permit = self.breaker.admit()?;
        if !self.client.is_connected() {
            permit.fail();
            return Err(StoreError::Disconnected);
        }
        let result = command(&self.client).await;
        match &result {
            Err(error) if unavailable(error) => permit.fail(),
            _ => permit.finish(None),
        }
        result.map_err(backend)
    }
}

/// Whether `error` says Redis did not answer.
fn unavailable(error: &fred::error::Error) -> bool {
    use fred::error::ErrorKind::{Canceled, IO, Timeout};
    matches!(error.kind(), IO | Timeout | Canceled)
}

impl Store for RedisStore {
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Vec<u8>>, StoreError>> {
        Box::pin(async move {
            let value: Option<Bytes> = self.call(|client| client.get(key)).await?;
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
            self.call(|client| client.set::<(), _, _>(key, value, Some(expiry), None, false))
                .await
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move { self.call(|client| client.del::<(), _>(key)).await })
    }

    fn ping(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        // Past the breaker: health asks whether Redis answers now.
        Box::pin(async move {
            if !self.client.is_connected() {
                return Err(StoreError::Disconnected);
            }
            self.client.ping::<()>(None).await.map_err(backend)
        })
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
                .call(|client| client.set(key, owner, Some(expiry), Some(SetOptions::NX), false))
                .await?;
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
            let renewed: i64 = self.call(|client| client.eval(RENEW, key, args)).await?;
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
            let replaced: i64 = self.call(|client| client.eval(REPLACE, key, args)).await?;
            Ok(replaced == 1)
        })
    }

    fn release<'a>(
        &'a self,
        key: &'a str,
        owner: &'a str,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            let released: i64 = self.call(|client| client.eval(RELEASE, key, owner)).await?;
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

/// GCRA on the server's clock (`TIME`), so that replicas whose clocks differ agree:
/// `KEYS[1]` holds the theoretical arrival time in µs; `ARGV[1]` is the interval in µs,
/// `ARGV[2]` the burst. Returns `{admitted, remaining, retry_after_us, reset_us}`. The time is
/// written with `%.0f`: Lua's own conversion of a number keeps 14 digits, not the 16 here. A
/// stored value that no step could have written (not a number, NaN, beyond a whole burst
/// ahead) counts as absent, so that it cannot lock its client out.
#[cfg(feature = "ratelimit")]
const GCRA: &str = "redis.replicate_commands() \
    local interval = tonumber(ARGV[1]) local burst = tonumber(ARGV[2]) \
    local time = redis.call('TIME') \
    local now = tonumber(time[1]) * 1000000 + tonumber(time[2]) \
    local tat = tonumber(redis.call('GET', KEYS[1])) \
    if not tat or tat ~= tat or tat < now or tat > now + interval * burst then tat = now end \
    local allow_at = tat + interval - interval * burst \
    if allow_at > now then return {0, 0, allow_at - now, tat - now} end \
    local next_tat = tat + interval \
    redis.call('SET', KEYS[1], string.format('%.0f', next_tat), 'PX', \
        math.ceil((next_tat - now) / 1000)) \
    return {1, math.floor((now - allow_at) / interval), 0, next_tat - now}";

#[cfg(feature = "ratelimit")]
impl RedisStore {
    /// Counts one request under `key` against `quota`, atomically on the server.
    ///
    /// # Errors
    /// [`StoreError`] when Redis does not answer (or its breaker is open).
    pub(crate) async fn admit(
        &self,
        key: &str,
        quota: crate::rate_limit::Quota,
    ) -> Result<crate::rate_limit::Decision, StoreError> {
        let interval = quota.interval().as_micros().max(1) as i64;
        let args: Vec<i64> = vec![interval, i64::from(quota.limit)];
        let reply: Vec<i64> = self.call(|client| client.eval(GCRA, key, args)).await?;
        let micros = |n: Option<&i64>| Duration::from_micros(n.copied().unwrap_or(0).max(0) as u64);
        Ok(crate::rate_limit::Decision {
            admitted: reply.first() == Some(&1),
            remaining: reply
                .get(1)
                .map_or(0, |&n| n.clamp(0, i64::from(u32::MAX)) as u32),
            retry_after: micros(reply.get(2)),
            reset: micros(reply.get(3)),
        })
    }
}
