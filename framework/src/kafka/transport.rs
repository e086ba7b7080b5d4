//! What the consumer runtime and the producer need from a broker. Two implementations: the
//! in-process broker (`KAFKA_BROKERS=memory`) and a real Kafka-protocol broker.

use std::sync::Arc;

use super::message::{Message, NativeHeaders, Outgoing};

/// A broker failure.
#[derive(Debug, thiserror::Error)]
pub enum KafkaError {
    /// The topic does not exist and was not created.
    #[error("unknown topic `{0}`")]
    UnknownTopic(String),
    /// The record was sent but its delivery was not confirmed (in time, or at all): it may
    /// or may not be stored.
    #[error("delivery of a record to `{topic}` was not confirmed in time; it may be stored")]
    Timeout {
        /// The topic.
        topic: String,
    },
    /// Nothing was sent: the broker cannot be reached, or the client cannot send now (a
    /// full queue, a producer being replaced after a fatal error).
    #[error("the Kafka broker is unavailable: {0}")]
    Unavailable(String),
    /// Anything else the broker or client reported.
    #[error("{0}")]
    Broker(String),
}

/// A boxed future (`futures-util`'s).
pub use futures_util::future::BoxFuture;

/// A broker connection.
pub trait Transport: Send + Sync + 'static {
    /// Sends `record`; returns once the broker acknowledged it, with its partition and offset.
    fn send(&self, record: Outgoing) -> BoxFuture<'_, Result<(i32, i64), KafkaError>>;
    /// Sends a dead letter: a consumed record (of any size its broker accepted) with the
    /// headers the consumer adds, so the client's own size limit must leave room for them.
    /// `original`, given for a record this transport could not read whole
    /// ([`Unreadable::headers`](super::Unreadable::headers)), holds the record's own headers,
    /// sent before `record.headers` (then only the added ones); a transport that gives such
    /// records implements this.
    fn send_dead_letter<'a>(
        &'a self,
        record: Outgoing,
        original: Option<&'a NativeHeaders>,
    ) -> BoxFuture<'a, Result<(i32, i64), KafkaError>> {
        let _ = original;
        self.send(record)
    }
    /// Creates the topics that do not exist yet.
    fn ensure_topics<'a>(&'a self, topics: &'a [String]) -> BoxFuture<'a, Result<(), KafkaError>>;
    /// Creates the dead-letter topics of `(source, dead letter)` that do not exist yet, each
    /// taking any record its source takes plus the headers a dead letter adds.
    fn ensure_dead_letter_topics<'a>(
        &'a self,
        topics: &'a [(String, String)],
    ) -> BoxFuture<'a, Result<(), KafkaError>> {
        Box::pin(async move {
            let names: Vec<String> = topics.iter().map(|(_, d)| d.clone()).collect();
            self.ensure_topics(&names).await
        })
    }
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

/// What a subscription yields next.
#[derive(Debug)]
pub enum Fetched {
    /// Records, in order within each partition.
    Records(Vec<Message>),
    /// These (topic, partition) were taken from this member by a rebalance: records of them
    /// already handed out are no longer this member's to handle, and their commits are
    /// refused. Records fetched after this event belong to the new assignment.
    Revoked(Vec<(String, i32)>),
    /// The member failed for good (a fatal client error): drop this subscription and
    /// subscribe again; it resumes from the committed positions.
    Failed(KafkaError),
}

/// One group member's stream of records.
pub trait Subscription: Send {
    /// Waits for records, then returns every one ready now, at most `max`; or a rebalance
    /// that took partitions away. `None` once closed.
    fn next(&mut self, max: usize) -> BoxFuture<'_, Option<Fetched>>;
    /// Stops fetching `topic`/`partition`: records after those handed out come after
    /// [`resume`](Subscription::resume).
    fn pause(&mut self, topic: &str, partition: i32) -> Result<(), KafkaError>;
    /// Fetches `topic`/`partition` again, from the first record not handed out yet.
    fn resume(&mut self, topic: &str, partition: i32) -> Result<(), KafkaError>;
    /// Commits for this member; shared by the workers that handle its records.
    fn committer(&self) -> Arc<dyn Committer>;
}

/// Commits a group member's positions.
pub trait Committer: Send + Sync {
    /// Records `offset` (the next to read) as the group's position in `topic`/`partition`;
    /// refused once the partition is no longer this member's.
    fn commit(&self, topic: &str, partition: i32, offset: i64) -> Result<(), KafkaError>;
}
