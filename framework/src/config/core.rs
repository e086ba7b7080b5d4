use std::net::IpAddr;
use std::time::Duration;

use serde::Deserialize;

use super::{ConfigError, Settings, de};

/// The keys every service reads (see `envs/.env` for what each means).
#[derive(Debug, Clone, Deserialize)]
pub struct CoreConfig {
    /// `APP_ENV`: selects `envs/$APP_ENV.env`.
    #[serde(default)]
    pub app_env: String,
    /// `APP_NAME`: the service name in logs, metrics, cache keys and the OpenAPI document.
    #[serde(default = "default_app_name")]
    pub app_name: String,
    /// `APP_VERSION`: the service version in the OpenAPI document.
    #[serde(default = "default_app_version")]
    pub app_version: String,
    /// `HTTP_*` keys.
    #[serde(skip)]
    pub http: HttpConfig,
    /// `GRPC_HOST`.
    #[serde(default = "localhost")]
    pub grpc_host: IpAddr,
    /// `GRPC_PORT` (0: an ephemeral port).
    #[serde(default = "default_grpc_port")]
    pub grpc_port: u16,
    /// `GRPC_REFLECTION`: serve gRPC server reflection.
    #[serde(default)]
    pub grpc_reflection: bool,
    /// `GRPC_MAX_MESSAGE_BYTES`: the largest gRPC message decoded or encoded.
    #[serde(default = "default_grpc_max_message")]
    pub grpc_max_message_bytes: usize,
    /// `GRPC_MAX_CONCURRENT_STREAMS`: the calls (streams included) one HTTP/2 connection may
    /// have open at once (`SETTINGS_MAX_CONCURRENT_STREAMS`, RFC 9113 §6.5.2); default 200,
    /// hyper's default, which tonic would otherwise lift.
    #[serde(default = "default_grpc_max_streams")]
    pub grpc_max_concurrent_streams: u32,
    /// `GRPC_KEEPALIVE_SECS`: after this many seconds without a frame from a client, the
    /// server sends an HTTP/2 PING; unanswered within as long again (at most 20 s), the
    /// connection is closed with its calls, so a client that vanished (no FIN, no RST) does
    /// not keep its streams open. Default 60.
    #[serde(default = "default_grpc_keepalive")]
    pub grpc_keepalive_secs: u64,
    /// `DATABASE_URL`: `postgres://...` or `sqlite://...`; empty for no database.
    #[serde(default)]
    pub database_url: Option<String>,
    /// `DATABASE_MIGRATE`: run the embedded migrations at startup.
    #[serde(default)]
    pub database_migrate: bool,
    /// `DATABASE_MAX_CONNECTIONS`.
    #[serde(default = "default_max_connections")]
    pub database_max_connections: u32,
    /// `REDIS_URL`.
    #[serde(default)]
    pub redis_url: Option<String>,
    /// `KAFKA_BROKERS`: `host:port,...`, or `memory` for the in-process broker.
    #[serde(default)]
    pub kafka_brokers: Option<String>,
    /// `KAFKA_CREATE_TOPICS`: create the consumed and dead-letter topics at startup.
    #[serde(default)]
    pub kafka_create_topics: bool,
    /// `KAFKA_SESSION_TIMEOUT_MS`: how long the group waits for a silent member (a crashed
    /// one) before giving its partitions to the others.
    #[serde(default = "default_session_timeout")]
    pub kafka_session_timeout_ms: u64,
    /// `KAFKA_GROUP_INSTANCE_ID`: when set, this process is a static member of its consumer
    /// groups (KIP-345) under this id (`<id>-<topic>` per consumer); empty: dynamic
    /// membership. Unique per replica and stable across its restarts (a StatefulSet pod's
    /// name, say).
    #[serde(default)]
    pub kafka_group_instance_id: Option<String>,
    /// `SENTRY_DSN`: where Sentry events go; empty disables Sentry.
    #[serde(default)]
    pub sentry_dsn: Option<String>,
    /// `SENTRY_ENVIRONMENT`: the events' environment; `APP_ENV` (or `development`) when empty.
    #[serde(default)]
    pub sentry_environment: Option<String>,
    /// `SENTRY_RELEASE`: the events' release, such as `articles@1.4.2`; none when empty.
    #[serde(default)]
    pub sentry_release: Option<String>,
    /// `LOG_LEVEL`: a tracing filter such as `info` or `info,sqlx=warn`.
    #[serde(default = "default_log_level")]
    pub log_level: String,
    /// `LOG_FORMAT`: `text` or `json`.
    #[serde(default)]
    pub log_format: LogFormat,
    /// `SHUTDOWN_DELAY_SECS`: after a signal, how long to keep serving with readiness false,
    /// so load balancers stop sending traffic before the listener closes.
    #[serde(default)]
    pub shutdown_delay_secs: u64,
    /// `SHUTDOWN_TIMEOUT_SECS`: the deadline for a graceful shutdown.
    #[serde(default = "default_shutdown_secs")]
    pub shutdown_timeout_secs: u64,
}

