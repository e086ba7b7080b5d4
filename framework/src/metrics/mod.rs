//! Metrics: the framework records HTTP requests per route, gRPC calls per method, consumed
//! Kafka messages per topic and group, job runs per job and the database pool; services add
//! their own with the [`metrics`] macros (`framework::metrics::counter!` ...). What records
//! them is the process's recorder, which the core installs when the first app starts, fanned
//! out to every plugin's ([`Plugin::metrics_recorder`](crate::plugin::Plugin::metrics_recorder)):
//! with the `metrics` feature the Prometheus plugin's, whose [`Exposition`] the HTTP plugin
//! serves at `GET /metrics`; with `otel` and an OTLP endpoint, the OpenTelemetry plugin's,
//! which exports the same metrics over OTLP.

mod meter;

use std::sync::OnceLock;

use metrics_util::layers::FanoutBuilder;

pub use ::metrics::{counter, gauge, histogram};
pub use meter::{Meter, Series};

/// The metrics as an exporter writes them, for an endpoint to serve (the Prometheus plugin's
/// text format at `GET /metrics`).
pub trait Exposition: Send + Sync + 'static {
    /// The media type of [`Exposition::render`]'s text, such as
    /// `text/plain; version=0.0.4; charset=utf-8`.
    fn content_type(&self) -> &'static str;

    /// The current metrics.
    fn render(&self) -> String;
}

/// A recorder a plugin adds to the process's.
pub type Recorder = Box<dyn ::metrics::Recorder + Send + Sync>;

/// The bucket bounds, in seconds, of every `*_seconds` histogram, whichever recorder keeps it
/// (a request of 1 ms to 10 s).
pub const DURATION_BUCKETS: &[f64] = &[
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Installs the process's recorder once, from the recorders `plugins` gives (called by the
/// first app that starts, before anything is counted; later calls do nothing, since the
/// `metrics` facade has one recorder per process). One recorder is installed as it is,
/// several behind metrics-util's fan-out. If the program installed a recorder of its own
/// first, that one stays and the plugins' record nothing (a warning says so).
pub(crate) fn install(plugins: impl FnOnce() -> Vec<Recorder>) {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let mut recorders = plugins();
        let installed = match recorders.len() {
            0 => return,
            1 => ::metrics::set_global_recorder(recorders.remove(0)).map_err(|e| e.to_string()),
            _ => ::metrics::set_global_recorder(
                recorders
                    .into_iter()
                    .fold(FanoutBuilder::default(), FanoutBuilder::add_recorder)
                    .build(),
            )
            .map_err(|e| e.to_string()),
        };
        if let Err(error) = installed {
            tracing::warn!(%error, "another metrics recorder is installed: the framework's exporters get nothing");
        }
    });
}

static EXPOSITION: OnceLock<Box<dyn Exposition>> = OnceLock::new();

/// Registers the process's exposition; the first registration stays (the recorder it renders
/// is process-wide too).
pub fn set_exposition(exposition: impl Exposition) {
    let _ = EXPOSITION.set(Box::new(exposition));
}

/// The registered exposition, if an exporter registered one.
pub fn exposition() -> Option<&'static dyn Exposition> {
    EXPOSITION.get().map(|e| &**e)
}
