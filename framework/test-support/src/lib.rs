//! Fixtures for `framework`'s tests and benchmarks: the generated code of `probe.proto`, a
//! macro that runs each scenario on each backend, the Kafka backends, and a poll with a
//! deadline.

#![allow(missing_docs, clippy::all)]

pub mod probe {
    tonic::include_proto!("probe.v1");
}

/// One test per backend for each scenario: `on_backends!(Backend: memory, redis; [a, b])`
/// writes `memory::a`, `memory::b`, `redis::a`, `redis::b`, each a multi-threaded tokio test
/// calling `a(Backend::memory("a"))` and so on. Each backend is a constructor of `Backend`
/// taking a name unique to the scenario.
#[macro_export]
macro_rules! on_backends {
    ($backend:ident: $($kind:ident),+; $scenarios:tt) => {
        $($crate::on_backends!(@one $backend, $kind, $scenarios);)+
    };
    (@one $backend:ident, $kind:ident, [$($scenario:ident),* $(,)?]) => {
        mod $kind {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $scenario() {
                super::$scenario(super::$backend::$kind(stringify!($scenario))).await;
            })*
        }
    };
}

/// Where a Kafka scenario runs: the in-process broker (`memory://<name>`), or the real broker
/// of `KAFKA_BROKERS` with names no earlier run used.
#[derive(Debug, Clone)]
pub struct KafkaBackend {
    /// The `KAFKA_BROKERS` value.
    pub brokers: String,
    /// Unique per test: topic and group names derive from it.
    pub run: String,
}

impl KafkaBackend {
    pub fn memory(name: &str) -> KafkaBackend {
        KafkaBackend {
            brokers: format!("memory://{name}"),
            run: name.to_owned(),
        }
    }

    pub fn broker(name: &str) -> KafkaBackend {
        let brokers = std::env::var("KAFKA_BROKERS").unwrap_or_default();
        assert!(
            !brokers.is_empty() && !brokers.starts_with("memory"),
            "the broker tests need KAFKA_BROKERS=host:port of a running Kafka-protocol broker \
             (scripts/test starts tansu); got {brokers:?}"
        );
        KafkaBackend {
            brokers,
            run: format!("{name}-{}", uuid::Uuid::new_v4().simple()),
        }
    }

    /// `<prefix>-<run>`: a topic or group name of this run.
    pub fn name(&self, prefix: &str) -> String {
        format!("{prefix}-{}", self.run)
    }
}

/// Polls `done` every 20 ms until it holds; fails the test naming `what` once `limit` passed.
pub async fn eventually(
    what: &str,
    limit: std::time::Duration,
    mut done: impl AsyncFnMut() -> bool,
) {
    let deadline = tokio::time::Instant::now() + limit;
    while !done().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
