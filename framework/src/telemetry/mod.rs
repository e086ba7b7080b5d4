//! Logging and tracing: `LOG_LEVEL` filters, `LOG_FORMAT` picks text or JSON lines; every
//! HTTP request, gRPC call, consumed record and job run has a span carrying its request id
//! and W3C trace context, which travel on through the Kafka records it publishes.

pub mod bounded;
mod context;
#[cfg(feature = "http")]
mod layer;
mod request_id;
#[cfg(feature = "http")]
mod request_id_layer;
#[cfg(feature = "sentry")]
pub(crate) mod sentry;
#[cfg(not(feature = "sentry"))]
#[path = "sentry_off.rs"]
pub(crate) mod sentry;
mod trace_context;

pub use context::WorkContext;
pub(crate) use context::carry;
#[cfg(feature = "http")]
pub(crate) use layer::context_of;
#[cfg(feature = "http")]
pub use layer::{WorkContextLayer, WorkContextService};
pub use request_id::{MAX_REQUEST_ID_LEN, REQUEST_ID_KEY, is_valid_request_id};
#[cfg(feature = "http")]
pub use request_id_layer::{
    DropInvalidRequestId, DropInvalidRequestIdLayer, REQUEST_ID, RequestIdLayer, request_id_layer,
};
pub use trace_context::{TRACEPARENT, TraceContext};

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

#[cfg(feature = "sentry")]
use crate::config::ConfigSection;
use crate::config::{CoreConfig, LogFormat, Settings};

/// The one value of a method (HTTP or gRPC) that is not known, as OpenTelemetry's semantic
/// conventions name it: a label or span field whose values a client could invent takes this
/// one instead.
pub const OTHER: &str = "_OTHER";

/// The module of a handler, from its path (`crate::articles::http::create` ->
/// `crate::articles::http`): the `module` of its spans.
pub fn module_of(handler: &str) -> &str {
    handler
        .rsplit_once("::")
        .map_or(handler, |(module, _)| module)
}
/// The message of a panic payload (`panic!`'s `&str` or `String`), else `(no message)`.
pub fn panic_message(panic: &(dyn std::any::Any + Send)) -> &str {
    panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("(no message)")
}

/// Installs the global subscriber, writing to stdout, with Sentry's layers when `settings`
/// set `SENTRY_DSN`; later calls keep the first.
pub fn init(config: &CoreConfig, settings: &Settings) {
    install(config, settings, false);
}

/// Like [`init`], but through libtest's capture, so a passing test prints nothing.
pub(crate) fn init_for_tests(config: &CoreConfig, settings: &Settings) {
    install(config, settings, true);
}

fn install(config: &CoreConfig, settings: &Settings, test: bool) {
    // `CoreConfig::load` already rejected an invalid filter.
    let filter = EnvFilter::try_new(&config.log_level).unwrap_or_else(|_| EnvFilter::new("info"));
    let ansi = !test && std::io::IsTerminal::is_terminal(&std::io::stdout());
    let fmt = tracing_subscriber::fmt::layer().with_ansi(ansi);
    let fmt: Box<dyn Layer<Filtered> + Send + Sync> = match (config.log_format, test) {
        (LogFormat::Json, false) => Box::new(fmt.json().flatten_event(true)),
        (LogFormat::Json, true) => Box::new(fmt.json().flatten_event(true).with_test_writer()),
        (LogFormat::Text, false) => Box::new(fmt),
        (LogFormat::Text, true) => Box::new(fmt.with_test_writer()),
    };
    let subscriber = tracing_subscriber::registry().with(filter).with(fmt);
    #[cfg(feature = "sentry")]
    let subscriber = subscriber.with(
        sentry::SentryConfig::load(settings)
            .is_ok_and(|c| c.dsn.is_some())
            .then(sentry::tracing_layers),
    );
    #[cfg(not(feature = "sentry"))]
    let _ = settings;
    let _ = subscriber.try_init();
}

/// The subscriber the output layers sit on.
type Filtered = tracing_subscriber::layer::Layered<EnvFilter, tracing_subscriber::Registry>;
