//! Spans exported over OTLP: the tracer provider (batching, the sampler, the resource), the
//! `tracing` layer that turns the process's spans into OpenTelemetry spans
//! (tracing-opentelemetry's), and the core's [`SpanBridge`], so that the ids a unit logs and
//! sends on are those of its exported span.

use opentelemetry::trace::{SpanContext, TraceContextExt, TracerProvider as _};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::config::{Plan, Protocol, Signal};
use super::export;
use crate::telemetry::SpanBridge;

/// The instrumentation scope of the framework's spans.
pub(super) const SCOPE: &str = "framework";

/// Builds the tracer provider `plan` asks for: a batch of spans is sent every 5 s or at 512
/// spans (the SDK's defaults, `OTEL_BSP_*`), on a thread of the SDK's.
pub(super) fn provider(
    plan: &Plan,
) -> Result<SdkTracerProvider, opentelemetry_otlp::ExporterBuildError> {
    let builder = opentelemetry_otlp::SpanExporter::builder();
    let exporter = match plan.protocol {
        Protocol::Grpc => export::grpc(builder.with_tonic(), plan, Signal::Traces).build()?,
        Protocol::HttpProtobuf => {
            export::http(builder.with_http(), plan, Signal::Traces).build()?
        }
    };
    Ok(SdkTracerProvider::builder()
        .with_resource(resource(plan))
        .with_sampler(plan.sampler.clone())
        .with_batch_exporter(exporter)
        .build())
}

/// `plan`'s resource: the service's name, version, environment and the attributes given.
pub(super) fn resource(plan: &Plan) -> Resource {
    Resource::builder_empty()
        .with_attributes(plan.resource.clone())
        .build()
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
