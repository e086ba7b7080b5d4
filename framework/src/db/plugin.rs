//! The database as a plugin: checks `DATABASE_URL` names a backend we have, that the program
//! embeds its migrations at most once, and lists them in `wiring`. The pools themselves are
//! framework components (see `providers`), built only when a component needs one.

use std::fmt::Write;

use super::Backend;
use super::migrate::{MigrationsRecord, embedded};
use crate::config::{ConfigError, Settings};
use crate::di::{Location, WiringError};
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
    migrations: Vec<&'static MigrationsRecord>,
}

impl DbPlugin {
    fn create(settings: &Settings) -> Result<Box<dyn Plugin>, ConfigError> {
        if let Some(url) = settings.get("DATABASE_URL")
            && !url.trim().is_empty()
            && Backend::of_url(url.trim()).is_none()
        {
            return Err(settings.invalid(
                "DATABASE_URL",
                "expected `postgres://...`, `sqlite://...`, or empty for no database",
            ));
        }
        Ok(Box::new(DbPlugin {
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
