use std::fmt;

use crate::config::ConfigError;
use crate::di::{BuildError, Location, WiringReport};

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
    /// A plugin could not bind or start (a port in use, a missing topic, an unreachable
    /// broker); the plugin's own error says which.
    #[error("{source}")]
    Plugin {
        /// The plugin's name (`"http"`, `"kafka"`).
        plugin: &'static str,
        /// Why.
        source: BuildError,
    },
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

/// `main` returning `framework::Result` prints `Error: {:?}`: make that the readable report.
impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// The result of the app's entry points.
pub type Result<T, E = Error> = std::result::Result<T, E>;
