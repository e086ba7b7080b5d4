//! The injectable producer.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use super::message::Outgoing;
use super::transport::{KafkaError, Transport};
use crate::di::{Container, Dependency, Injectable, Key, ResolveError};
use crate::error::{DomainError, ErrorKind};
use crate::http::REQUEST_ID;
use crate::telemetry::{TRACEPARENT, WorkContext};

/// How long a send may wait for the broker's acknowledgement.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);

/// Publishes records; a `#[module]` field of type `Producer`.
///
/// Every call returns after the broker acknowledged the record (or failed), so a caller that
/// got `Ok` knows the event is stored.
#[derive(Clone)]
pub struct Producer {
    transport: Arc<dyn Transport>,
}

/// A record could not be published.
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
    /// The broker refused or did not confirm it.
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
            PublishError::Broker { .. } => ErrorKind::Internal,
        }
    }
    fn code(&self) -> &'static str {
        match self {
            PublishError::Encode { .. } => "KAFKA_ENCODE_FAILED",
            PublishError::Broker { .. } => "KAFKA_PUBLISH_FAILED",
        }
    }
}

impl Producer {
    pub(crate) fn new(transport: Arc<dyn Transport>) -> Producer {
        Producer { transport }
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
        let mut headers = vec![("content-type".to_owned(), content_type.as_bytes().to_vec())];
        // The publishing work's request id and trace travel on, so the consumer continues them.
        if let Some(context) = WorkContext::current() {
            if let Some(id) = context.request_id {
                headers.push((REQUEST_ID.as_str().to_owned(), id.into_bytes()));
            }
            headers.push((
                TRACEPARENT.to_owned(),
                context.trace.traceparent().into_bytes(),
            ));
        }
        self.send(Outgoing {
            topic: topic.to_owned(),
            key: Some(key.as_bytes().to_vec()),
            payload: Some(payload),
            headers,
        })
        .await
    }

    /// Sends a record as given; returns its partition and offset.
    pub async fn send(&self, record: Outgoing) -> Result<(i32, i64), PublishError> {
        let topic = record.topic.clone();
        let sent = tokio::time::timeout(DELIVERY_TIMEOUT, self.transport.send(record)).await;
        let result = sent.unwrap_or_else(|_| {
            Err(KafkaError::Timeout {
                topic: topic.clone(),
            })
        });
        result.map_err(|source| PublishError::Broker { topic, source })
    }
}

impl Injectable for Producer {
    fn dependency() -> Dependency {
        Dependency::Component(Key::of::<dyn Transport>())
    }

    fn resolve(container: &Container) -> Result<Self, ResolveError> {
        container
            .get::<dyn Transport>()
            .map(Producer::new)
            .ok_or(ResolveError::Missing("dyn Transport"))
    }
}
