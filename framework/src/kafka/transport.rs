//! What the consumer runtime and the producer need from a broker. Two implementations: the
//! in-process broker (`KAFKA_BROKERS=memory`) and a real Kafka-protocol broker.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use super::message::{Message, Outgoing};

/// A broker failure.
#[derive(Debug, thiserror::Error)]
pub enum KafkaError {
    /// The topic does not exist and was not created.
    #[error("unknown topic `{0}`")]
    UnknownTopic(String),
    /// The broker did not confirm delivery in time.
    #[error("delivery of a record to `{topic}` timed out")]
    Timeout {
        /// The topic.
        topic: String,
    },
    /// Anything else the broker or client reported.
    #[error("{0}")]
    Broker(String),
}

/// A boxed future.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A broker connection.
pub trait Transport: Send + Sync + 'static {
    /// Sends `record`; returns once the broker acknowledged it, with its partition and offset.
    fn send(&self, record: Outgoing) -> BoxFuture<'_, Result<(i32, i64), KafkaError>>;
    /// Creates the topics that do not exist yet.
    fn ensure_topics<'a>(&'a self, topics: &'a [String]) -> BoxFuture<'a, Result<(), KafkaError>>;
    /// The topics of `topics` that do not exist.
    fn missing_topics<'a>(
        &'a self,
        topics: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<String>, KafkaError>>;
    /// Joins `group` for `topics`.
    fn subscribe(
        &self,
        group: &str,
        topics: &[String],
    ) -> Result<Box<dyn Subscription>, KafkaError>;
    /// Whether the broker answers.
    fn ping(&self) -> BoxFuture<'_, Result<(), KafkaError>>;
}

/// One group member's stream of records.
pub trait Subscription: Send {
    /// The next record, waiting for one; `None` once closed.
    fn next(&mut self) -> BoxFuture<'_, Option<Message>>;
    /// Commits for this member; shared by the workers that handle its records.
    fn committer(&self) -> Arc<dyn Committer>;
}

/// Commits a group member's positions.
pub trait Committer: Send + Sync {
    /// Records `offset` (the next to read) as the group's position in `topic`/`partition`.
    fn commit(&self, topic: &str, partition: i32, offset: i64) -> Result<(), KafkaError>;
}
