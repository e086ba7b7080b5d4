//! Logging: `LOG_LEVEL` filters, `LOG_FORMAT` picks text or JSON lines.

use tracing_subscriber::EnvFilter;

use crate::config::{CoreConfig, LogFormat};

/// Installs the global subscriber once; later calls (tests) keep the first.
pub fn init(config: &CoreConfig) {
    let filter = EnvFilter::try_new(&config.log_level).unwrap_or_else(|error| {
        eprintln!(
            "LOG_LEVEL={:?} is not a valid filter ({error}); using `info`",
            config.log_level
        );
        EnvFilter::new("info")
    });
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi);
    let _ = match config.log_format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init(),
        LogFormat::Text => builder.try_init(),
    };
}
