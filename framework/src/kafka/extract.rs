//! Extractors of `#[kafka_consumer]` handlers: each parameter is built from the message (or
//! the container), like an axum handler's.

// axum's `Json` when HTTP is on, so a payload type is written the same in both handlers.
#[cfg(feature = "http")]
use axum::Json;
use serde::de::DeserializeOwned;

use super::message::{Header, Message, Metadata, last_value};
use crate::di::{Container, Inject};
use crate::transaction::{Tx, TxError};

/// The JSON payload, decoded (with the `http` feature, `framework::axum::Json` instead).
#[cfg(not(feature = "http"))]
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

/// Why a message cannot be handed to the handler: dead-lettered at once, never retried.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Rejection(pub String);

/// A handler parameter built from a consumed message.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a `#[kafka_consumer]` parameter",
    label = "not a message extractor",
    note = "use `Json<T>`, `Proto<T>`, `Payload`, `Key`, `Headers`, `Metadata` or `Inject<T>`"
)]
pub trait FromMessage: Sized {
    /// Extracts the value.
    fn from_message(message: &Message, container: &Container) -> Result<Self, Rejection>;
}

/// The JSON payload, decoded; a payload that does not decode is dead-lettered.
impl<T: DeserializeOwned> FromMessage for Json<T> {
    fn from_message(message: &Message, _: &Container) -> Result<Self, Rejection> {
        let payload = message.payload.as_deref().unwrap_or_default();
        serde_json::from_slice(payload)
            .map(Json)
            .map_err(|e| Rejection(format!("the payload is not the expected JSON: {e}")))
    }
}

/// The protobuf payload, decoded with prost; a payload that does not decode is dead-lettered.
#[derive(Debug, Clone, PartialEq)]
pub struct Proto<T>(pub T);

impl<T: prost::Message + Default> FromMessage for Proto<T> {
    fn from_message(message: &Message, _: &Container) -> Result<Self, Rejection> {
        T::decode(message.payload.as_deref().unwrap_or_default())
            .map(Proto)
            .map_err(|e| {
                Rejection(format!(
                    "the payload is not the expected protobuf message: {e}"
                ))
            })
    }
}

/// The raw payload (empty for a tombstone).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payload(pub Vec<u8>);

impl FromMessage for Payload {
    fn from_message(message: &Message, _: &Container) -> Result<Self, Rejection> {
        Ok(Payload(message.payload.clone().unwrap_or_default()))
    }
}

/// The record key, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key(pub Option<Vec<u8>>);

impl FromMessage for Key {
    fn from_message(message: &Message, _: &Container) -> Result<Self, Rejection> {
        Ok(Key(message.key.clone()))
    }
}

/// The record headers, in order, as sent: names and values are bytes, a null value is `None`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Headers(pub Vec<Header>);

impl Headers {
    /// The last value of header `name` (`None` if it is absent or its value is null).
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        last_value(&self.0, name)
    }
}

impl FromMessage for Headers {
    fn from_message(message: &Message, _: &Container) -> Result<Self, Rejection> {
        Ok(Headers(message.headers.clone()))
    }
}

impl FromMessage for Metadata {
    fn from_message(message: &Message, _: &Container) -> Result<Self, Rejection> {
        Ok(message.meta.clone())
    }
}

/// The attempt's transaction: the consumer runs each attempt in one, committed when the
/// handler returns `Ok`, rolled back otherwise.
impl FromMessage for Tx {
    fn from_message(_: &Message, _: &Container) -> Result<Self, Rejection> {
        Tx::current().ok_or_else(|| Rejection(TxError::OutsideUnit.to_string()))
    }
}

/// A singleton component, as in HTTP handlers; checked at startup like every `Inject<T>`.
impl<T: ?Sized + Send + Sync + 'static> FromMessage for Inject<T> {
    fn from_message(_: &Message, container: &Container) -> Result<Self, Rejection> {
        container.get::<T>().map(Inject).ok_or_else(|| {
            Rejection(format!(
                "component `{}` is not built",
                std::any::type_name::<T>()
            ))
        })
    }
}
