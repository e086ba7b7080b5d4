//! Messages as handlers see them, and as the producer sends them.

use std::any::Any;
use std::sync::Arc;

/// One record header. Kafka headers are bytes on the wire: a name need not be UTF-8 (another
/// client may write any bytes), and a value may be null, which is not the same as empty.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Header {
    /// The name, as sent.
    pub name: Vec<u8>,
    /// The value; `None` for a null value.
    pub value: Option<Vec<u8>>,
}

impl Header {
    /// A header with a (non-null) value.
    pub fn new(name: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) -> Header {
        Header {
            name: name.into(),
            value: Some(value.into()),
        }
    }

    /// A header whose value is null.
    pub fn null(name: impl Into<Vec<u8>>) -> Header {
        Header {
            name: name.into(),
            value: None,
        }
    }
}

/// The last value of header `name` among `headers` (`None` if it is absent or null).
pub(crate) fn last_value<'a>(headers: &'a [Header], name: &str) -> Option<&'a [u8]> {
    headers
        .iter()
        .rev()
        .find(|h| h.name == name.as_bytes())
        .and_then(|h| h.value.as_deref())
}

/// One consumed record.
#[derive(Debug, Clone)]
pub struct Message {
    /// Topic, partition and offset.
    pub meta: Metadata,
    /// The key, if any.
    pub key: Option<Vec<u8>>,
    /// The value, if any (a tombstone has none).
    pub payload: Option<Vec<u8>>,
    /// Headers in order; a name may repeat.
    pub headers: Vec<Header>,
    /// Part of the record could not be read, when it could not: such a record is
    /// dead-lettered without running the handler (see [`Broker`](super::Broker) for the one
    /// case, a header name that is not UTF-8).
    pub unreadable: Option<Unreadable>,
}

/// What could not be read of a record.
#[derive(Debug, Clone)]
pub struct Unreadable {
    /// Why, for the logs and the dead letter's `x-error-message`.
    pub reason: String,
    /// Every header of the record in the transport's own form, when [`Message::headers`]
    /// lacks some: the dead letter carries these, byte for byte.
    pub headers: Option<NativeHeaders>,
}

/// A transport's own copy of a record's headers, opaque to everything but that transport.
#[derive(Clone)]
pub struct NativeHeaders(Arc<dyn Any + Send + Sync>);

impl NativeHeaders {
    /// Wraps a transport's headers.
    pub fn new<T: Any + Send + Sync>(headers: T) -> NativeHeaders {
        NativeHeaders(Arc::new(headers))
    }

    /// The headers, if they are a `T`.
    pub fn downcast_ref<T: Any>(&self) -> Option<&T> {
        self.0.downcast_ref()
    }
}

impl std::fmt::Debug for NativeHeaders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NativeHeaders(..)")
    }
}

impl Message {
    /// The last value of header `name` (`None` if it is absent or its value is null).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        last_value(&self.headers, name)
    }
}

/// Where a record sits: an extractor too (`meta: Metadata`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metadata {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The offset within the partition.
    pub offset: i64,
    /// Milliseconds since the epoch, when the broker gives one.
    pub timestamp: Option<i64>,
}

/// A record to send.
#[derive(Debug, Clone, Default)]
pub struct Outgoing {
    /// The topic.
    pub topic: String,
    /// The key, which picks the partition.
    pub key: Option<Vec<u8>>,
    /// The value.
    pub payload: Option<Vec<u8>>,
    /// Headers, in order.
    pub headers: Vec<Header>,
}
