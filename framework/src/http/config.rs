//! The `HTTP_*` keys.

use std::net::IpAddr;

use serde::Deserialize;

use crate::config::{ConfigError, ConfigSection, Settings};

/// The `HTTP_*` keys (see `envs/.env`).
#[derive(Debug, Clone, Deserialize, validator::Validate)]
pub struct HttpConfig {
    /// `HTTP_HOST`; default `127.0.0.1`.
    #[serde(default = "localhost")]
    pub host: IpAddr,
    /// `HTTP_PORT` (0: an ephemeral port); default 4000.
    #[serde(default = "default_port")]
    pub port: u16,
    /// `HTTP_BASE_PATH`: the prefix of every `#[http_route]`: empty, or `/` and segments
    /// without a trailing `/`; default `/api/v1`.
    #[serde(default = "default_base_path")]
    pub base_path: String,
    /// `HTTP_REQUEST_TIMEOUT_SECS`: the server's limit on one request, up to its response's
    /// headers (at least 1; default 30). gRPC takes it too unless `GRPC_REQUEST_TIMEOUT_SECS`
    /// is set.
    #[serde(default = "default_request_timeout")]
    pub request_timeout_secs: u64,
    /// `HTTP_BODY_LIMIT_BYTES`: larger bodies get 413; default 1 MiB.
    #[serde(default = "default_body_limit")]
    pub body_limit_bytes: usize,
    /// `HTTP_HEADER_READ_TIMEOUT_SECS`: a connection whose request head (request line and
    /// headers) has not fully arrived this long after it opened, or after the head's first
    /// byte on a kept-alive connection, is closed. At least 1; default 30, hyper's.
    #[serde(default = "default_header_read_timeout")]
    pub header_read_timeout_secs: u64,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            host: localhost(),
            port: default_port(),
            base_path: default_base_path(),
            request_timeout_secs: default_request_timeout(),
            body_limit_bytes: default_body_limit(),
            header_read_timeout_secs: default_header_read_timeout(),
        }
    }
}

impl ConfigSection for HttpConfig {
    const PREFIX: &'static str = "HTTP_";

    fn after_load(self, settings: &Settings) -> Result<Self, ConfigError> {
        let base = &self.base_path;
        if !base.is_empty() && (!base.starts_with('/') || base.ends_with('/')) {
            return Err(settings.invalid(
                "HTTP_BASE_PATH",
                "must be empty or start with `/` and not end with `/`, e.g. `/api/v1`",
            ));
        }
        if self.request_timeout_secs == 0 {
            return Err(settings.invalid("HTTP_REQUEST_TIMEOUT_SECS", "must be at least 1"));
        }
        if self.header_read_timeout_secs == 0 {
            return Err(settings.invalid("HTTP_HEADER_READ_TIMEOUT_SECS", "must be at least 1"));
        }
        Ok(self)
    }
}

fn localhost() -> IpAddr {
    IpAddr::from([127, 0, 0, 1])
}
fn default_port() -> u16 {
    4000
}
fn default_base_path() -> String {
    "/api/v1".into()
}
fn default_request_timeout() -> u64 {
    30
}
fn default_header_read_timeout() -> u64 {
    30
}
fn default_body_limit() -> usize {
    1024 * 1024
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_parsing_and_errors() {
        let settings = Settings::from_pairs([("HTTP_PORT", "0")]);
        let config = HttpConfig::load(&settings).unwrap();
        assert_eq!(config.port, 0);
        assert_eq!(config.base_path, "/api/v1");

        let settings = Settings::from_pairs([("HTTP_PORT", "eighty")]);
        let error = HttpConfig::load(&settings).unwrap_err().to_string();
        assert!(error.contains("`HTTP_PORT`=\"eighty\""), "{error}");

        let settings = Settings::from_pairs([("HTTP_BASE_PATH", "api/")]);
        let error = HttpConfig::load(&settings).unwrap_err().to_string();
        assert!(error.contains("HTTP_BASE_PATH"), "{error}");
    }
}
