//! Spans exported over OTLP: the tracer provider (batching, the sampler, the resource), the
//! `tracing` layer that turns the process's spans into OpenTelemetry spans
//! (tracing-opentelemetry's), and the core's [`SpanBridge`], so that the ids a unit logs and
//! sends on are those of its exported span.

use std::collections::HashMap;

use opentelemetry::trace::{SpanContext, TraceContextExt, TracerProvider as _};
use opentelemetry::{Context, KeyValue};
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig, WithTonicConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::config::{Plan, Protocol};
use crate::telemetry::SpanBridge;

/// The instrumentation scope of the framework's spans.
pub(super) const SCOPE: &str = "framework";

/// Builds the tracer provider `plan` asks for: a batch of spans is sent every 5 s or at 512
/// spans (the SDK's defaults, `OTEL_BSP_*`), on a thread of the SDK's. Must run inside the
/// Tokio runtime (tonic's channel lives on it).
pub(super) fn provider(
    plan: &Plan,
) -> Result<SdkTracerProvider, opentelemetry_otlp::ExporterBuildError> {
    let exporter = match plan.protocol {
        Protocol::Grpc => {
            let mut builder = opentelemetry_otlp::SpanExporter::builder()
                .with_tonic()
                .with_endpoint(plan.endpoint.clone())
                .with_timeout(plan.timeout)
                .with_metadata(metadata(&plan.headers));
            if plan.endpoint.starts_with("https://") {
                let tls = tonic::transport::ClientTlsConfig::new().with_enabled_roots();
                builder = builder.with_tls_config(tls);
            }
            builder.build()?
        }
        Protocol::HttpProtobuf => {
            // reqwest's rustls needs a process-wide crypto provider; if the program installed
            // one already, that one stays.
            let _ = rustls::crypto::ring::default_provider().install_default();
            opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .with_endpoint(format!("{}/v1/traces", plan.endpoint))
                .with_timeout(plan.timeout)
                .with_headers(plan.headers.iter().cloned().collect::<HashMap<_, _>>())
                .build()?
        }
    };
    let resource = Resource::builder_empty()
        .with_attributes(plan.resource.clone())
        .build();
    Ok(SdkTracerProvider::builder()
        .with_resource(resource)
        .with_sampler(plan.sampler.clone())
        .with_batch_exporter(exporter)
        .build())
}

/// `OTEL_EXPORTER_OTLP_HEADERS` as gRPC metadata (`OtelConfig::headers` checked them).
pub(super) fn metadata(headers: &[(String, String)]) -> tonic::metadata::MetadataMap {
    let mut metadata = tonic::metadata::MetadataMap::new();
    for (name, value) in headers {
        let name = tonic::metadata::MetadataKey::from_bytes(name.to_ascii_lowercase().as_bytes());
        if let (Ok(name), Ok(value)) = (name, value.parse()) {
            metadata.insert(name, value);
        }
    }
    metadata
}

/// The layer exporting the process's spans through `provider`.
pub(super) fn layer(
    provider: &SdkTracerProvider,
) -> impl tracing_subscriber::Layer<crate::telemetry::Subscriber> + Send + Sync {
    tracing_opentelemetry::layer()
        .with_tracer(provider.tracer(SCOPE))
        // The `code.*` and thread attributes would repeat on every span; the module is in
        // the framework's own fields.
        .with_location(false)
        .with_threads(false)
}

/// The core's bridge to tracing-opentelemetry: the OpenTelemetry span of a `tracing` span.
pub(super) struct Bridge;

impl SpanBridge for Bridge {
    fn start(&self, span: &tracing::Span, parent: &Context) -> Option<Context> {
        span.set_parent(parent.clone()).ok()?;
        self.context(span)
    }

    fn context(&self, span: &tracing::Span) -> Option<Context> {
        let cx = span.context();
        cx.span().span_context().is_valid().then_some(cx)
    }

    fn link(&self, span: &tracing::Span, to: SpanContext, attributes: Vec<KeyValue>) {
        span.add_link_with_attributes(to, attributes);
    }
}
