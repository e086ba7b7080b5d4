//! The Prometheus exporter as a plugin (the `metrics` feature): before anything is counted it
//! installs the process's recorder, and registers the [`Exposition`] the HTTP plugin serves
//! at `GET /metrics` (text format 0.0.4).

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::config::{ConfigError, Settings};
use crate::di::{BuildError, Location};
use crate::metrics::Exposition;
use crate::plugin::{Plugin, PluginRecord, Stage};

inventory::submit! {
    PluginRecord {
        name: "metrics",
        // First: what is recorded before the recorder is installed is lost.
        order: 10,
        create: |_: &Settings| -> Result<Box<dyn Plugin>, ConfigError> { Ok(Box::new(Prometheus)) },
        location: Location { file: file!(), line: line!() },
    }
}

struct Prometheus;

#[crate::async_trait]
impl Plugin for Prometheus {
    async fn prepare(&mut self, _: &mut Stage<'_>) -> Result<(), BuildError> {
        if let Some(handle) = handle() {
            crate::metrics::set_exposition(Text(handle));
        }
        Ok(())
    }
}

/// The Prometheus text format.
struct Text(&'static PrometheusHandle);

impl Exposition for Text {
    fn content_type(&self) -> &'static str {
        "text/plain; version=0.0.4; charset=utf-8"
    }

    fn render(&self) -> String {
        // Histograms are drained into their buckets here rather than by a background task.
        self.0.run_upkeep();
        self.0.render()
    }
}

/// Buckets of every `*_seconds` histogram.
const DURATION_BUCKETS: &[f64] = &[
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// How often histogram samples are folded into their buckets.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// The process's recorder, installed at first use (an app installs it when it starts);
/// `None` when the program installed another recorder first.
pub fn handle() -> Option<&'static PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), DURATION_BUCKETS)
                .expect("the buckets are not empty");
            match builder.install_recorder() {
                Ok(handle) => {
                    // Histogram samples pile up until upkeep folds them into buckets.
                    let upkeep = handle.clone();
                    std::thread::Builder::new()
                        .name("metrics-upkeep".into())
                        .spawn(move || {
                            loop {
                                std::thread::sleep(UPKEEP_EVERY);
                                upkeep.run_upkeep();
                            }
                        })
                        .map_err(|error| tracing::warn!(%error, "cannot start the metrics upkeep thread"))
                        .ok();
                    Some(handle)
                }
                Err(error) => {
                    tracing::warn!(%error, "another metrics recorder is installed; GET /metrics serves nothing");
                    None
                }
            }
        })
        .as_ref()
}
