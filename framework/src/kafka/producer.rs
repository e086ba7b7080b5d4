//! The injectable producer.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use super::message::{Header, Outgoing};
use super::transport::{KafkaError, Transport};
use crate::breaker::{Breaker, CircuitOpen};
use crate::di::{Container, Dependency, Injectable, Key, ResolveError};
use crate::error::{DomainError, ErrorKind};
use tracing::Instrument;

use crate::telemetry::{HeaderPairs, REQUEST_ID_KEY, SpanName, TraceContext, WorkContext};
use crate::transaction::{EVENT_ID_HEADER, EventSink, OutboxEvent, SinkError};

/// How long a send may wait for the broker's acknowledgement (librdkafka's own
/// `message.timeout.ms` is the same, so this is only a backstop).
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(11);

/// Publishes records; a `#[module]` field of type `Producer`.
///
/// Every call returns after the broker acknowledged the record (or failed), so a caller that
/// got `Ok` knows the event is stored. Calls go through the `kafka` circuit breaker: while
/// `BREAKER_FAILURES` publishes in a row found the broker unavailable or unresponsive, a
/// publish fails at once ([`PublishError::CircuitOpen`]) instead of waiting up to the
/// delivery timeout, for `BREAKER_OPEN_MS`.
#[derive(Clone)]
pub struct Producer {
    transport: Arc<dyn Transport>,
    breaker: Breaker,
}

/// A record could not be published, or its publication was not confirmed.
///
/// | variant | kind | code | was the record stored? |
/// |---|---|---|---|
/// | `Encode` | `Marshaling` | `KAFKA_ENCODE_FAILED` | no: nothing was sent |
/// | `Unavailable` | `Unavailable` | `KAFKA_UNAVAILABLE` | no: nothing was sent (the broker cannot be reached, or the producer is being replaced after a fatal error) |
/// | `CircuitOpen` | `Unavailable` | `KAFKA_UNAVAILABLE` | no: nothing was sent (the broker failed just now, see [`crate::breaker`]) |
/// | `Unconfirmed` | `Timeout` | `KAFKA_PUBLISH_UNCONFIRMED` | unknown: it was sent but not acknowledged in time, and may be stored (and consumed) later |
/// | `Broker` | `Internal` | `KAFKA_PUBLISH_FAILED` | no: the broker refused it (an unknown topic, a record too large) |
///
/// A caller that must not report an event as lost when it may not be should treat
/// `Unconfirmed` apart: its work may be retried with the same key (consumers must be
/// idempotent anyway: delivery is at least once).
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The value could not be encoded.
    #[error("cannot encode the record for `{topic}`: {reason}")]
    Encode {
        /// The topic.
        topic: String,
        /// Why.
        reason: String,
    },
    /// Nothing was sent: the broker is unavailable.
    #[error("cannot publish to `{topic}`: the broker is unavailable")]
    Unavailable {
        /// The topic.
        topic: String,
        /// Why.
        source: KafkaError,
    },
    /// Nothing was sent: the `kafka` circuit breaker is open.
    #[error("cannot publish to `{topic}`: the broker failed just now")]
    CircuitOpen {
        /// The topic.
        topic: String,
        /// The refusal, with how long the breaker stays open.
        source: CircuitOpen,
    },
    /// The record was sent but not acknowledged in time: it may be stored.
    #[error("publishing to `{topic}` was not confirmed in time; the record may be stored")]
    Unconfirmed {
        /// The topic.
        topic: String,
        /// Why.
        source: KafkaError,
    },
    /// The broker refused the record.
    #[error("cannot publish to `{topic}`")]
    Broker {
        /// The topic.
        topic: String,
        /// Why.
        source: KafkaError,
    },
}

