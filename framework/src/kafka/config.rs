//! The `KAFKA_*` keys.

use serde::Deserialize;

use crate::config::{ConfigError, ConfigSection, Settings, non_blank};

/// The `KAFKA_*` keys (see `envs/.env`).
#[derive(Debug, Clone, Deserialize, validator::Validate)]
pub struct KafkaConfig {
    /// `KAFKA_BROKERS`: `host:port,...`, or `memory` (or `memory://name`) for the in-process
    /// broker; empty or unset for no Kafka.
    #[serde(default)]
    pub brokers: Option<String>,
    /// `KAFKA_CREATE_TOPICS`: create the consumed and dead-letter topics at startup; default
    /// false.
    #[serde(default)]
    pub create_topics: bool,
    /// `KAFKA_SESSION_TIMEOUT_MS`: how long the group waits for a silent member (a crashed
    /// one) before giving its partitions to the others, in milliseconds; at least 1 (the
    /// broker's `group.min.session.timeout.ms` may ask for more), default 10000.
    #[serde(default = "default_session_timeout")]
    pub session_timeout_ms: u64,
    /// `KAFKA_GROUP_INSTANCE_ID`: when set, this process is a static member of its consumer
    /// groups (KIP-345) under this id (`<id>-<topic>` per consumer); empty: dynamic
    /// membership. Unique per replica and stable across its restarts (a StatefulSet pod's
    /// name, say).
    #[serde(default)]
    pub group_instance_id: Option<String>,
    /// `KAFKA_FETCH_WAIT_MAX_MS`: the longest the broker may hold a consumer's fetch while it
    /// has nothing to return (librdkafka's `fetch.wait.max.ms`), 0 to 300000; unset:
    /// librdkafka's 500. Kafka answers as soon as a record arrives; a broker that holds each
    /// fetch the whole time (tansu 0.6) delays every record by up to this much.
    #[serde(default)]
    #[validate(range(max = 300_000))]
    pub fetch_wait_max_ms: Option<u64>,
}

impl ConfigSection for KafkaConfig {
    const PREFIX: &'static str = "KAFKA_";

    fn after_load(mut self, settings: &Settings) -> Result<Self, ConfigError> {
        self.brokers = non_blank(self.brokers);
        if self.session_timeout_ms == 0 {
            return Err(settings.invalid("KAFKA_SESSION_TIMEOUT_MS", "must be at least 1"));
        }
        Ok(self)
    }
}

fn default_session_timeout() -> u64 {
    10_000
}
