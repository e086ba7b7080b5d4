//! The `HTTP_*` keys.

use std::net::IpAddr;

use serde::Deserialize;

use crate::config::{ConfigError, ConfigSection, Settings};
use crate::serving::client_address::TrustedProxies;

/// The `HTTP_*` keys (see `envs/.env`).
#[derive(Debug, Clone, Deserialize, validator::Validate)]
pub struct HttpConfig {
    /// `HTTP_HOST`; default `127.0.0.1`.
    #[serde(default = "localhost")]
    pub host: IpAddr,
    /// `HTTP_PORT` (0: an ephemeral port); default 4000.
    #[serde(default = "default_port")]
    pub port: u16,
    /// `HTTP_BASE_PATH`: the prefix of every `#[http_route]`: empty, or `/`-led segments of
    /// RFC 3986 unreserved characters (`A-Z a-z 0-9 - . _ ~`), no trailing `/`; default
    /// `/api/v1`.
    #[serde(default = "default_base_path")]
    pub base_path: String,
    /// `HTTP_REQUEST_TIMEOUT_SECS`: the server's limit on one request, up to its response's
    /// headers (at least 1; default 30). gRPC takes it too unless `GRPC_REQUEST_TIMEOUT_SECS`
    /// is set.
    #[serde(default = "default_request_timeout")]
    pub request_timeout_secs: u64,
    /// `HTTP_BODY_LIMIT_BYTES`: larger bodies get 413; at least 1, default 1 MiB.
    #[serde(default = "default_body_limit")]
    pub body_limit_bytes: usize,
    /// `HTTP_HEADER_READ_TIMEOUT_SECS`: a connection whose request head (request line and
    /// headers) has not fully arrived this long after it opened, or after the head's first
    /// byte on a kept-alive connection, is closed. At least 1; default 30, hyper's.
    #[serde(default = "default_header_read_timeout")]
    pub header_read_timeout_secs: u64,
    /// `HTTP_IDEMPOTENCY_TTL_SECS`: how long an `Idempotency-Key` and its response are kept
    /// (a retry within it gets the first response); at least 1, default 86400 (a day).
    #[serde(default = "default_idempotency_ttl")]
    pub idempotency_ttl_secs: u64,
    /// `HTTP_TRUSTED_PROXIES`: the reverse proxies (load balancers) in front of the service,
    /// as addresses or CIDR networks separated by commas (`10.0.0.0/8`); a request from one
    /// counts, for rate limits, as its `X-Forwarded-For` client's. Default empty: the
    /// connection's peer is the client, and `X-Forwarded-For` is ignored.
    #[serde(default)]
    pub trusted_proxies: String,
    /// `HTTP_CORS_ALLOWED_ORIGINS`: the origins browsers may call from, separated by commas
    /// (`https://app.example.com`), or `*`; empty (the default): no CORS headers, so browsers
    /// refuse cross-origin reads. A preflight from another origin gets no CORS headers either.
    #[serde(default)]
    pub cors_allowed_origins: Option<String>,
    /// `HTTP_CORS_ALLOWED_METHODS`: default `GET,POST,PUT,PATCH,DELETE`.
    #[serde(default = "default_cors_methods")]
    pub cors_allowed_methods: String,
    /// `HTTP_CORS_ALLOWED_HEADERS`: the request headers a page may send; default
    /// `authorization,content-type,idempotency-key,x-api-key,x-request-id`.
    #[serde(default = "default_cors_headers")]
    pub cors_allowed_headers: String,
    /// `HTTP_CORS_EXPOSE_HEADERS`: the response headers a page may read; default
    /// `x-request-id,retry-after,www-authenticate,idempotent-replayed,ratelimit,ratelimit-policy`.
    #[serde(default = "default_cors_expose")]
    pub cors_expose_headers: String,
    /// `HTTP_CORS_ALLOW_CREDENTIALS`: whether pages may send cookies and read the answer
    /// (not with `*` origins); default false.
    #[serde(default)]
    pub cors_allow_credentials: bool,
    /// `HTTP_CORS_MAX_AGE_SECS`: how long a browser may keep a preflight's answer; default 600.
    #[serde(default = "default_cors_max_age")]
    pub cors_max_age_secs: u64,
    /// `HTTP_HSTS_MAX_AGE_SECS`: above 0, every response says
    /// `strict-transport-security: max-age=<it>` (RFC 6797; set it where TLS ends in front of
    /// the service); default 0, none.
    #[serde(default)]
    pub hsts_max_age_secs: u64,
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
            idempotency_ttl_secs: default_idempotency_ttl(),
            trusted_proxies: String::new(),
            cors_allowed_origins: None,
            cors_allowed_methods: default_cors_methods(),
            cors_allowed_headers: default_cors_headers(),
            cors_expose_headers: default_cors_expose(),
            cors_allow_credentials: false,
            cors_max_age_secs: default_cors_max_age(),
            hsts_max_age_secs: 0,
        }
    }
}

