//! Kafka: an injectable [`Producer`] and `#[kafka_consumer]` handlers with at-least-once
//! delivery, retries and dead-letter topics. `KAFKA_BROKERS=memory` runs them on an
//! in-process broker with the same semantics.

mod broker;
mod config;
pub(crate) mod consumer;
pub(crate) mod extract;
mod memory;
mod message;
mod plugin;
mod producer;
mod status;
mod transport;

use std::sync::Arc;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use crate::error::Failure;
pub use broker::Broker;
pub use config::KafkaConfig;
pub(crate) use consumer::{ConsumerRecord, Resolved};
pub use consumer::{Outcome, dead_letter_headers, injected};
#[cfg(not(feature = "http"))]
pub use extract::Json;
pub use extract::{Headers, Key, Payload, Proto, Rejection};
pub use memory::MemoryBroker;
pub use message::{Header, Message, Metadata, NativeHeaders, Outgoing, Unreadable};
pub use producer::{Producer, PublishError};
pub use status::KafkaStatus;
pub use transport::{BoxFuture, Committer, Fetched, KafkaError, Subscription, Transport};

use crate::config::{ConfigError, ConfigSection, Settings};
use crate::di::{
    BuildContext, BuildError, BuildFuture, Condition, Location, ProviderKind, ProviderRecord,
};
use crate::di::{Container, Instance, Key as DiKey};
use crate::health::Probe;
use crate::transaction::EventSink;

/// `when` predicate: `KAFKA_BROKERS` is set.
pub fn is_configured(settings: &Settings) -> bool {
    settings
        .get("KAFKA_BROKERS")
        .is_some_and(|b| !b.trim().is_empty())
}

fn build_transport(ctx: &BuildContext) -> Result<Arc<dyn Transport>, BuildError> {
    let config = KafkaConfig::load(ctx.settings())?;
    let brokers = config.brokers.as_deref().unwrap_or_default();
    match crate::config::in_process_name(brokers) {
        Some(name) => Ok(Arc::new(MemoryBroker::named(name))),
        None => Ok(Arc::new(
            Broker::new(brokers, config.session_timeout_ms)?
                .with_group_instance_id(config.group_instance_id.clone())
                .with_fetch_wait_max_ms(config.fetch_wait_max_ms),
        )),
    }
}

/// How long the `kafka` unit waits for the broker's metadata.
const PING_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(1500);

inventory::submit! {
    ProviderRecord {
        name: "framework::kafka::Transport",
        provides: || vec![
            DiKey::of::<dyn Transport>(),
            DiKey::of::<KafkaStatus>(),
            DiKey::of::<dyn EventSink>(),
            DiKey::of::<Producer>(),
        ],
        fields: Vec::new,
        condition: Some(Condition {
            name: "framework::kafka::is_configured",
            check: is_configured,
            hint: Some("KAFKA_BROKERS (host:port, or memory)"),
        }),
        build: |ctx| -> BuildFuture<'_> {
            Box::pin(async move {
                let transport = build_transport(ctx)?;
                let status = Arc::new(KafkaStatus::default());
                let breaker = crate::breaker::Breaker::new(
                    "kafka",
                    crate::breaker::BreakerConfig::load(ctx.settings())?,
                );
                let (checked, reported, shown) = (transport.clone(), status.clone(), breaker.clone());
                // Down while the broker does not answer, the producer is unusable, a consumer
                // is not running, or a dead letter cannot be written; the producer's breaker
                // beside.
                ctx.health().add_probed_unit("kafka", false, move || {
                    let (transport, status, breaker) =
                        (checked.clone(), reported.clone(), shown.clone());
                    async move {
                        // Within the check's own 2 s, so that the breaker's state shows too.
                        let pinged = tokio::time::timeout(PING_TIMEOUT, transport.ping()).await;
                        let result = match pinged {
                            Ok(Ok(())) => status.check(),
                            Ok(Err(error)) => Err(error.to_string()),
                            Err(_) => Err("the broker did not answer in time".to_owned()),
                        };
                        Probe {
                            result,
                            details: Some(breaker.health_details()),
                        }
                    }
                });
                let producer = Producer::new(transport.clone(), breaker);
                let sink: Arc<dyn EventSink> = Arc::new(producer.clone());
                Ok(vec![
                    Instance::of::<Producer>(Arc::new(producer)),
                    Instance::of::<dyn EventSink>(sink),
                    Instance::of::<dyn Transport>(transport),
                    Instance::of::<KafkaStatus>(status),
                ])
            })
        },
        kind: ProviderKind::Framework,
        location: Location { file: file!(), line: line!() },
    }
}

impl Resolved {
    /// Resolves the names of `record` against the config.
    pub fn new(
        record: &'static ConsumerRecord,
        settings: &Settings,
    ) -> Result<Resolved, ConfigError> {
        let topic = settings.resolve(record.topic)?;
        let group = settings.resolve(record.group)?;
        let dead_letter = match record.dead_letter {
            Some(name) => settings.resolve(name)?,
            None => format!("{topic}.dlq"),
        };
        Ok(Resolved {
            record,
            topic,
            group,
            dead_letter,
        })
    }
}

/// Creates (with `KAFKA_CREATE_TOPICS=true`) or checks the consumers' topics and their
/// dead-letter topics, then starts every consumer.
pub(crate) async fn start_consumers(
    consumers: &[Resolved],
    container: &Arc<Container>,
    create_topics: bool,
    stop: &CancellationToken,
) -> Result<Vec<JoinHandle<Result<(), KafkaError>>>, KafkaError> {
    if consumers.is_empty() {
        return Ok(Vec::new());
    }
    let transport = container
        .get::<dyn Transport>()
        .ok_or_else(|| KafkaError::Broker("no Kafka transport was built".into()))?;
    let status = container
        .get::<KafkaStatus>()
        .ok_or_else(|| KafkaError::Broker("no Kafka status was built".into()))?;
    let mut consumed: Vec<String> = consumers.iter().map(|c| c.topic.clone()).collect();
    consumed.sort();
    consumed.dedup();
    let mut dead_letters: Vec<(String, String)> = consumers
        .iter()
        .map(|c| (c.topic.clone(), c.dead_letter.clone()))
        .collect();
    // One dead-letter topic may serve several consumers: created once.
    dead_letters.sort_by(|a, b| a.1.cmp(&b.1));
    dead_letters.dedup_by(|a, b| a.1 == b.1);
    if create_topics {
        transport.ensure_topics(&consumed).await?;
        // After their sources, whose size limit theirs is derived from.
        transport.ensure_dead_letter_topics(&dead_letters).await?;
    } else {
        let mut topics = consumed;
        topics.extend(dead_letters.into_iter().map(|(_, d)| d));
        if let Some(missing) = transport.missing_topics(&topics).await?.into_iter().next() {
            return Err(KafkaError::UnknownTopic(missing));
        }
    }
    let mut handles = Vec::new();
    for consumer in consumers {
        tracing::info!(topic = %consumer.topic, group = %consumer.group, handler = consumer.record.handler, "consumer started");
        handles.push(consumer::spawn(
            consumer.clone(),
            transport.clone(),
            container.clone(),
            status.clone(),
            stop.clone(),
        )?);
    }
    Ok(handles)
}
