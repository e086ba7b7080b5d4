//! The OpenTelemetry plugin (the `otel` feature), on when `OTEL_EXPORTER_OTLP_ENDPOINT` is set
//! (and `OTEL_SDK_DISABLED` is not `true`): the process's spans and metrics are exported over
//! OTLP (gRPC or HTTP/protobuf, `OTEL_EXPORTER_OTLP_PROTOCOL`) to a collector, Jaeger or
//! Tempo, spans sampled by `OTEL_TRACES_SAMPLER`, metrics every `OTEL_METRIC_EXPORT_INTERVAL`,
//! under the resource of `OTEL_SERVICE_NAME` and `OTEL_RESOURCE_ATTRIBUTES` (see
//! [`OtelConfig`]), and flushed when the app stops.
//!
//! The deliveries' spans follow OpenTelemetry's semantic conventions (HTTP server, RPC,
//! messaging, database); the core's trace context asks this plugin, through its
//! [`SpanBridge`](crate::telemetry::SpanBridge) seam, for the ids of each unit's span, so the
//! `trace_id` and `span_id` in the logs and the `traceparent` sent on are the exported span's.
//! The metrics are those `GET /metrics` shows (see [`crate::metrics`]).
//!
//! One export per process, as the tracing subscriber and the metrics recorder are: the first
//! app to start it keeps it, on a runtime of its own (a thread named `otel-export`), so apps
//! started later in the process (tests) export through it after the first one's runtime ended.

mod config;
mod export;
mod metrics;
mod sql;
mod traces;

use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::{EnvFilter, FilterExt, LevelFilter, Targets};

pub use config::{OtelConfig, Protocol};

use crate::config::{ConfigError, ConfigSection, CoreConfig, Settings};
use crate::di::{BuildError, Location};
use crate::plugin::{Plugin, PluginRecord, Stage};
use crate::telemetry::TracingLayer;

inventory::submit! {
    PluginRecord {
        name: "otel",
        // Beside metrics and Sentry: before anything is served.
        order: 15,
        create: OtelPlugin::create,
        location: Location { file: file!(), line: line!() },
    }
}

/// How long the app's stop waits for the spans and metrics still queued to be sent.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// The process's tracer provider, once an app started the span export.
static TRACER_PROVIDER: OnceLock<SdkTracerProvider> = OnceLock::new();

/// The process's meter provider, once an app started the metric export.
static METER_PROVIDER: OnceLock<SdkMeterProvider> = OnceLock::new();

/// Libraries whose spans and events are not the service's (the exporter's own HTTP/2
/// connection among them: exporting those would feed the export with itself).
const LIBRARY_TARGETS: &[&str] = &[
    "h2",
    "hyper",
    "hyper_util",
    "tonic",
    "tower",
    "tower_http",
    "reqwest",
    "rustls",
    "opentelemetry",
    "opentelemetry_sdk",
    "opentelemetry_otlp",
    "opentelemetry_http",
    "rdkafka",
    "fred",
];

struct OtelPlugin {
    plan: Option<config::Plan>,
    /// `LOG_LEVEL`, which `CoreConfig::load` checked.
    log_level: EnvFilter,
    /// `db.system.name` of the database `DATABASE_URL` names, for the SQL spans; `None`
    /// without one.
    database: Option<&'static str>,
    /// What this app started, for its stop to flush, and what failed, for its start to
    /// report.
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    traces: bool,
    metrics: bool,
    /// An exporter that could not be built (before the app's start could say so).
    failed: Option<String>,
}