impl DomainError for PublishError {
    fn kind(&self) -> ErrorKind {
        match self {
            PublishError::Encode { .. } => ErrorKind::Marshaling,
            PublishError::Unavailable { .. } | PublishError::CircuitOpen { .. } => {
                ErrorKind::Unavailable
            }
            PublishError::Unconfirmed { .. } => ErrorKind::Timeout,
            PublishError::Broker { .. } => ErrorKind::Internal,
        }
    }
    fn code(&self) -> &'static str {
        match self {
            PublishError::Encode { .. } => "KAFKA_ENCODE_FAILED",
            PublishError::Unavailable { .. } | PublishError::CircuitOpen { .. } => {
                "KAFKA_UNAVAILABLE"
            }
            PublishError::Unconfirmed { .. } => "KAFKA_PUBLISH_UNCONFIRMED",
            PublishError::Broker { .. } => "KAFKA_PUBLISH_FAILED",
        }
    }
}

// A service's `internal` variant over a `PublishError` answers as its kind.
inventory::submit!(crate::error::transient::Classifier {
    classify: crate::error::transient::own_kind::<PublishError>
});

impl PublishError {
    /// The failure of a send to `topic`, by what is known of the record's fate.
    fn of(topic: String, source: KafkaError) -> PublishError {
        match source {
            KafkaError::Unavailable(_) => PublishError::Unavailable { topic, source },
            KafkaError::Timeout { .. } => PublishError::Unconfirmed { topic, source },
            KafkaError::UnknownTopic(_) | KafkaError::Broker(_) => {
                PublishError::Broker { topic, source }
            }
        }
    }

    /// Whether the record may have been stored despite the error (only
    /// [`Unconfirmed`](PublishError::Unconfirmed)).
    pub fn may_be_stored(&self) -> bool {
        matches!(self, PublishError::Unconfirmed { .. })
    }
}

impl Producer {
    pub(crate) fn new(transport: Arc<dyn Transport>, breaker: Breaker) -> Producer {
        Producer { transport, breaker }
    }

    /// Publishes `value` as JSON under `key`; the current request id travels as a header.
    pub async fn publish_json<T: Serialize + ?Sized>(
        &self,
        topic: &str,
        key: &str,
        value: &T,
    ) -> Result<(i32, i64), PublishError> {
        let payload = serde_json::to_vec(value).map_err(|e| PublishError::Encode {
            topic: topic.to_owned(),
            reason: e.to_string(),
        })?;
        self.publish(topic, key, payload, "application/json").await
    }

    /// Publishes `value` as protobuf under `key`; the current request id travels as a header.
    pub async fn publish_proto<T: prost::Message>(
        &self,
        topic: &str,
        key: &str,
        value: &T,
    ) -> Result<(i32, i64), PublishError> {
        self.publish(topic, key, value.encode_to_vec(), "application/x-protobuf")
            .await
    }

    async fn publish(
        &self,
        topic: &str,
        key: &str,
        payload: Vec<u8>,
        content_type: &str,
    ) -> Result<(i32, i64), PublishError> {
        let mut headers = vec![Header::new("content-type", content_type)];
        // The publishing work's request id and trace travel on, so the consumer continues
        // them: its span is a child of this send's (OpenTelemetry's messaging conventions).
        if let Some(id) = WorkContext::current().and_then(|context| context.request_id) {
            headers.push(Header::new(REQUEST_ID_KEY, id));
        }
        let span = send_span(topic);
        let trace = crate::telemetry::trace_headers(&span);
        headers.extend(
            trace
                .into_iter()
                .map(|(name, value)| Header::new(name, value)),
        );
        let record = Outgoing {
            topic: topic.to_owned(),
            key: Some(key.as_bytes().to_vec()),
            payload: Some(payload),
            headers,
        };
        self.send_in(record, span).await
    }

