//! Kafka consumers as a plugin: every `#[kafka_consumer]` needs the transport and its own
//! dependencies, names its topic, group and dead-letter topic (read from the config), and
//! starts once the components are built; shutdown lets each finish the records in hand.

use std::collections::BTreeMap;
use std::fmt::{self, Write};

use tokio::task::JoinHandle;

use super::KafkaConfig;
use super::{ConsumerRecord, KafkaError, Resolved, Transport};
use crate::config::{ConfigError, ConfigSection, Settings};
use crate::di::{BuildError, Location, WiringError};
use crate::di::{Dependency, Key};
use crate::plugin::{Check, Plugin, PluginRecord, Stage, Wiring, resolve_each};
use crate::transaction::Transactions;

inventory::submit! {
    PluginRecord {
        name: "kafka",
        order: 300,
        create: KafkaPlugin::create,
        location: Location { file: file!(), line: line!() },
    }
}

struct KafkaPlugin {
    create_topics: bool,
    records: Vec<&'static ConsumerRecord>,
    consumers: Vec<JoinHandle<Result<(), KafkaError>>>,
}

impl KafkaPlugin {
    fn create(settings: &Settings) -> Result<Box<dyn Plugin>, ConfigError> {
        let mut records: Vec<_> = inventory::iter::<ConsumerRecord>.into_iter().collect();
        records.sort_by_key(|c| (c.topic, c.group, c.location));
        Ok(Box::new(KafkaPlugin {
            create_topics: KafkaConfig::load(settings)?.create_topics,
            records,
            consumers: Vec::new(),
        }))
    }

    /// The consumers with their topic, group and dead-letter names read from `settings`, and
    /// the errors: a missing name key, two consumers of one topic in one group.
    fn resolve(&self, settings: &Settings) -> (Vec<Resolved>, Vec<WiringError>) {
        let (resolved, mut errors) = resolve_each(
            &self.records,
            settings,
            "consumer",
            |r| (r.handler, r.location),
            Resolved::new,
        );
        errors.extend(clashes(&resolved));
        (resolved, errors)
    }
}

#[crate::async_trait]
impl Plugin for KafkaPlugin {
    fn check(&self, check: &mut Check<'_>) {
        for consumer in &self.records {
            let mut dependencies = (consumer.dependencies)();
            dependencies.push(Dependency::Component(Key::of::<dyn Transport>()));
            if consumer.unit_of_work() {
                dependencies.push(Dependency::Component(Key::of::<Transactions>()));
            }
            check.handler(
                "consumer",
                consumer.handler,
                consumer.location,
                dependencies,
            );
        }
        let (_, errors) = self.resolve(check.settings());
        check.errors(errors);
    }

    fn describe(&self, wiring: &mut Wiring<'_>) {
        if self.records.is_empty() {
            return;
        }
        let _ = writeln!(wiring, "\nKafka consumers:");
        for consumer in self.resolve(wiring.settings()).0 {
            let record = consumer.record;
            let _ = writeln!(
                wiring,
                "  {} in group {} -> {}  {}\n    concurrency {}, retries {} (backoff from {} ms), dead letters to {}",
                consumer.topic,
                consumer.group,
                record.handler,
                record.location,
                record.concurrency,
                record.retries,
                record.backoff_ms,
                consumer.dead_letter
            );
        }
    }

    async fn start(&mut self, stage: &mut Stage<'_>) -> Result<(), BuildError> {
        let Some(container) = stage.container else {
            return Ok(());
        };
        let (consumers, _) = self.resolve(stage.settings());
        self.consumers =
            super::start_consumers(&consumers, container, self.create_topics, stage.shutdown())
                .await
                .map_err(StartError)?;
        Ok(())
    }

    async fn drain(&mut self) {
        // Each stops fetching, finishes the records in hand, and commits.
        for consumer in self.consumers.drain(..) {
            crate::plugin::drained("Kafka consumer", consumer).await;
        }
    }
}

/// Two consumers of one topic in one group.
fn clashes(consumers: &[Resolved]) -> Vec<WiringError> {
    let mut groups: BTreeMap<(&str, &str), Vec<&Resolved>> = BTreeMap::new();
    for consumer in consumers {
        groups
            .entry((&consumer.topic, &consumer.group))
            .or_default()
            .push(consumer);
    }
    groups
        .into_iter()
        .filter(|(_, group)| group.len() > 1)
        .map(|((topic, group), consumers)| WiringError::Clash {
            headline: format!(
                "two consumers of topic `{topic}` in group `{group}`: each record would reach only one of them"
            ),
            items: consumers
                .iter()
                .map(|c| format!("`{}` at {}", c.record.handler, c.record.location))
                .collect(),
        })
        .collect()
}

/// Consumers could not start (a missing topic, an unreachable broker).
#[derive(Debug)]
struct StartError(KafkaError);

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Kafka: {}", self.0)?;
        if let KafkaError::UnknownTopic(_) = self.0 {
            f.write_str(" (create it, or set KAFKA_CREATE_TOPICS=true)")?;
        }
        Ok(())
    }
}

impl std::error::Error for StartError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}
