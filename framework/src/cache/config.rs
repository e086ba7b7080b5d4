//! The `REDIS_*` keys.

use serde::Deserialize;

use crate::config::{ConfigError, ConfigSection, Settings, non_blank};

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

    fn after_load(mut self, _: &Settings) -> Result<Self, ConfigError> {
        self.url = non_blank(self.url);
        Ok(self)
    }
}