    /// Sends `record` within `span` (a [`send_span`]), recording where it landed, or the error.
    async fn send_in(
        &self,
        record: Outgoing,
        span: tracing::Span,
    ) -> Result<(i32, i64), PublishError> {
        let sent = self.send(record).instrument(span.clone()).await;
        match &sent {
            Ok((partition, offset)) => {
                // A string, as the conventions type it.
                span.record(
                    "messaging.destination.partition.id",
                    tracing::field::display(partition),
                );
                span.record("messaging.kafka.offset", offset);
            }
            Err(error) => crate::telemetry::record_error(&span, error.code()),
        }
        sent
    }

    /// Sends a record as given; returns its partition and offset.
    pub async fn send(&self, record: Outgoing) -> Result<(i32, i64), PublishError> {
        let topic = record.topic.clone();
        let permit = match self.breaker.admit() {
            Ok(permit) => permit,
            Err(source) => return Err(PublishError::CircuitOpen { topic, source }),
        };
        let sent = tokio::time::timeout(DELIVERY_TIMEOUT, self.transport.send(record)).await;
        let result = sent.unwrap_or_else(|_| {
            Err(KafkaError::Timeout {
                topic: topic.clone(),
            })
        });
        match &result {
            // Not sent, or not acknowledged: a broker that answers does both in time.
            Err(KafkaError::Unavailable(_) | KafkaError::Timeout { .. }) => permit.fail(),
            _ => permit.finish(None),
        }
        result.map_err(|source| PublishError::of(topic, source))
    }
}

/// The outbox relay's sink: each event as a record with its key, its headers and `ce_id`.
impl EventSink for Producer {
    fn publish<'a>(
        &'a self,
        event: &'a OutboxEvent,
    ) -> futures_util::future::BoxFuture<'a, Result<(), SinkError>> {
        Box::pin(async move {
            let mut headers = Vec::with_capacity(event.headers.len() + 1);
            headers.extend(
                event
                    .headers
                    .iter()
                    .map(|(name, value)| Header::new(name.as_str(), value.as_str())),
            );
            // Last, so that it is the one a consumer reads (the last value of a name wins)
            // even if the event's headers name `ce_id` too.
            headers.push(Header::new(EVENT_ID_HEADER, event.id.to_string()));
            let record = Outgoing {
                topic: event.topic.clone(),
                key: Some(event.key.as_bytes().to_vec()),
                payload: Some(event.payload.clone()),
                headers,
            };
            // The relay's send links to the event's creation (the request that stored it),
            // whose context the record carries on to the consumer: both read the headers'
            // last `traceparent` (see `HeaderPairs`).
            let span = send_span(&event.topic);
            let created = crate::telemetry::extract(&HeaderPairs(&event.headers));
            TraceContext::link(&span, &created, Vec::new());
            self.send_in(record, span)
                .await
                .map(drop)
                .map_err(|error| SinkError {
                    message: crate::error::error_chain(&error),
                    may_be_stored: error.may_be_stored(),
                    refused_for: crate::error::transient::refused_for(&error),
                })
        })
    }
}

/// The span of one send, after OpenTelemetry's messaging conventions (`send {topic}`, a
/// producer span); where the record landed is recorded by `Producer::send_in`.
fn send_span(topic: &str) -> tracing::Span {
    tracing::info_span!(
        "kafka_send",
        otel.name = %SpanName("send", Some(topic)),
        otel.kind = "producer",
        otel.status_code = tracing::field::Empty,
        error.type = tracing::field::Empty,
        messaging.system = "kafka",
        messaging.operation.type = "send",
        messaging.operation.name = "send",
        messaging.destination.name = topic,
        messaging.destination.partition.id = tracing::field::Empty,
        messaging.kafka.offset = tracing::field::Empty,
    )
}

impl Injectable for Producer {
    fn dependency() -> Dependency {
        Dependency::Component(Key::of::<Producer>())
    }

    fn resolve(container: &Container) -> Result<Self, ResolveError> {
        container
            .get::<Producer>()
            .map(|producer| Producer::clone(&producer))
            .ok_or(ResolveError::Missing("Producer"))
    }
}