impl ConfigSection for HttpConfig {
    const PREFIX: &'static str = "HTTP_";

    fn after_load(self, settings: &Settings) -> Result<Self, ConfigError> {
        if !is_base_path(&self.base_path) {
            return Err(settings.invalid(
                "HTTP_BASE_PATH",
                "must be empty or start with `/` and not end with `/`, e.g. `/api/v1`, each \
                 segment made of `A-Z a-z 0-9 - . _ ~`",
            ));
        }
        if self.request_timeout_secs == 0 {
            return Err(settings.invalid("HTTP_REQUEST_TIMEOUT_SECS", "must be at least 1"));
        }
        if self.body_limit_bytes == 0 {
            return Err(settings.invalid("HTTP_BODY_LIMIT_BYTES", "must be at least 1"));
        }
        if self.header_read_timeout_secs == 0 {
            return Err(settings.invalid("HTTP_HEADER_READ_TIMEOUT_SECS", "must be at least 1"));
        }
        if self.idempotency_ttl_secs == 0 {
            return Err(settings.invalid("HTTP_IDEMPOTENCY_TTL_SECS", "must be at least 1"));
        }
        super::cors::layer(&self).map_err(|(key, reason)| settings.invalid(key, reason))?;
        TrustedProxies::parse(&self.trusted_proxies)
            .map_err(|reason| settings.invalid("HTTP_TRUSTED_PROXIES", reason))?;
        Ok(self)
    }
}

impl HttpConfig {
    /// `HTTP_TRUSTED_PROXIES`, parsed (checked when the config loaded: an entry that does not
    /// parse cannot be left by then).
    pub(crate) fn proxies(&self) -> TrustedProxies {
        TrustedProxies::parse(&self.trusted_proxies).unwrap_or_default()
    }
}

/// Empty, or `/seg/seg` with non-empty segments of unreserved characters (RFC 3986 §2.3):
/// nothing the router reads as a parameter (`{id}`), a wildcard (`*rest`), a query or an
/// empty segment.
fn is_base_path(path: &str) -> bool {
    path.is_empty()
        || path.strip_prefix('/').is_some_and(|segments| {
            segments.split('/').all(|segment| {
                !segment.is_empty()
                    && segment.bytes().all(|b| {
                        b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
                    })
            })
        })
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
fn default_idempotency_ttl() -> u64 {
    86_400
}

fn default_cors_methods() -> String {
    "GET,POST,PUT,PATCH,DELETE".into()
}
fn default_cors_headers() -> String {
    "authorization,content-type,idempotency-key,x-api-key,x-request-id".into()
}
fn default_cors_expose() -> String {
    "x-request-id,retry-after,www-authenticate,idempotent-replayed,ratelimit,ratelimit-policy"
        .into()
}
fn default_cors_max_age() -> u64 {
    600
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

        for bad in [
            "api/",
            "/api/",
            "/",
            "/api/*rest",
            "/api/{x}",
            "/a b",
            "/api?x=1",
            "/api//v1",
        ] {
            let settings = Settings::from_pairs([("HTTP_BASE_PATH", bad)]);
            let error = HttpConfig::load(&settings).unwrap_err().to_string();
            assert!(error.contains("HTTP_BASE_PATH"), "{bad}: {error}");
        }
        for good in ["", "/api", "/api/v1", "/v1.2/x_y-z~"] {
            let settings = Settings::from_pairs([("HTTP_BASE_PATH", good)]);
            assert!(HttpConfig::load(&settings).is_ok(), "{good}");
        }
        for zero in ["HTTP_BODY_LIMIT_BYTES", "HTTP_REQUEST_TIMEOUT_SECS"] {
            let error = HttpConfig::load(&Settings::from_pairs([(zero, "0")]))
                .unwrap_err()
                .to_string();
            assert!(error.contains("must be at least 1"), "{zero}: {error}");
        }
    }
}