/// The `HTTP_*` keys.
#[derive(Debug, Clone, Deserialize)]
pub struct HttpConfig {
    /// `HTTP_HOST`.
    #[serde(default = "localhost")]
    pub host: IpAddr,
    /// `HTTP_PORT` (0: an ephemeral port).
    #[serde(default = "default_http_port")]
    pub port: u16,
    /// `HTTP_BASE_PATH`: the prefix of every `#[http_route]`.
    #[serde(default = "default_base_path")]
    pub base_path: String,
    /// `HTTP_REQUEST_TIMEOUT_SECS`.
    #[serde(default = "default_request_timeout")]
    pub request_timeout_secs: u64,
    /// `HTTP_BODY_LIMIT_BYTES`: larger bodies get 413.
    #[serde(default = "default_body_limit")]
    pub body_limit_bytes: usize,
    /// `HTTP_HEADER_READ_TIMEOUT_SECS`: a connection whose request head (request line and
    /// headers) has not fully arrived this long after it opened, or after the head's first
    /// byte on a kept-alive connection, is closed. Default 30, hyper's.
    #[serde(default = "default_header_read_timeout")]
    pub header_read_timeout_secs: u64,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            host: localhost(),
            port: default_http_port(),
            base_path: default_base_path(),
            request_timeout_secs: default_request_timeout(),
            body_limit_bytes: default_body_limit(),
            header_read_timeout_secs: default_header_read_timeout(),
        }
    }
}

/// `LOG_FORMAT`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

impl CoreConfig {
    /// Reads and checks the core keys.
    pub fn load(settings: &Settings) -> Result<Self, ConfigError> {
        let mut core: CoreConfig = de::from_settings(settings, "")?;
        core.http = de::from_settings(settings, "HTTP_")?;
        let set = |value: Option<String>| value.filter(|v| !v.trim().is_empty());
        core.database_url = set(core.database_url);
        core.sentry_dsn = set(core.sentry_dsn);
        core.sentry_environment = set(core.sentry_environment);
        core.sentry_release = set(core.sentry_release);
        if let Some(dsn) = &core.sentry_dsn
            && dsn.trim().parse::<sentry::types::Dsn>().is_err()
        {
            return Err(settings.invalid(
                "SENTRY_DSN",
                "not a Sentry DSN: expected `https://<public key>@<host>/<project id>`",
            ));
        }
        let base = &core.http.base_path;
        if !base.is_empty() && (!base.starts_with('/') || base.ends_with('/')) {
            return Err(settings.invalid(
                "HTTP_BASE_PATH",
                "must be empty or start with `/` and not end with `/`, e.g. `/api/v1`",
            ));
        }
        if let Err(error) = tracing_subscriber::EnvFilter::try_new(&core.log_level) {
            return Err(settings.invalid("LOG_LEVEL", format!("not a tracing filter: {error}")));
        }
        if core.shutdown_delay_secs >= core.shutdown_timeout_secs {
            return Err(settings.invalid(
                "SHUTDOWN_DELAY_SECS",
                format!(
                    "must be less than SHUTDOWN_TIMEOUT_SECS ({})",
                    core.shutdown_timeout_secs
                ),
            ));
        }
        if core.http.request_timeout_secs == 0 {
            return Err(settings.invalid("HTTP_REQUEST_TIMEOUT_SECS", "must be at least 1"));
        }
        if core.http.header_read_timeout_secs == 0 {
            return Err(settings.invalid("HTTP_HEADER_READ_TIMEOUT_SECS", "must be at least 1"));
        }
        if core.grpc_keepalive_secs == 0 {
            return Err(settings.invalid("GRPC_KEEPALIVE_SECS", "must be at least 1"));
        }
        if core.grpc_max_concurrent_streams == 0 {
            return Err(settings.invalid("GRPC_MAX_CONCURRENT_STREAMS", "must be at least 1"));
        }
        Ok(core)
    }

    /// How long readiness is false before the listener closes.
    pub fn shutdown_delay(&self) -> Duration {
        Duration::from_secs(self.shutdown_delay_secs)
    }

    /// The graceful shutdown deadline.
    pub fn shutdown_timeout(&self) -> Duration {
        Duration::from_secs(self.shutdown_timeout_secs)
    }
}

fn localhost() -> IpAddr {
    IpAddr::from([127, 0, 0, 1])
}
fn default_app_name() -> String {
    "service".into()
}
fn default_app_version() -> String {
    "0.0.0".into()
}
fn default_grpc_port() -> u16 {
    3000
}
fn default_grpc_max_message() -> usize {
    4 * 1024 * 1024
}
fn default_grpc_keepalive() -> u64 {
    60
}
fn default_grpc_max_streams() -> u32 {
    200
}
fn default_session_timeout() -> u64 {
    10_000
}
fn default_http_port() -> u16 {
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
fn default_max_connections() -> u32 {
    10
}
fn default_log_level() -> String {
    "info".into()
}
fn default_shutdown_secs() -> u64 {
    30
}
