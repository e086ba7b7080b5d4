//! The `GRPC_*` keys.

use std::net::IpAddr;

use serde::Deserialize;

use crate::config::{ConfigError, ConfigSection, Settings};
use crate::serving::client_address::TrustedProxies;

/// The `GRPC_*` keys (see `envs/.env`).
#[derive(Debug, Clone, Deserialize, validator::Validate)]
pub struct GrpcConfig {
    /// `GRPC_HOST`; default `127.0.0.1`.
    #[serde(default = "localhost")]
    pub host: IpAddr,
    /// `GRPC_PORT` (0: an ephemeral port); default 3000.
    #[serde(default = "default_port")]
    pub port: u16,
    /// `GRPC_REFLECTION`: serve gRPC server reflection; default false.
    #[serde(default)]
    pub reflection: bool,
    /// `GRPC_MAX_MESSAGE_BYTES`: the largest gRPC message decoded or encoded; at least 1,
    /// default 4 MiB.
    #[serde(default = "default_max_message")]
    pub max_message_bytes: usize,
    /// `GRPC_MAX_CONCURRENT_STREAMS`: the calls (streams included) one HTTP/2 connection may
    /// have open at once (`SETTINGS_MAX_CONCURRENT_STREAMS`, RFC 9113 §6.5.2); at least 1,
    /// default 200, hyper's default, which tonic would otherwise lift.
    #[serde(default = "default_max_streams")]
    pub max_concurrent_streams: u32,
    /// `GRPC_KEEPALIVE_SECS`: after this many seconds without a frame from a client, the
    /// server sends an HTTP/2 PING; unanswered within as long again (at most 20 s), the
    /// connection is closed with its calls, so a client that vanished (no FIN, no RST) does
    /// not keep its streams open. At least 1; default 60.
    #[serde(default = "default_keepalive")]
    pub keepalive_secs: u64,
    /// `GRPC_REQUEST_TIMEOUT_SECS`: the server's limit on one call up to its response's
    /// headers (at least 1). Unset: `HTTP_REQUEST_TIMEOUT_SECS`, the limit the service's
    /// servers share, else 30.
    #[serde(default)]
    pub request_timeout_secs: Option<u64>,
    /// `GRPC_TRUSTED_PROXIES`: the reverse proxies in front of the gRPC server, as
    /// addresses or CIDR networks separated by commas; a call from one counts, for rate
    /// limits, as its `x-forwarded-for` client's. Unset: `HTTP_TRUSTED_PROXIES`, the
    /// service's; empty: none (the peer is the client).
    #[serde(default)]
    pub trusted_proxies: Option<String>,
}

/// The HTTP keys the service's servers share, which gRPC falls back to.
#[derive(Deserialize, validator::Validate)]
struct Shared {
    #[serde(default)]
    request_timeout_secs: Option<u64>,
    #[serde(default)]
    trusted_proxies: Option<String>,
}

impl ConfigSection for Shared {
    const PREFIX: &'static str = "HTTP_";
}

impl ConfigSection for GrpcConfig {
    const PREFIX: &'static str = "GRPC_";

    fn after_load(mut self, settings: &Settings) -> Result<Self, ConfigError> {
        if self.keepalive_secs == 0 {
            return Err(settings.invalid("GRPC_KEEPALIVE_SECS", "must be at least 1"));
        }
        if self.max_message_bytes == 0 {
            return Err(settings.invalid("GRPC_MAX_MESSAGE_BYTES", "must be at least 1"));
        }
        if self.max_concurrent_streams == 0 {
            return Err(settings.invalid("GRPC_MAX_CONCURRENT_STREAMS", "must be at least 1"));
        }
        let shared = Shared::load(settings)?;
        let (key, timeout) = match self.request_timeout_secs {
            Some(timeout) => ("GRPC_REQUEST_TIMEOUT_SECS", timeout),
            None => (
                "HTTP_REQUEST_TIMEOUT_SECS",
                shared
                    .request_timeout_secs
                    .unwrap_or(DEFAULT_REQUEST_TIMEOUT_SECS),
            ),
        };
        if timeout == 0 {
            return Err(settings.invalid(key, "must be at least 1"));
        }
        self.request_timeout_secs = Some(timeout);
        let (key, proxies) = match self.trusted_proxies.take() {
            Some(proxies) => ("GRPC_TRUSTED_PROXIES", proxies),
            None => (
                "HTTP_TRUSTED_PROXIES",
                shared.trusted_proxies.unwrap_or_default(),
            ),
        };
        TrustedProxies::parse(&proxies).map_err(|reason| settings.invalid(key, reason))?;
        self.trusted_proxies = Some(proxies);
        Ok(self)
    }
}

impl GrpcConfig {
    /// The trusted proxies, resolved by [`ConfigSection::load`] (and checked then).
    pub(crate) fn proxies(&self) -> TrustedProxies {
        TrustedProxies::parse(self.trusted_proxies.as_deref().unwrap_or_default())
            .unwrap_or_default()
    }

    /// The limit on one call, resolved by [`ConfigSection::load`].
    pub fn request_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(
            self.request_timeout_secs
                .unwrap_or(DEFAULT_REQUEST_TIMEOUT_SECS),
        )
    }
}

const DEFAULT_REQUEST_TIMEOUT_SECS: u64 = 30;

fn localhost() -> IpAddr {
    IpAddr::from([127, 0, 0, 1])
}
fn default_port() -> u16 {
    3000
}
fn default_max_message() -> usize {
    4 * 1024 * 1024
}
fn default_keepalive() -> u64 {
    60
}
fn default_max_streams() -> u32 {
    200
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn defaults_and_the_shared_request_timeout() {
        let config = GrpcConfig::load(&Settings::from_pairs([("HTTP_PORT", "0")])).unwrap();
        assert_eq!(config.port, 3000);
        assert_eq!(config.request_timeout(), Duration::from_secs(30));

        let settings = Settings::from_pairs([("HTTP_REQUEST_TIMEOUT_SECS", "2")]);
        let config = GrpcConfig::load(&settings).unwrap();
        assert_eq!(config.request_timeout(), Duration::from_secs(2));

        let settings = Settings::from_pairs([
            ("HTTP_REQUEST_TIMEOUT_SECS", "2"),
            ("GRPC_REQUEST_TIMEOUT_SECS", "5"),
        ]);
        let config = GrpcConfig::load(&settings).unwrap();
        assert_eq!(config.request_timeout(), Duration::from_secs(5));

        let settings = Settings::from_pairs([("GRPC_REQUEST_TIMEOUT_SECS", "0")]);
        let error = GrpcConfig::load(&settings).unwrap_err().to_string();
        assert!(error.contains("`GRPC_REQUEST_TIMEOUT_SECS`"), "{error}");
    }
}
