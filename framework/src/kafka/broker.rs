//! A real Kafka-protocol broker, through rdkafka (librdkafka).
//!
//! The producer waits for every record's delivery report (`acks=all`, idempotence on). The
//! consumer uses the at-least-once pattern librdkafka recommends: offsets are *stored* only
//! after their message was handled or dead-lettered, and librdkafka commits stored offsets
//! periodically, on partition revocation and on close, so a rebalance commits what was
//! processed and a revoked partition's late stores are refused rather than committed twice.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::FutureExt;

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::{ClientContext, DefaultClientContext};
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance, StreamConsumer};
use rdkafka::error::{KafkaError as RdError, RDKafkaErrorCode};
use rdkafka::message::{Header, Headers as _, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::util::Timeout;
use rdkafka::{Message as _, Offset, TopicPartitionList};

use super::message::{Message, Metadata, Outgoing};
use super::transport::{BoxFuture, Committer, Fetched, KafkaError, Subscription, Transport};

const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);
const METADATA_TIMEOUT: Duration = Duration::from_secs(5);
/// Partitions of the topics the framework creates.
const PARTITIONS: i32 = 3;

/// A connection to the brokers of `KAFKA_BROKERS`.
pub struct Broker {
    brokers: String,
    session_timeout_ms: u64,
    producer: FutureProducer,
    admin: AdminClient<DefaultClientContext>,
}

fn broker_error(error: RdError) -> KafkaError {
    match error.rdkafka_error_code() {
        Some(RDKafkaErrorCode::UnknownTopicOrPartition | RDKafkaErrorCode::UnknownTopic) => {
            KafkaError::UnknownTopic(error.to_string())
        }
        _ => KafkaError::Broker(error.to_string()),
    }
}

impl Broker {
    /// Creates the clients (they connect lazily); consumers' group sessions expire after
    /// `session_timeout_ms` of silence.
    pub fn new(brokers: &str, session_timeout_ms: u64) -> Result<Broker, KafkaError> {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", brokers);
        let producer = config
            .clone()
            .set("acks", "all")
            .set("enable.idempotence", "true")
            .set(
                "message.timeout.ms",
                DELIVERY_TIMEOUT.as_millis().to_string(),
            )
            .set("linger.ms", "5")
            .create()
            .map_err(broker_error)?;
        let admin = config.create().map_err(broker_error)?;
        Ok(Broker {
            brokers: brokers.to_owned(),
            session_timeout_ms,
            producer,
            admin,
        })
    }
}

