//! A real Kafka-protocol broker, through rdkafka (librdkafka).
//!
//! The producer waits for every record's delivery report (`acks=all`, idempotence on). The
//! consumer uses the at-least-once pattern librdkafka recommends: offsets are *stored* only
//! after their message was handled or dead-lettered, and librdkafka commits stored offsets
//! periodically, on partition revocation and on close, so a rebalance commits what was
//! processed and a revoked partition's late stores are refused rather than committed twice.
//!
//! Header names: rdkafka 0.39 reads a header name with `CStr::to_str(..).unwrap()`, which
//! panics on a name that is not UTF-8, and writes names from `&str`; it has no accessor for
//! a name's bytes, and reaching librdkafka's C API directly needs `unsafe`, which this
//! workspace forbids. So a record with such a name is read without it (the panic is caught
//! per header) and marked [`Message::unreadable`], keeping librdkafka's own copy of its
//! headers: the consumer dead-letters it without running the handler, and the dead letter is
//! sent with that copy, so every header arrives byte for byte. A name with a NUL byte is cut
//! at the NUL by the same accessor.

use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use futures_util::FutureExt;

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, ResourceSpecifier, TopicReplication};
use rdkafka::client::{ClientContext, DefaultClientContext};
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance, StreamConsumer};
use rdkafka::error::{KafkaError as RdError, RDKafkaErrorCode as Code};
use rdkafka::message::{Header as RdHeader, Headers as _, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer as _};
use rdkafka::util::Timeout;
use rdkafka::{Message as _, Offset, TopicPartitionList};

use super::message::{Header, Message, Metadata, NativeHeaders, Outgoing, Unreadable};
use super::transport::{BoxFuture, Committer, Fetched, KafkaError, Subscription, Transport};

/// librdkafka's `message.timeout.ms`: how long a record may wait for its acknowledgement.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);
const METADATA_TIMEOUT: Duration = Duration::from_secs(5);
/// Partitions of the topics the framework creates.
const PARTITIONS: i32 = 3;
/// A producer that failed fatally is replaced at most this often, however many callers see
/// the failure: the callers in between are told the broker is unavailable.
const REBUILD_INTERVAL: Duration = Duration::from_secs(1);
/// The dead-letter producer's `message.max.bytes`: Kafka's default `socket.request.max.bytes`
/// (100 MiB), the largest request a broker takes by default. Any record a broker accepted is
/// smaller, so librdkafka never refuses a dead letter for its size; the dead-letter topic's
/// own limit decides (see [`DEAD_LETTER_HEADROOM`]).
const DEAD_LETTER_MAX_BYTES: usize = 104_857_600;
/// What a dead-letter topic the framework creates takes beyond its source topic's
/// `max.message.bytes`: room for the headers a dead letter adds, whose values are bounded
/// (see `dead_letter_headers`) to well under this.
pub(crate) const DEAD_LETTER_HEADROOM: usize = 16 * 1024;
/// Kafka's default `message.max.bytes` (the broker's, hence a topic's default
/// `max.message.bytes`), used when the broker does not say a source topic's own.
const KAFKA_DEFAULT_MAX_MESSAGE_BYTES: usize = 1_048_588;

/// A connection to the brokers of `KAFKA_BROKERS`.
pub struct Broker {
    brokers: String,
    session_timeout_ms: u64,
    group_instance_id: Option<String>,
    /// librdkafka's `fetch.wait.max.ms`, when not its default.
    fetch_wait_max_ms: Option<u64>,
    producer: ProducerSlot,
    /// Dead letters are as large as the records they keep plus the added headers: a producer
    /// of their own, whose size limit leaves that room.
    dead_letters: ProducerSlot,
    admin: AdminClient<DefaultClientContext>,
}

fn broker_error(error: RdError) -> KafkaError {
    match error.rdkafka_error_code() {
        Some(Code::UnknownTopicOrPartition | Code::UnknownTopic) => {
            KafkaError::UnknownTopic(error.to_string())
        }
        _ => KafkaError::Broker(error.to_string()),
    }
}

