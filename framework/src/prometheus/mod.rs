//! The Prometheus exporter as a plugin (the `metrics` feature): its recorder is part of the
//! process's (see [`crate::metrics`]), and it registers the [`Exposition`] the HTTP plugin
//! serves at `GET /metrics` (text format 0.0.4).

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::config::{ConfigError, Settings};
use crate::di::{BuildError, Location};
use crate::metrics::{DURATION_BUCKETS, Exposition, Recorder};
use crate::plugin::{Plugin, PluginRecord, Stage};

inventory::submit! {
    PluginRecord {
        name: "metrics",
        order: 10,
        create: |_: &Settings| -> Result<Box<dyn Plugin>, ConfigError> { Ok(Box::new(Prometheus)) },
        location: Location { file: file!(), line: line!() },
    }
}

struct Prometheus;

#[crate::async_trait]
impl Plugin for Prometheus {
    fn metrics_recorder(&self) -> Option<Recorder> {
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), DURATION_BUCKETS)
            .expect("the buckets are not empty");
        let recorder = builder.build_recorder();
        HANDLE.set(recorder.handle()).ok()?;
        // Histogram samples pile up until upkeep folds them into buckets.
        let upkeep = recorder.handle();
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
        Some(Box::new(recorder))
    }

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

/// How often histogram samples are folded into their buckets.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The handle of the process's Prometheus recorder, once the first app started; `None`
/// before, or when the app has no `metrics` plugin.
pub fn handle() -> Option<&'static PrometheusHandle> {
    HANDLE.get()
}
