//! The database as a plugin: checks `DATABASE_URL` names a backend we have, that the program
//! embeds its migrations at most once, and lists them in `wiring`. The pools themselves are
//! framework components (see `providers`), built only when a component needs one.

use std::fmt::Write;

use super::DatabaseConfig;
use super::migrate::{MigrationsRecord, embedded};
use crate::config::{ConfigError, ConfigSection, Settings, redact_url};
use crate::di::{BuildError, Location, WiringError};
use crate::plugin::{Check, Plugin, PluginRecord, Wiring};

inventory::submit! {
    PluginRecord {
        name: "db",
        order: 1000,
        create: DbPlugin::create,
        location: Location { file: file!(), line: line!() },
    }
}

struct DbPlugin {
    config: DatabaseConfig,
    migrations: Vec<&'static MigrationsRecord>,
}

impl DbPlugin {
    fn create(settings: &Settings) -> Result<Box<dyn Plugin>, ConfigError> {
        Ok(Box::new(DbPlugin {
            // Checks `DATABASE_URL` names a backend we have.
            config: DatabaseConfig::load(settings)?,
            migrations: embedded(),
        }))
    }
}

#[crate::async_trait]
impl Plugin for DbPlugin {
    fn check(&self, check: &mut Check<'_>) {
        if self.migrations.len() > 1 {
            check.error(WiringError::Clash {
                headline: "`framework::migrations!` is used more than once".into(),
                items: self
                    .migrations
                    .iter()
                    .map(|m| format!("at {}", m.location))
                    .collect(),
            });
        }
    }

    async fn migrate(&mut self) -> Option<Result<(), BuildError>> {
        Some(super::providers::migrate_now(&self.config).await)
    }

    fn headline(&self) -> Option<String> {
        let url = self.config.url.as_deref().map(redact_url);
        Some(format!("database {}", url.as_deref().unwrap_or("(none)")))
    }

    fn describe(&self, wiring: &mut Wiring<'_>) {
        for migrations in &self.migrations {
            let _ = writeln!(
                wiring,
                "\nmigrations: {} postgres, {} sqlite, embedded at {}",
                migrations.postgres.len(),
                migrations.sqlite.len(),
                migrations.location
            );
        }
    }
}