/// A producer that is replaced when it can no longer deliver: librdkafka reports a fatal
/// error (it documents that the instance is then unusable and a new one is required), or
/// the broker fenced its producer id. The latter is what a tansu 0.6 stall leaves: the
/// records in flight time out, and from the thaw on every delivery fails at once with
/// `ProducerFenced` while `fatal_error()` stays empty (seen with librdkafka 2.12 and 2.16).
struct ProducerSlot {
    config: ClientConfig,
    current: RwLock<Arc<FutureProducer>>,
    /// When the last replacement was made.
    rebuilt: Mutex<Option<Instant>>,
}

impl ProducerSlot {
    fn new(config: ClientConfig) -> Result<ProducerSlot, KafkaError> {
        let producer = config.create().map_err(broker_error)?;
        Ok(ProducerSlot {
            config,
            current: RwLock::new(Arc::new(producer)),
            rebuilt: Mutex::new(None),
        })
    }

    /// The producer to use: the current one, or a new one if the current one failed fatally.
    fn get(&self) -> Result<Arc<FutureProducer>, KafkaError> {
        let producer = self
            .current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        match producer.client().fatal_error() {
            None => Ok(producer),
            Some((code, reason)) => self.replace(&producer, code, &reason),
        }
    }

    /// Replaces `failed`, unless another caller already did or did so less than
    /// [`REBUILD_INTERVAL`] ago.
    fn replace(
        &self,
        failed: &Arc<FutureProducer>,
        code: Code,
        reason: &str,
    ) -> Result<Arc<FutureProducer>, KafkaError> {
        let mut current = self.current.write().unwrap_or_else(|e| e.into_inner());
        if !Arc::ptr_eq(&current, failed) {
            return Ok(current.clone());
        }
        let mut rebuilt = self.rebuilt.lock().unwrap_or_else(|e| e.into_inner());
        if rebuilt.is_some_and(|at| at.elapsed() < REBUILD_INTERVAL) {
            return Err(KafkaError::Unavailable(format!(
                "the Kafka producer failed ({code}: {reason}) and is being replaced"
            )));
        }
        *rebuilt = Some(Instant::now());
        let fresh: FutureProducer = self.config.create().map_err(|error| {
            KafkaError::Unavailable(format!("cannot replace the failed Kafka producer: {error}"))
        })?;
        tracing::warn!(%code, reason, "the Kafka producer can no longer deliver; replaced by a new one");
        let old = std::mem::replace(&mut *current, Arc::new(fresh));
        release(old);
        Ok(current.clone())
    }
}

/// Drops a producer handle; the last one purges, flushes (up to 500 ms) and joins librdkafka's
/// threads, which must not block the runtime's threads.
fn release(producer: Arc<FutureProducer>) {
    if Arc::strong_count(&producer) == 1 {
        tokio::task::spawn_blocking(move || drop(producer));
    }
}

impl Broker {
    /// Creates the clients (they connect lazily); consumers' group sessions expire after
    /// `session_timeout_ms` of silence.
    pub fn new(brokers: &str, session_timeout_ms: u64) -> Result<Broker, KafkaError> {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", brokers);
        let mut producer = config.clone();
        producer
            .set("acks", "all")
            .set("enable.idempotence", "true")
            .set(
                "message.timeout.ms",
                DELIVERY_TIMEOUT.as_millis().to_string(),
            )
            .set("linger.ms", "5");
        let mut dead_letters = producer.clone();
        dead_letters.set("message.max.bytes", DEAD_LETTER_MAX_BYTES.to_string());
        let admin = config.create().map_err(broker_error)?;
        Ok(Broker {
            brokers: brokers.to_owned(),
            session_timeout_ms,
            group_instance_id: None,
            fetch_wait_max_ms: None,
            producer: ProducerSlot::new(producer)?,
            dead_letters: ProducerSlot::new(dead_letters)?,
            admin,
        })
    }

