//! The OpenTelemetry plugin (the `otel` feature), on when `OTEL_EXPORTER_OTLP_ENDPOINT` is set
//! (and `OTEL_SDK_DISABLED` is not `true`): the process's spans are exported over OTLP (gRPC
//! or HTTP/protobuf, `OTEL_EXPORTER_OTLP_PROTOCOL`) to a collector, Jaeger or Tempo, sampled
//! by `OTEL_TRACES_SAMPLER`, under the resource of `OTEL_SERVICE_NAME` and
//! `OTEL_RESOURCE_ATTRIBUTES` (see [`OtelConfig`]), and flushed when the app stops.
//!
//! The deliveries' spans follow OpenTelemetry's semantic conventions (HTTP server, RPC,
//! messaging); the core's trace context asks this plugin, through its
//! [`SpanBridge`](crate::telemetry::SpanBridge) seam, for the ids of each unit's span, so the
//! `trace_id` and `span_id` in the logs and the `traceparent` sent on are the exported span's.
//!
//! One export per process, as the tracing subscriber is: the first app to start it keeps it
//! (tests that start several apps share it).

mod config;
mod sql;
mod traces;

use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::{EnvFilter, FilterExt, LevelFilter};

pub use config::{OtelConfig, Protocol};

use crate::config::{ConfigError, ConfigSection, CoreConfig, Settings};
use crate::di::Location;
use crate::plugin::{Plugin, PluginRecord};
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

/// How long the app's stop waits for the spans still queued to be sent.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// The process's tracer provider, once an app started the export.
static PROVIDER: OnceLock<SdkTracerProvider> = OnceLock::new();

struct OtelPlugin {
    plan: Option<config::Plan>,
    /// `LOG_LEVEL`, which `CoreConfig::load` checked.
    log_level: EnvFilter,
    /// `db.system.name` of the database `DATABASE_URL` names, for the SQL spans; `None`
    /// without one.
    database: Option<&'static str>,
    /// Whether this app's layer exports (then its stop flushes).
    started: Mutex<bool>,
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
            started: Mutex::new(false),
        }))
    }
}

#[crate::async_trait]
impl Plugin for OtelPlugin {
    fn tracing_layers(&self) -> Vec<TracingLayer> {
        let Some(plan) = self.plan.as_ref() else {
            return Vec::new();
        };
        let provider = match PROVIDER.get() {
            Some(provider) => provider,
            None => match traces::provider(plan) {
                Ok(provider) => PROVIDER.get_or_init(|| provider),
                Err(error) => {
                    // Before the subscriber exists: stderr is the only place to say it.
                    eprintln!("OpenTelemetry export is off: {error}");
                    return Vec::new();
                }
            },
        };
        crate::telemetry::bridge_spans(traces::Bridge);
        *self.started.lock().unwrap_or_else(|e| e.into_inner()) = true;
        // A trace backend shows the framework's INFO spans whatever the logs keep (tests and
        // quiet services log at WARN), and what `LOG_LEVEL` lets through beside.
        let spans = LevelFilter::INFO.or(self.log_level.clone());
        let exported = traces::layer(provider).with_filter(spans);
        let mut layers = vec![TracingLayer::with_own_filter(exported)];
        if let Some(system) = self.database {
            let tracer = provider.tracer(traces::SCOPE);
            layers.push(TracingLayer::with_own_filter(sql::layer(tracer, system)));
        }
        layers
    }

    fn headline(&self) -> Option<String> {
        let plan = self.plan.as_ref()?;
        let protocol = match plan.protocol {
            Protocol::Grpc => "grpc",
            Protocol::HttpProtobuf => "http/protobuf",
        };
        Some(format!("otlp {} ({protocol})", plan.endpoint))
    }

    async fn stop(&mut self) {
        let started = *self.started.lock().unwrap_or_else(|e| e.into_inner());
        let Some(provider) = PROVIDER.get().filter(|_| started).cloned() else {
            return;
        };
        // `force_flush` blocks until the exporter answered; the provider stays, for the
        // other apps of the process (tests).
        let flush = tokio::task::spawn_blocking(move || provider.force_flush());
        match tokio::time::timeout(FLUSH_TIMEOUT, flush).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(error))) => {
                tracing::warn!(%error, "spans still queued at shutdown were not exported")
            }
            Ok(Err(error)) => {
                tracing::warn!(%error, "spans still queued at shutdown were not exported")
            }
            Err(_) => {
                tracing::warn!(timeout = ?FLUSH_TIMEOUT, "spans still queued at shutdown were not exported in time")
            }
        }
    }
}
