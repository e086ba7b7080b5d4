//! Metrics: the framework records HTTP requests per route, gRPC calls per method, consumed
//! Kafka messages per topic and group, job runs per job and the database pool; services add
//! their own with the [`metrics`] macros (`framework::metrics::counter!` ...). What records
//! them is the process's recorder: with the `metrics` feature, the Prometheus plugin installs
//! one and registers its [`Exposition`], which the HTTP plugin serves at `GET /metrics`.

mod meter;

use std::sync::OnceLock;

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