    /// Makes this process a static member of its consumer groups (KIP-345,
    /// `group.instance.id`): a member that restarts under the same id within the session
    /// timeout takes its partitions back without a rebalance. A consumer of topic `t` gets
    /// `<id>-<t>` (a group's consumers in one process consume distinct topics); two live
    /// processes must not share an id (the broker fences the older one). `None` or an empty
    /// id: dynamic membership.
    pub fn with_group_instance_id(mut self, id: Option<String>) -> Broker {
        self.group_instance_id = id.filter(|id| !id.trim().is_empty());
        self
    }

    /// How long the broker may hold a consumer's fetch while it has less than one byte to
    /// return (librdkafka's `fetch.wait.max.ms`, Kafka's `fetch.max.wait.ms`; default 500). A
    /// broker that holds every fetch that long (tansu 0.6 does) adds up to as much to each
    /// record's delivery: a lower value trades more fetch requests for less latency.
    pub fn with_fetch_wait_max_ms(mut self, ms: Option<u64>) -> Broker {
        self.fetch_wait_max_ms = ms;
        self
    }

    async fn produce(
        &self,
        slot: &ProducerSlot,
        record: Outgoing,
    ) -> Result<(i32, i64), KafkaError> {
        self.produce_after(slot, record, None).await
    }

    /// Produces `record` with its headers after `first` (librdkafka's copy of another
    /// record's headers, which it sends as they came).
    async fn produce_after(
        &self,
        slot: &ProducerSlot,
        record: Outgoing,
        first: Option<OwnedHeaders>,
    ) -> Result<(i32, i64), KafkaError> {
        let mut headers =
            first.unwrap_or_else(|| OwnedHeaders::new_with_capacity(record.headers.len()));
        for header in &record.headers {
            let Ok(key) = std::str::from_utf8(&header.name) else {
                return Err(KafkaError::Broker(format!(
                    "header name {:?} is not UTF-8, which librdkafka's Rust binding cannot send",
                    String::from_utf8_lossy(&header.name)
                )));
            };
            headers = headers.insert(RdHeader {
                key,
                value: header.value.as_deref(),
            });
        }
        let mut future_record = FutureRecord::<[u8], [u8]>::to(&record.topic).headers(headers);
        if let Some(key) = &record.key {
            future_record = future_record.key(key.as_slice());
        }
        if let Some(payload) = &record.payload {
            future_record = future_record.payload(payload.as_slice());
        }
        let producer = slot.get()?;
        let queued = producer.send_result(future_record);
        let delivered = match queued {
            // Not queued: never sent.
            Err((error, _)) => Err(not_sent(&record.topic, &error)),
            Ok(delivery) => match delivery.await {
                Ok(Ok(delivery)) => Ok((delivery.partition, delivery.offset)),
                Ok(Err((error, _))) => {
                    if let Some(code) = error.rdkafka_error_code().filter(|c| fences(*c)) {
                        // The next caller gets a new producer (or is told to wait for it).
                        let _ = slot.replace(&producer, code, &error.to_string());
                    }
                    Err(not_delivered(&record.topic, &error))
                }
                // The producer went away with the record in flight.
                Err(_) => Err(KafkaError::Timeout {
                    topic: record.topic.clone(),
                }),
            },
        };
        release(producer);
        delivered
    }
}

/// Whether a delivery error means the producer's idempotence state is gone for good: its
/// producer id or epoch was fenced or forgotten by the broker, or librdkafka failed fatally.
fn fences(code: Code) -> bool {
    matches!(
        code,
        Code::ProducerFenced
            | Code::InvalidProducerEpoch
            | Code::UnknownProducerId
            | Code::OutOfOrderSequenceNumber
            | Code::Fenced
            | Code::Fatal
    )
}

/// A record librdkafka did not take: it was never sent.
fn not_sent(topic: &str, error: &RdError) -> KafkaError {
    match error.rdkafka_error_code() {
        Some(Code::UnknownTopicOrPartition | Code::UnknownTopic) => {
            KafkaError::UnknownTopic(topic.to_owned())
        }
        Some(Code::MessageSizeTooLarge | Code::InvalidMessageSize) => {
            KafkaError::Broker(error.to_string())
        }
        // A full queue, a failed producer, no broker reachable.
        _ => KafkaError::Unavailable(error.to_string()),
    }
}

