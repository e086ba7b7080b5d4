//! Logging and tracing: `LOG_LEVEL` filters, `LOG_FORMAT` picks text or JSON lines; every
//! HTTP request, gRPC call, consumed record and job run has a span carrying its request id
//! and W3C trace context (with its trace state and baggage), which travel on through the
//! Kafka records it publishes.

pub mod bounded;
#[cfg(test)]
pub(crate) mod capture;
mod context;
mod request_id;
mod trace_context;

pub use context::WorkContext;
pub use request_id::{MAX_REQUEST_ID_LEN, REQUEST_ID_KEY, is_valid_request_id};
pub use trace_context::{
    HeaderPairs, SpanBridge, TRACEPARENT, TRACESTATE, TraceContext, bridge_spans, extract,
    trace_headers,
};

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::config::{CoreConfig, LogFormat};

/// The one value of a method (HTTP or gRPC) that is not known, as OpenTelemetry's semantic
/// conventions name it: a label or span field whose values a client could invent takes this
/// one instead.
pub const OTHER: &str = "_OTHER";

/// A span's name as OpenTelemetry's conventions build it: `{operation} {target}`
/// (`process orders`, `GET /articles/{id}`), or the operation alone when there is no target.
///
/// As a field value (`otel.name = %SpanName("send", Some(topic))`) it is formatted only by a
/// layer that records the field, so a span no layer records costs no allocation for its name.
#[derive(Debug, Clone, Copy)]
pub struct SpanName<'a>(pub &'a str, pub Option<&'a str>);

impl std::fmt::Display for SpanName<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.1 {
            Some(target) => write!(f, "{} {target}", self.0),
            None => f.write_str(self.0),
        }
    }
}

/// Marks `span` (a unit's) failed, as OpenTelemetry's conventions have it: status `error`, and
/// `error.type` the failure's code (`HANDLER_FAILED`) or status (`503`). The span must declare
/// the `otel.status_code` and `error.type` fields (as `tracing::field::Empty`).
pub fn record_error(span: &tracing::Span, error_type: &str) {
    span.record("otel.status_code", "error");
    span.record("error.type", error_type);
}

/// The module of a handler, from its path (`crate::articles::http::create` ->
/// `crate::articles::http`): the `module` of its spans.
pub fn module_of(handler: &str) -> &str {
    handler
        .rsplit_once("::")
        .map_or(handler, |(module, _)| module)
}

/// The subscriber plugins' layers sit on.
pub type Subscriber = tracing_subscriber::Registry;

/// A layer a plugin adds to the subscriber ([`Plugin::tracing_layers`](crate::plugin::Plugin::tracing_layers)).
pub struct TracingLayer {
    layer: Box<dyn Layer<Subscriber> + Send + Sync>,
    own_filter: bool,
}

impl TracingLayer {
    /// A layer that sees the spans and events the `LOG_LEVEL` filter lets through, as the log
    /// lines do.
    pub fn new(layer: impl Layer<Subscriber> + Send + Sync) -> Self {
        TracingLayer {
            layer: Box::new(layer),
            own_filter: false,
        }
    }

    /// A layer that filters for itself, whatever `LOG_LEVEL` says (the `otel` plugin's SQL
    /// spans, from sqlx's DEBUG events): it must, or every span and event of the process
    /// reaches it.
    pub fn with_own_filter(layer: impl Layer<Subscriber> + Send + Sync) -> Self {
        TracingLayer {
            layer: Box::new(layer),
            own_filter: true,
        }
    }
}

/// Installs the global subscriber, writing to stdout, with the plugins' `layers`; later calls
/// keep the first.
pub fn init(config: &CoreConfig, layers: Vec<TracingLayer>) {
    install(config, layers, false);
}

/// Like [`init`], but through libtest's capture, so a passing test prints nothing.
pub(crate) fn init_for_tests(config: &CoreConfig, layers: Vec<TracingLayer>) {
    install(config, layers, true);
}

type Boxed = Box<dyn Layer<Subscriber> + Send + Sync>;

fn install(config: &CoreConfig, layers: Vec<TracingLayer>, test: bool) {
    // `CoreConfig::load` already rejected an invalid filter. One per layer (per-layer
    // filtering), so that a layer with a filter of its own sees what `LOG_LEVEL` drops.
    let level = || EnvFilter::try_new(&config.log_level).unwrap_or_else(|_| EnvFilter::new("info"));
    let ansi = !test && std::io::IsTerminal::is_terminal(&std::io::stdout());
    let fmt = tracing_subscriber::fmt::layer().with_ansi(ansi);
    let fmt: Boxed = match (config.log_format, test) {
        (LogFormat::Json, false) => fmt.json().flatten_event(true).with_filter(level()).boxed(),
        (LogFormat::Json, true) => {
            let fmt = fmt.json().flatten_event(true).with_test_writer();
            fmt.with_filter(level()).boxed()
        }
        (LogFormat::Text, false) => fmt.with_filter(level()).boxed(),
        (LogFormat::Text, true) => fmt.with_test_writer().with_filter(level()).boxed(),
    };
    let mut all = vec![fmt];
    all.extend(layers.into_iter().map(|plugin| match plugin.own_filter {
        true => plugin.layer,
        false => plugin.layer.with_filter(level()).boxed(),
    }));
    let _ = tracing_subscriber::registry().with(all).try_init();
}