impl OtelPlugin {
    fn create(settings: &Settings) -> Result<Box<dyn Plugin>, ConfigError> {
        let core = CoreConfig::load(settings)?;
        let config = OtelConfig::load(settings)?;
        // The key is the database plugin's; its scheme is all this one needs of it.
        let url = settings.get("DATABASE_URL").unwrap_or_default().trim();
        let database = match url.split(':').next().unwrap_or_default() {
            "" => None,
            "postgres" | "postgresql" => Some("postgresql"),
            "sqlite" => Some("sqlite"),
            _ => Some("other_sql"),
        };
        Ok(Box::new(OtelPlugin {
            log_level: EnvFilter::new(&core.log_level),
            plan: config.plan(&core, settings)?,
            database,
            state: Mutex::default(),
        }))
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The process's provider in `cell`, built by `build` on the export runtime if no app
    /// built it yet; `None` (the failure kept for the start to report) if it cannot be.
    fn provider<P, E: std::fmt::Display>(
        &self,
        cell: &'static OnceLock<P>,
        what: &str,
        build: impl FnOnce() -> Result<P, E>,
    ) -> Option<&'static P> {
        if let Some(provider) = cell.get() {
            return Some(provider);
        }
        let built = export::runtime()
            .map_err(str::to_owned)
            .and_then(|runtime| {
                // tonic's channel spawns its connection onto the runtime it is made in.
                let _entered = runtime.enter();
                build().map_err(|error| error.to_string())
            });
        match built {
            Ok(provider) => Some(cell.get_or_init(|| provider)),
            Err(error) => {
                self.state().failed = Some(format!("the OTLP {what} exporter: {error}"));
                None
            }
        }
    }
}

#[crate::async_trait]
impl Plugin for OtelPlugin {
    fn tracing_layers(&self) -> Vec<TracingLayer> {
        let Some(plan) = self.plan.as_ref().filter(|plan| plan.traces) else {
            return Vec::new();
        };
        let Some(provider) = self.provider(&TRACER_PROVIDER, "span", || traces::provider(plan))
        else {
            return Vec::new();
        };
        crate::telemetry::bridge_spans(traces::Bridge);
        self.state().traces = true;
        // A trace backend shows the service's INFO spans whatever the logs keep (tests and
        // quiet services log at WARN), and what `LOG_LEVEL` lets through beside; never the
        // libraries' own.
        let libraries = LIBRARY_TARGETS
            .iter()
            .fold(Targets::new().with_default(LevelFilter::TRACE), |t, l| {
                t.with_target(*l, LevelFilter::OFF)
            });
        let spans = LevelFilter::INFO.or(self.log_level.clone()).and(libraries);
        let exported = traces::layer(provider).with_filter(spans);
        let mut layers = vec![TracingLayer::with_own_filter(exported)];
        if let Some(system) = self.database {
            let tracer = provider.tracer(traces::SCOPE);
            layers.push(TracingLayer::with_own_filter(sql::layer(tracer, system)));
        }
        layers
    }

    fn metrics_recorder(&self) -> Option<crate::metrics::Recorder> {
        let plan = self.plan.as_ref()?;
        let interval = plan.metrics?;
        let provider = self.provider(&METER_PROVIDER, "metric", || {
            metrics::provider(plan, interval)
        })?;
        self.state().metrics = true;
        Some(metrics::recorder(provider))
    }

    fn headline(&self) -> Option<String> {
        let plan = self.plan.as_ref()?;
        let protocol = match plan.protocol {
            Protocol::Grpc => "grpc",
            Protocol::HttpProtobuf => "http/protobuf",
        };
        Some(format!("otlp {} ({protocol})", plan.endpoint))
    }

    async fn prepare(&mut self, _: &mut Stage<'_>) -> Result<(), BuildError> {
        match self.state().failed.take() {
            Some(error) => Err(error.into()),
            None => Ok(()),
        }
    }

    async fn stop(&mut self) {
        let (traces, metrics) = {
            let state = self.state();
            (state.traces, state.metrics)
        };
        let tracer = TRACER_PROVIDER.get().filter(|_| traces).cloned();
        let meter = METER_PROVIDER.get().filter(|_| metrics).cloned();
        if tracer.is_none() && meter.is_none() {
            return;
        }
        // `force_flush` blocks until the exporter answered; the providers stay, for the
        // other apps of the process (tests).
        let flush = tokio::task::spawn_blocking(move || {
            let spans = tracer.map(|t| t.force_flush()).transpose();
            let metrics = meter.map(|m| m.force_flush()).transpose();
            spans.and(metrics)
        });
        let unsent = "spans or metrics still queued at shutdown were not exported";
        match tokio::time::timeout(FLUSH_TIMEOUT, flush).await {
            Ok(Ok(Ok(_))) => {}
            Ok(Ok(Err(error))) => tracing::warn!(%error, "{unsent}"),
            Ok(Err(error)) => tracing::warn!(%error, "{unsent}"),
            Err(_) => tracing::warn!(timeout = ?FLUSH_TIMEOUT, "{unsent} in time"),
        }
    }
}