/// A record that was queued but not acknowledged. Only refusals of the record itself prove
/// it was not stored (any earlier attempt was refused alike); after anything else (a
/// timeout, a lost connection, a fatal producer error) it may have been stored.
fn not_delivered(topic: &str, error: &RdError) -> KafkaError {
    match error.rdkafka_error_code() {
        Some(Code::UnknownTopicOrPartition | Code::UnknownTopic) => {
            KafkaError::UnknownTopic(topic.to_owned())
        }
        Some(
            Code::MessageSizeTooLarge
            | Code::InvalidMessageSize
            | Code::MessageBatchTooLarge
            | Code::InvalidRecord
            | Code::InvalidMessage
            | Code::InvalidTopic
            | Code::TopicAuthorizationFailed
            | Code::PolicyViolation,
        ) => KafkaError::Broker(error.to_string()),
        // Purged from the queue before it was sent.
        Some(Code::PurgeQueue) => KafkaError::Unavailable(error.to_string()),
        _ => KafkaError::Timeout {
            topic: topic.to_owned(),
        },
    }
}

impl Transport for Broker {
    fn send(&self, record: Outgoing) -> BoxFuture<'_, Result<(i32, i64), KafkaError>> {
        Box::pin(self.produce(&self.producer, record))
    }

    fn send_dead_letter<'a>(
        &'a self,
        record: Outgoing,
        original: Option<&'a NativeHeaders>,
    ) -> BoxFuture<'a, Result<(i32, i64), KafkaError>> {
        let original = original
            .and_then(|h| h.downcast_ref::<OwnedHeaders>())
            .cloned();
        Box::pin(self.produce_after(&self.dead_letters, record, original))
    }

    fn ensure_topics<'a>(&'a self, topics: &'a [String]) -> BoxFuture<'a, Result<(), KafkaError>> {
        Box::pin(async move {
            let new: Vec<NewTopic<'_>> = topics
                .iter()
                .map(|t| NewTopic::new(t, PARTITIONS, TopicReplication::Fixed(1)))
                .collect();
            self.create(&new).await
        })
    }

    fn ensure_dead_letter_topics<'a>(
        &'a self,
        topics: &'a [(String, String)],
    ) -> BoxFuture<'a, Result<(), KafkaError>> {
        Box::pin(async move {
            let mut limits = Vec::with_capacity(topics.len());
            for (source, _) in topics {
                let source_limit = self
                    .max_message_bytes(source)
                    .await
                    .unwrap_or(KAFKA_DEFAULT_MAX_MESSAGE_BYTES);
                limits.push((source_limit + DEAD_LETTER_HEADROOM).to_string());
            }
            let new: Vec<NewTopic<'_>> = topics
                .iter()
                .zip(&limits)
                .map(|((_, dead_letter), limit)| {
                    NewTopic::new(dead_letter, PARTITIONS, TopicReplication::Fixed(1))
                        .set("max.message.bytes", limit)
                })
                .collect();
            self.create(&new).await
        })
    }

    fn missing_topics<'a>(
        &'a self,
        topics: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<String>, KafkaError>> {
        Box::pin(async move {
            let producer = self.producer.get()?;
            let topics = topics.to_vec();
            // librdkafka's metadata call blocks: keep it off the runtime's threads.
            tokio::task::spawn_blocking(move || {
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
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &self.brokers)
            .set("group.id", group)
            .set("session.timeout.ms", self.session_timeout_ms.to_string())
            .set("enable.auto.commit", "true")
            .set("enable.auto.offset.store", "false")
            .set("auto.commit.interval.ms", "1000")
            .set("auto.offset.reset", "earliest")
            .set("enable.partition.eof", "false");
        if let Some(id) = &self.group_instance_id {
            config.set("group.instance.id", format!("{id}-{}", topics.join("-")));
        }
        if let Some(ms) = self.fetch_wait_max_ms {
            config.set("fetch.wait.max.ms", ms.to_string());
        }
        let consumer: StreamConsumer<GroupEvents> = config
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
            // A producer that failed fatally is down (and replaced here, if it is its turn).
            let producer = self.producer.get()?;
            // librdkafka's metadata call blocks: keep it off the runtime's threads.
            tokio::task::spawn_blocking(move || {
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

impl Broker {
    async fn create(&self, new: &[NewTopic<'_>]) -> Result<(), KafkaError> {
        let options = AdminOptions::new().operation_timeout(Some(METADATA_TIMEOUT));
        let results = self
            .admin
            .create_topics(new, &options)
            .await
            .map_err(broker_error)?;
        for result in results {
            match result {
                Ok(topic) => tracing::info!(topic, "topic created"),
                Err((_, Code::TopicAlreadyExists)) => {}
                Err((topic, code)) => {
                    return Err(KafkaError::Broker(format!(
                        "cannot create topic `{topic}`: {code}"
                    )));
                }
            }
        }
        Ok(())
    }

    /// The topic's `max.message.bytes`, if the broker tells it.
    async fn max_message_bytes(&self, topic: &str) -> Option<usize> {
        let options = AdminOptions::new().request_timeout(Some(METADATA_TIMEOUT));
        let described = self
            .admin
            .describe_configs(&[ResourceSpecifier::Topic(topic)], &options)
            .await
            .ok()?;
        let resource = described.into_iter().next()?.ok()?;
        resource
            .get("max.message.bytes")?
            .value
            .as_deref()?
            .parse()
            .ok()
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

    /// The next record, waiting for one; an error once librdkafka says this consumer
    /// failed for good (a fatal error, e.g. fenced by a newer member with its instance id).
    async fn recv(&self) -> Result<Message, KafkaError> {
        loop {
            match self.consumer.recv().await {
                Ok(message) => return Ok(owned(&message)),
                Err(RdError::MessageConsumptionFatal(code)) => {
                    return Err(KafkaError::Broker(format!(
                        "the Kafka consumer failed fatally: {code}"
                    )));
                }
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
                None => match self.recv().await {
                    Ok(message) => message,
                    Err(error) => return Some(Fetched::Failed(error)),
                },
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
                        // A fatal one comes again at the next `recv`, which reports it.
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
    let meta = Metadata {
        topic: message.topic().to_owned(),
        partition: message.partition(),
        offset: message.offset(),
        timestamp: message.timestamp().to_millis(),
    };
    let (headers, unreadable) = match message.headers() {
        Some(headers) => {
            let (read, lost) = read_headers(headers);
            let unreadable = lost.map(|reason| Unreadable {
                reason,
                // librdkafka's own copy, names and all: the dead letter sends it.
                headers: Some(NativeHeaders::new(headers.detach())),
            });
            (read, unreadable)
        }
        None => (Vec::new(), None),
    };
    Message {
        meta,
        key: message.key().map(<[u8]>::to_vec),
        payload: message.payload().map(<[u8]>::to_vec),
        headers,
        unreadable,
    }
}

/// Every header rdkafka can read, and why some could not be (see the module's doc).
fn read_headers(headers: &rdkafka::message::BorrowedHeaders) -> (Vec<Header>, Option<String>) {
    let mut read = Vec::with_capacity(headers.count());
    let mut lost = Vec::new();
    for index in 0..headers.count() {
        // rdkafka's accessor panics on a name that is not UTF-8: that panic is this
        // header's failure only.
        let header = crate::work::catch_now(|| {
            headers.try_get(index).map(|h| Header {
                name: h.key.as_bytes().to_vec(),
                value: h.value.map(<[u8]>::to_vec),
            })
        });
        match header {
            Ok(Some(header)) => read.push(header),
            Ok(None) => {}
            Err(_) => lost.push(index),
        }
    }
    let unreadable = (!lost.is_empty()).then(|| {
        format!(
            "the name of header(s) {lost:?} (of {}) is not UTF-8, which librdkafka's Rust binding \
             cannot read; the dead letter carries every header as it came",
            headers.count()
        )
    });
    (read, unreadable)
}
