use std::fmt;

use crate::config::ConfigError;
use crate::registry::{BuildError, Location, WiringReport};

/// A startup or lifecycle failure of the app.
#[derive(thiserror::Error)]
pub enum Error {
    /// The configuration is missing or invalid.
    #[error("configuration error: {0}")]
    Config(#[from] ConfigError),
    /// The wiring is incomplete or inconsistent.
    #[error("{0}")]
    Wiring(#[from] WiringReport),
    /// A component failed to build.
    #[error("cannot build `{component}` (declared at {location}): {source}")]
    Build {
        /// The component's type.
        component: &'static str,
        /// Where it is declared.
        location: Location,
        /// Why.
        source: BuildError,
    },
    /// The router rejected the routes.
    #[error("cannot build the HTTP router: {0}")]
    Router(String),
    /// Consumers could not start (a missing topic, an unreachable broker).
    #[error("Kafka: {0}{hint}", hint = kafka_hint(.0))]
    Kafka(#[from] crate::kafka::KafkaError),
    /// A socket or other I/O failure.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The command line is wrong.
    #[error("{0}")]
    Usage(String),
}

fn kafka_hint(error: &crate::kafka::KafkaError) -> &'static str {
    match error {
        crate::kafka::KafkaError::UnknownTopic(_) => {
            " (create it, or set KAFKA_CREATE_TOPICS=true)"
        }
        _ => "",
    }
}

/// `main` returning `framework::Result` prints `Error: {:?}`: make that the readable report.
impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// The result of the app's entry points.
pub type Result<T, E = Error> = std::result::Result<T, E>;
