use std::time::Duration;

use serde::Deserialize;

use super::{ConfigError, Settings, de};

/// The keys every service reads, whatever plugins it has (see `envs/.env` for what each
/// means); each plugin reads its own section (`HTTP_*`, `GRPC_*`, `DATABASE_*`, ...).
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
    /// `LOG_LEVEL`: a tracing filter such as `info` or `info,sqlx=warn`.
    #[serde(default = "default_log_level")]
    pub log_level: String,
    /// `LOG_FORMAT`: `text` or `json`.
    #[serde(default)]
    pub log_format: LogFormat,
    /// `SHUTDOWN_DELAY_SECS`: after a signal, how long to keep serving with readiness false,
    /// so load balancers stop sending traffic before the listener closes; default 0.
    /// Meanwhile every HTTP response says `connection: close` and gRPC connections get
    /// `GOAWAY`, so clients take their next requests to new connections.
    #[serde(default)]
    pub shutdown_delay_secs: u64,
    /// `SHUTDOWN_TIMEOUT_SECS`: the deadline for a graceful shutdown.
    #[serde(default = "default_shutdown_secs")]
    pub shutdown_timeout_secs: u64,
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
        let core: CoreConfig = de::from_settings(settings, "")?;
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

fn default_app_name() -> String {
    "service".into()
}
fn default_app_version() -> String {
    "0.0.0".into()
}
fn default_log_level() -> String {
    "info".into()
}
fn default_shutdown_secs() -> u64 {
    30
}
