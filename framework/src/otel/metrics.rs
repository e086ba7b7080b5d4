//! Metrics exported over OTLP: an OpenTelemetry meter provider whose periodic reader sends
//! every `OTEL_METRIC_EXPORT_INTERVAL`, and the `metrics` recorder on it
//! (metrics-opentelemetry's), which the core fans out beside the Prometheus plugin's: the
//! same counters, gauges and histograms, under the same names and labels (attributes), reach
//! `GET /metrics` and the OTLP receiver. Counters are cumulative sums (OTLP's default
//! temporality); `*_seconds` histograms have the unit `s` and the buckets of
//! [`DURATION_BUCKETS`].

use opentelemetry::metrics::MeterProvider as _;
use opentelemetry_sdk::metrics::{
    Aggregation, Instrument, InstrumentKind, PeriodicReader, SdkMeterProvider, Stream,
};

use super::config::{Plan, Protocol, Signal};
use super::{export, traces};
use crate::metrics::{DURATION_BUCKETS, Recorder};

/// Builds the meter provider `plan` asks for, exporting every `interval` on a thread of the
/// SDK's.
pub(super) fn provider(
    plan: &Plan,
    interval: std::time::Duration,
) -> Result<SdkMeterProvider, opentelemetry_otlp::ExporterBuildError> {
    let builder = opentelemetry_otlp::MetricExporter::builder();
    let exporter = match plan.protocol {
        Protocol::Grpc => export::grpc(builder.with_tonic(), plan, Signal::Metrics).build()?,
        Protocol::HttpProtobuf => {
            export::http(builder.with_http(), plan, Signal::Metrics).build()?
        }
    };
    let reader = PeriodicReader::builder(exporter)
        .with_interval(interval)
        .build();
    Ok(SdkMeterProvider::builder()
        .with_resource(traces::resource(plan))
        .with_reader(reader)
        .with_view(durations)
        .build())
}

/// The recorder on `provider`'s meter.
pub(super) fn recorder(provider: &SdkMeterProvider) -> Recorder {
    let meter = provider.meter(traces::SCOPE);
    let metrics = metrics_opentelemetry::OpenTelemetryMetrics::new(meter);
    Box::new(metrics_opentelemetry::OpenTelemetryRecorder::new(metrics))
}

/// The view of `*_seconds` histograms: seconds, in the buckets `GET /metrics` has (the SDK's
/// default buckets are for milliseconds).
fn durations(instrument: &Instrument) -> Option<Stream> {
    let histogram = instrument.kind() == InstrumentKind::Histogram;
    if !histogram || !instrument.name().ends_with("_seconds") {
        return None;
    }
    Stream::builder()
        .with_unit("s")
        .with_aggregation(Aggregation::ExplicitBucketHistogram {
            boundaries: DURATION_BUCKETS.to_vec(),
            record_min_max: true,
        })
        .build()
        .ok()
}
