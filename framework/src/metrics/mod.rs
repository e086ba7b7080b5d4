//! Metrics: the framework records HTTP requests per route, gRPC calls per method, consumed
//! Kafka messages per topic and group, job runs per job and the database pool; services add
//! their own with the [`metrics`] macros (`framework::metrics::counter!` ...). With the
//! `metrics` feature they are served as Prometheus text at `GET /metrics`.

#[cfg(feature = "metrics")]
mod prometheus;

pub use ::metrics::{counter, gauge, histogram};
#[cfg(feature = "metrics")]
pub use prometheus::handle;
#[cfg(feature = "metrics")]
pub(crate) use prometheus::router;
