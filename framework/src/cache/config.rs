//! The `REDIS_*` keys.

use serde::Deserialize;

use crate::config::{ConfigError, ConfigSection, Settings, in_process_name, non_blank};

/// What `REDIS_URL` may be, for its error.
const URL_SHAPE: &str =
    "must be `redis://[user:password@]host:port[/db]`, `memory` or `memory://<name>`";

/// The `REDIS_*` keys (see `envs/.env`).
#[derive(Debug, Clone, Deserialize, validator::Validate)]
pub struct RedisConfig {
    /// `REDIS_URL`: `redis://[user:password@]host:port[/db]`, `memory` (or `memory://name`)
    /// for the in-process store; empty or unset for no cache.
    #[serde(default)]
    pub url: Option<String>,
}

impl ConfigSection for RedisConfig {
    const PREFIX: &'static str = "REDIS_";

    /// An unset or blank `REDIS_URL` is no cache; any other value is a Redis URL or an
    /// in-process store's name, else [`ConfigError`] naming the key (checked when the app is
    /// created, so `check` reports it).
    fn after_load(mut self, settings: &Settings) -> Result<Self, ConfigError> {
        self.url = non_blank(self.url);
        if let Some(url) = self.url.as_deref().map(str::trim)
            && in_process_name(url).is_none()
            && !url.starts_with("redis://")
        {
            return Err(settings.invalid("REDIS_URL", URL_SHAPE));
        }
        Ok(self)
    }
}
