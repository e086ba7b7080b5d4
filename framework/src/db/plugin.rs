//! The database as a plugin: checks `DATABASE_URL` names a backend we have, that the program
//! embeds its migrations at most once, and lists them in `wiring`. The pools themselves are
//! framework components (see `providers`), built only when a component needs one.

use std::fmt::Write;

use super::migrate::{MigrationsRecord, embedded};
use super::outbox::OutboxRelay;
use super::{DatabaseConfig, OutboxConfig};
use crate::config::{ConfigError, ConfigSection, Settings, redact_url};
use crate::di::{BuildError, Dependency, Key, Location, Needer, Root, WiringError};
use crate::plugin::{Check, Plugin, PluginRecord, Stage, Wiring};
use crate::transaction::EventSink;

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
    outbox: OutboxConfig,
    migrations: Vec<&'static MigrationsRecord>,
}

impl DbPlugin {
    fn create(settings: &Settings) -> Result<Box<dyn Plugin>, ConfigError> {
        Ok(Box::new(DbPlugin {
            // Checks `DATABASE_URL` names a backend we have.
            config: DatabaseConfig::load(settings)?,
            outbox: OutboxConfig::load(settings)?,
            migrations: embedded(),
        }))
    }

    /// The relay runs where there is a database, an event sink and `OUTBOX_RELAY` is on.
    fn relays(&self, check: &Check<'_>) -> bool {
        self.outbox.relay
            && self.config.url.is_some()
            && check.is_provided(&Key::of::<dyn EventSink>())
    }
}

#[crate::async_trait]
impl Plugin for DbPlugin {
    fn check(&self, check: &mut Check<'_>) {
        if self.relays(check) {
            let location = Location {
                file: file!(),
                line: line!(),
            };
            check.root(Root {
                label: format!("outbox relay ({location})"),
                needer: Needer {
                    description: "the outbox relay".into(),
                    location,
                },
                dependencies: vec![
                    Dependency::Component(Key::of::<OutboxRelay>()),
                    Dependency::Component(Key::of::<dyn EventSink>()),
                ],
            });
        }
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

    async fn start(&mut self, stage: &mut Stage<'_>) -> Result<(), BuildError> {
        let (Some(relay), Some(sink)) = (
            stage.component::<OutboxRelay>(),
            stage.component::<dyn EventSink>(),
        ) else {
            return Ok(());
        };
        if !self.outbox.relay {
            return Ok(());
        }
        relay.start(sink, stage, self.outbox.clone()).await
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