impl Transport for Broker {
    fn send(&self, record: Outgoing) -> BoxFuture<'_, Result<(i32, i64), KafkaError>> {
        Box::pin(async move {
            let mut headers = OwnedHeaders::new_with_capacity(record.headers.len());
            for (key, value) in &record.headers {
                headers = headers.insert(Header {
                    key,
                    value: Some(value.as_slice()),
                });
            }
            let mut future_record = FutureRecord::<[u8], [u8]>::to(&record.topic).headers(headers);
            if let Some(key) = &record.key {
                future_record = future_record.key(key.as_slice());
            }
            if let Some(payload) = &record.payload {
                future_record = future_record.payload(payload.as_slice());
            }
            match self
                .producer
                .send(future_record, Timeout::After(DELIVERY_TIMEOUT))
                .await
            {
                Ok(delivery) => Ok((delivery.partition, delivery.offset)),
                Err((error, _)) => Err(match error.rdkafka_error_code() {
                    Some(RDKafkaErrorCode::MessageTimedOut) => KafkaError::Timeout {
                        topic: record.topic.clone(),
                    },
                    Some(
                        RDKafkaErrorCode::UnknownTopicOrPartition | RDKafkaErrorCode::UnknownTopic,
                    ) => KafkaError::UnknownTopic(record.topic.clone()),
                    _ => KafkaError::Broker(error.to_string()),
                }),
            }
        })
    }

    fn ensure_topics<'a>(&'a self, topics: &'a [String]) -> BoxFuture<'a, Result<(), KafkaError>> {
        Box::pin(async move {
            let new: Vec<NewTopic<'_>> = topics
                .iter()
                .map(|t| NewTopic::new(t, PARTITIONS, TopicReplication::Fixed(1)))
                .collect();
            let options = AdminOptions::new().operation_timeout(Some(METADATA_TIMEOUT));
            let results = self
                .admin
                .create_topics(&new, &options)
                .await
                .map_err(broker_error)?;
            for result in results {
                match result {
                    Ok(topic) => tracing::info!(topic, "topic created"),
                    Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                    Err((topic, code)) => {
                        return Err(KafkaError::Broker(format!(
                            "cannot create topic `{topic}`: {code}"
                        )));
                    }
                }
            }
            Ok(())
        })
    }

    fn missing_topics<'a>(
        &'a self,
        topics: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<String>, KafkaError>> {
        Box::pin(async move {
            let producer = self.producer.clone();
            let topics = topics.to_vec();
            // librdkafka's metadata call blocks: keep it off the runtime's threads.
            tokio::task::spawn_blocking(move || {
                use rdkafka::producer::Producer as _;
                let metadata = producer
                    .client()
                    .fetch_metadata(None, Timeout::After(METADATA_TIMEOUT))
                    .map_err(broker_error)?;
                let exists = |topic: &String| {
                    metadata.topics().iter().any(|t| {
                        t.name() == topic && t.error().is_none() && !t.partitions().is_empty()
                    })
                };
                Ok(topics.into_iter().filter(|t| !exists(t)).collect())
            })
            .await
            .map_err(|e| KafkaError::Broker(e.to_string()))?
        })
    }

    fn subscribe(
        &self,
        group: &str,
        topics: &[String],
    ) -> Result<Box<dyn Subscription>, KafkaError> {
        let consumer: StreamConsumer<GroupEvents> = ClientConfig::new()
            .set("bootstrap.servers", &self.brokers)
            .set("group.id", group)
            .set("session.timeout.ms", self.session_timeout_ms.to_string())
            .set("enable.auto.commit", "true")
            .set("enable.auto.offset.store", "false")
            .set("auto.commit.interval.ms", "1000")
            .set("auto.offset.reset", "earliest")
            .set("enable.partition.eof", "false")
            .create_with_context(GroupEvents::default())
            .map_err(broker_error)?;
        // The topics were checked (or created) at startup; this only joins the group.
        let names: Vec<&str> = topics.iter().map(String::as_str).collect();
        consumer.subscribe(&names).map_err(broker_error)?;
        Ok(Box::new(BrokerSubscription {
            consumer: Arc::new(consumer),
            held: None,
        }))
    }

    fn ping(&self) -> BoxFuture<'_, Result<(), KafkaError>> {
        Box::pin(async move {
            let producer = self.producer.clone();
            // librdkafka's metadata call blocks: keep it off the runtime's threads.
            tokio::task::spawn_blocking(move || {
                use rdkafka::producer::Producer as _;
                producer
                    .client()
                    .fetch_metadata(None, Timeout::After(Duration::from_secs(2)))
                    .map(drop)
                    .map_err(broker_error)
            })
            .await
            .map_err(|e| KafkaError::Broker(e.to_string()))?
        })
    }
}

/// Group events the subscription must hear of. librdkafka calls these from inside `recv`,
/// before it returns any record of the new assignment.
#[derive(Default)]
struct GroupEvents {
    /// Partitions revoked since the subscription last looked.
    revoked: Mutex<Vec<(String, i32)>>,
}

impl GroupEvents {
    fn revoked(&self) -> std::sync::MutexGuard<'_, Vec<(String, i32)>> {
        self.revoked.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl ClientContext for GroupEvents {}

impl ConsumerContext for GroupEvents {
    fn pre_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(partitions) = rebalance {
            self.revoked().extend(
                partitions
                    .elements()
                    .iter()
                    .map(|p| (p.topic().to_owned(), p.partition())),
            );
        }
    }

    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        // librdkafka keeps a paused partition paused when it is assigned again; a new
        // assignment starts fetching everything.
        if let Rebalance::Assign(partitions) = rebalance
            && let Err(error) = consumer.resume(partitions)
        {
            tracing::warn!(%error, "cannot resume newly assigned partitions");
        }
    }
}

