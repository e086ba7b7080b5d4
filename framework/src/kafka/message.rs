//! Messages as handlers see them, and as the producer sends them.

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
    pub headers: Vec<(String, Vec<u8>)>,
}

impl Message {
    /// The last value of header `name`.
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_slice())
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
    /// Headers.
    pub headers: Vec<(String, Vec<u8>)>,
}
