//! The `DATABASE_*` keys.

use serde::Deserialize;

use super::Backend;
use crate::config::{ConfigError, ConfigSection, Settings, non_blank};

/// The `DATABASE_*` keys (see `envs/.env`).
#[derive(Debug, Clone, Deserialize, validator::Validate)]
pub struct DatabaseConfig {
    /// `DATABASE_URL`: `postgres://...`, `postgresql://...` or `sqlite:...`; empty or unset
    /// for no database (anything else is an error).
    #[serde(default)]
    pub url: Option<String>,
    /// `DATABASE_MIGRATE`: run the embedded migrations at startup; default false.
    #[serde(default)]
    pub migrate: bool,
    /// `DATABASE_MAX_CONNECTIONS`: the pool's size, at least 1; default 10 (an in-memory
    /// SQLite database keeps exactly one). On PostgreSQL the outbox relay opens its own
    /// connections beside it (`OUTBOX_WORKERS` + 1).
    #[serde(default = "default_max_connections")]
    pub max_connections: u32,
    /// `DATABASE_ACQUIRE_TIMEOUT_MS`: how long a query or a transaction waits for a
    /// connection of the pool (connecting included) before it fails as unavailable (503,
    /// `UNAVAILABLE`, a retry); default 2000, 10 to 60000.
    #[serde(default = "default_acquire_timeout_ms")]
    #[validate(range(min = 10, max = 60000))]
    pub acquire_timeout_ms: u64,
}

impl ConfigSection for DatabaseConfig {
    const PREFIX: &'static str = "DATABASE_";

    fn after_load(mut self, settings: &Settings) -> Result<Self, ConfigError> {
        self.url = non_blank(self.url).map(|url| url.trim().to_owned());
        if self.max_connections == 0 {
            return Err(settings.invalid("DATABASE_MAX_CONNECTIONS", "must be at least 1"));
        }
        if let Some(url) = &self.url {
            match Backend::of_url(url) {
                None => {
                    return Err(settings.invalid(
                        "DATABASE_URL",
                        "expected `postgres://...`, `sqlite://...`, or empty for no database",
                    ));
                }
                Some(backend) if !backend.is_built() => {
                    return Err(settings.invalid(
                        "DATABASE_URL",
                        format!(
                            "framework was built without its `{}` feature: enable it to use this database",
                            backend.feature()
                        ),
                    ));
                }
                Some(_) => {}
            }
        }
        Ok(self)
    }
}

fn default_max_connections() -> u32 {
    10
}

fn default_acquire_timeout_ms() -> u64 {
    2000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_is_none_and_other_schemes_are_errors() {
        let settings = Settings::from_pairs([("DATABASE_URL", " ")]);
        assert_eq!(DatabaseConfig::load(&settings).unwrap().url, None);

        let settings = Settings::from_pairs([("DATABASE_MAX_CONNECTIONS", "0")]);
        let error = DatabaseConfig::load(&settings).unwrap_err().to_string();
        assert!(error.contains("`DATABASE_MAX_CONNECTIONS`"), "{error}");

        let settings = Settings::from_pairs([("DATABASE_URL", "mysql://db/x")]);
        let error = DatabaseConfig::load(&settings).unwrap_err().to_string();
        assert!(error.contains("`DATABASE_URL`"), "{error}");
        // Checked when the app is made.
        let Err(error) = crate::App::from_settings(settings) else {
            panic!("a MySQL URL was accepted");
        };
        assert!(error.to_string().contains("`DATABASE_URL`"), "{error}");
    }
}
