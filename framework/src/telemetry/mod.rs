//! Logging and tracing: `LOG_LEVEL` filters, `LOG_FORMAT` picks text or JSON lines; every
//! HTTP request, gRPC call, consumed record and job run has a span carrying its request id
//! and W3C trace context, which travel on through the Kafka records it publishes.

pub mod bounded;
mod context;
mod request_id;
mod trace_context;

pub use context::WorkContext;
pub use request_id::{MAX_REQUEST_ID_LEN, REQUEST_ID_KEY, is_valid_request_id};
pub use trace_context::{TRACEPARENT, TraceContext};

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::config::{CoreConfig, LogFormat};

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

/// The subscriber plugins' layers sit on: the registry behind the `LOG_LEVEL` filter.
pub type Subscriber = tracing_subscriber::layer::Layered<EnvFilter, tracing_subscriber::Registry>;

/// A layer a plugin adds to the subscriber ([`Plugin::tracing_layer`](crate::plugin::Plugin::tracing_layer)).
pub type TracingLayer = Box<dyn Layer<Subscriber> + Send + Sync>;

/// Installs the global subscriber, writing to stdout, with the plugins' `layers`; later calls
/// keep the first.
pub fn init(config: &CoreConfig, layers: Vec<TracingLayer>) {
    install(config, layers, false);
}

/// Like [`init`], but through libtest's capture, so a passing test prints nothing.
pub(crate) fn init_for_tests(config: &CoreConfig, layers: Vec<TracingLayer>) {
    install(config, layers, true);
}

fn install(config: &CoreConfig, mut layers: Vec<TracingLayer>, test: bool) {
    // `CoreConfig::load` already rejected an invalid filter.
    let filter = EnvFilter::try_new(&config.log_level).unwrap_or_else(|_| EnvFilter::new("info"));
    let ansi = !test && std::io::IsTerminal::is_terminal(&std::io::stdout());
    let fmt = tracing_subscriber::fmt::layer().with_ansi(ansi);
    let fmt: TracingLayer = match (config.log_format, test) {
        (LogFormat::Json, false) => Box::new(fmt.json().flatten_event(true)),
        (LogFormat::Json, true) => Box::new(fmt.json().flatten_event(true).with_test_writer()),
        (LogFormat::Text, false) => Box::new(fmt),
        (LogFormat::Text, true) => Box::new(fmt.with_test_writer()),
    };
    layers.insert(0, fmt);
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(layers)
        .try_init();
}
