//! What goes through the outbox: the event a handler publishes in its transaction, and the
//! seam the relay publishes it through.

use futures_util::future::BoxFuture;

use crate::telemetry::{REQUEST_ID_KEY, SpanName, WorkContext};

/// The header that carries an event's id, as the CloudEvents Kafka protocol binding names it
/// (`ce_id`, binary content mode). A consumer deduplicates on it
/// (`#[kafka_consumer(idempotent)]`).
pub const EVENT_ID_HEADER: &str = "ce_id";

/// One event to publish: a row of the outbox until the relay has published it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEvent {
    /// Its id: a UUID, sent as header [`EVENT_ID_HEADER`], the same on every attempt.
    pub id: uuid::Uuid,
    /// The topic.
    pub topic: String,
    /// The key; events of one key are published in the order they were stored.
    pub key: String,
    /// The payload, as sent.
    pub payload: Vec<u8>,
    /// Headers (name, value) beside `ce_id`: the content type, and the request id and trace of
    /// the work that stored it.
    pub headers: Vec<(String, String)>,
}

impl OutboxEvent {
    /// An event with a new id, carrying `content_type` and the current work's request id and
    /// trace (so that the consumer continues the trace of the request that stored it). The
    /// event's creation is a producer span of its own (OpenTelemetry's messaging conventions:
    /// `create {topic}`), which the consumer's span continues and the relay's send links to.
    pub fn new(topic: &str, key: &str, payload: Vec<u8>, content_type: &str) -> OutboxEvent {
        let mut headers = vec![("content-type".to_owned(), content_type.to_owned())];
        if let Some(id) = WorkContext::current().and_then(|context| context.request_id) {
            headers.push((REQUEST_ID_KEY.to_owned(), id));
        }
        let span = tracing::info_span!(
            "outbox",
            otel.name = %SpanName("create", Some(topic)),
            otel.kind = "producer",
            // The one sink there is, the Kafka plugin's, publishes it (the conventions require
            // the system on every messaging span).
            messaging.system = "kafka",
            messaging.operation.type = "create",
            messaging.operation.name = "create",
            messaging.destination.name = topic,
        );
        headers.extend(crate::telemetry::trace_headers(&span));
        OutboxEvent {
            id: uuid::Uuid::new_v4(),
            topic: topic.to_owned(),
            key: key.to_owned(),
            payload,
            headers,
        }
    }
}

/// The relay could not publish an event; it stays in the outbox and is tried again.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct SinkError {
    /// What went wrong, for the logs.
    pub message: String,
    /// Whether the event may have been stored by the broker anyway (sent, not acknowledged):
    /// it will be published again, so it may arrive twice.
    pub may_be_stored: bool,
    /// When the sink's circuit breaker refused it (the broker is known to be down): how long
    /// the breaker stays open. The relay waits that long, without backing off further.
    pub refused_for: Option<std::time::Duration>,
}

/// Where the outbox relay publishes: a messaging plugin provides it (the Kafka plugin, on its
/// producer), registered as the `dyn EventSink` component.
pub trait EventSink: Send + Sync + 'static {
    /// Publishes `event` with its headers and `ce_id`; `Ok` once the broker acknowledged it.
    ///
    /// # Errors
    /// [`SinkError`]: not published (or not confirmed).
    fn publish<'a>(&'a self, event: &'a OutboxEvent) -> BoxFuture<'a, Result<(), SinkError>>;
}