struct BrokerSubscription {
    consumer: Arc<StreamConsumer<GroupEvents>>,
    /// A record fetched after a revocation, handed out after that [`Fetched::Revoked`].
    held: Option<Message>,
}

impl BrokerSubscription {
    fn rebalanced(&self) -> bool {
        !self.consumer.context().revoked().is_empty()
    }

    fn take_revoked(&self) -> Option<Vec<(String, i32)>> {
        let revoked = std::mem::take(&mut *self.consumer.context().revoked());
        (!revoked.is_empty()).then_some(revoked)
    }

    /// The next record, waiting for one.
    async fn recv(&self) -> Message {
        loop {
            match self.consumer.recv().await {
                Ok(message) => return owned(&message),
                // Transient (a broker restart, a rebalance): librdkafka recovers by itself.
                Err(error) => {
                    tracing::warn!(%error, "Kafka consumer error");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }

    fn partition(topic: &str, partition: i32) -> TopicPartitionList {
        let mut list = TopicPartitionList::new();
        list.add_partition(topic, partition);
        list
    }
}

impl Subscription for BrokerSubscription {
    fn next(&mut self, max: usize) -> BoxFuture<'_, Option<Fetched>> {
        Box::pin(async move {
            if let Some(revoked) = self.take_revoked() {
                return Some(Fetched::Revoked(revoked));
            }
            let first = match self.held.take() {
                Some(message) => message,
                None => self.recv().await,
            };
            // A revocation served inside that `recv` came before its record.
            if let Some(revoked) = self.take_revoked() {
                self.held = Some(first);
                return Some(Fetched::Revoked(revoked));
            }
            let mut records = vec![first];
            // Whatever librdkafka has already fetched, without waiting again.
            while records.len() < max {
                let Some(result) = self.consumer.recv().now_or_never() else {
                    break;
                };
                match result {
                    Ok(message) if self.rebalanced() => {
                        self.held = Some(owned(&message));
                        break;
                    }
                    Ok(message) => records.push(owned(&message)),
                    Err(error) => {
                        tracing::warn!(%error, "Kafka consumer error");
                        break;
                    }
                }
            }
            Some(Fetched::Records(records))
        })
    }

    fn pause(&mut self, topic: &str, partition: i32) -> Result<(), KafkaError> {
        // librdkafka drops what it prefetched and refetches from the next record on resume.
        self.consumer
            .pause(&Self::partition(topic, partition))
            .map_err(broker_error)
    }

    fn resume(&mut self, topic: &str, partition: i32) -> Result<(), KafkaError> {
        self.consumer
            .resume(&Self::partition(topic, partition))
            .map_err(broker_error)
    }

    fn committer(&self) -> Arc<dyn Committer> {
        Arc::new(BrokerCommitter(self.consumer.clone()))
    }
}

struct BrokerCommitter(Arc<StreamConsumer<GroupEvents>>);

impl Committer for BrokerCommitter {
    fn commit(&self, topic: &str, partition: i32, offset: i64) -> Result<(), KafkaError> {
        let mut list = TopicPartitionList::new();
        list.add_partition_offset(topic, partition, Offset::Offset(offset))
            .map_err(broker_error)?;
        // Stored, then committed by librdkafka (periodically, on revoke and on close); a
        // partition no longer assigned refuses the store.
        self.0.store_offsets(&list).map_err(broker_error)
    }
}

fn owned(message: &rdkafka::message::BorrowedMessage<'_>) -> Message {
    let headers = message
        .headers()
        .map(|headers| {
            headers
                .iter()
                .map(|h| (h.key.to_owned(), h.value.unwrap_or_default().to_vec()))
                .collect()
        })
        .unwrap_or_default();
    Message {
        meta: Metadata {
            topic: message.topic().to_owned(),
            partition: message.partition(),
            offset: message.offset(),
            timestamp: message.timestamp().to_millis(),
        },
        key: message.key().map(<[u8]>::to_vec),
        payload: message.payload().map(<[u8]>::to_vec),
        headers,
    }
}
