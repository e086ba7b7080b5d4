//! A declarative service framework: annotate plain Rust items, and the runtime wires
//! dependency injection, HTTP and gRPC delivery, Kafka consumers, scheduled jobs, error
//! mapping and health at startup. Nothing is listed by hand, and every wiring mistake that
//! only the whole program can see is reported before any port is bound.
//!
//! # The macros
//!
//! Each has a page of its own, with examples that compile as doctests (the same pages are
//! the markdown files of `framework/docs/`):
//!
//! - [`#[module]`](macro@module): singletons injected by type; ports and adapters chosen by
//!   the configuration.
//! - [`#[http_route(METHOD, "/path")]`](macro@http_route): ordinary axum handlers, behind the
//!   standard middleware stack; [`shield`] for work that must not stop half-way.
//! - [`#[derive(DomainError)]`](derive@DomainError): one kind and one stable code per variant,
//!   mapped to an HTTP status, a gRPC code, and a consumer's retry or dead-letter.
//! - [`#[grpc_service]`](macro@grpc_service): tonic services built by dependency injection,
//!   streaming included.
//! - [`#[kafka_consumer]`](macro@kafka_consumer): at-least-once handlers with retries and
//!   dead letters, and the `Producer`.
//! - [`Cache`](mod@cache): typed, with a TTL, one load per key, never the source of truth.
//! - [`#[cron_job(schedule = "..")]`](macro@cron_job): scheduled jobs, once per tick across
//!   replicas.
//! - [`migrations!`](macro@migrations): the SQL migrations of both backends, embedded.
//!
//! A plugin's macro is always exported, but it needs its cargo feature (`http`, `grpc`,
//! `kafka`, `cron`, `postgres` or `sqlite`): with the feature off, using it is one compile
//! error that names the feature, and its page is left out of these docs. Misuse of any macro
//! is a compile error at your token that says what to write instead (see
//! `framework-macros/tests/ui/*/fail/*.stderr`).
//!
//! # `main`
//!
//! ```no_run
//! #[tokio::main]
//! async fn main() -> framework::Result<()> {
//!     framework::App::from_env()?.run().await
//! }
//! ```
//!
//! [`App::run`] reads the command line: `serve` (the default), `check` (config and wiring
//! validation, no I/O), `wiring` (every registration with its file:line) and `migrate`.
#![warn(missing_docs)]

pub mod app;
#[cfg(feature = "auth")]
pub mod auth;
pub mod breaker;
pub mod cache;
pub mod config;
#[cfg(feature = "cron")]
pub mod cron;
#[cfg(any(feature = "postgres", feature = "sqlite"))]
pub mod db;
pub mod di;
pub mod error;
#[cfg(feature = "grpc")]
pub mod grpc;
pub mod health;
#[cfg(feature = "http")]
pub mod http;
pub mod identity;
#[cfg(feature = "kafka")]
pub mod kafka;
pub mod lease;
pub mod metrics;
#[cfg(feature = "otel")]
pub mod otel;
pub mod plugin;
#[cfg(feature = "metrics")]
mod prometheus;
pub mod rate_limit;
pub mod registry;
#[cfg(feature = "sentry")]
pub mod reporting;
#[cfg(feature = "http")]
pub mod serving;
pub mod telemetry;
pub mod testing;
pub mod transaction;
mod unbuilt;
pub mod validation;
pub mod work;

pub use app::{App, Checked, Error, Result, RunningApp, shield};
pub use config::{Config, ConfigSection};
pub use di::Inject;
pub use error::{DomainError, ErrorKind};
#[doc = include_str!("../docs/domain_error.md")]
pub use framework_macros::DomainError;
#[cfg_attr(feature = "cron", doc = include_str!("../docs/cron_job.md"))]
#[cfg_attr(
    not(feature = "cron"),
    doc = "Needs the `cron` feature, which is off in this build; its reference is `framework/docs/cron_job.md`."
)]
pub use framework_macros::cron_job;
#[cfg_attr(feature = "grpc", doc = include_str!("../docs/grpc_service.md"))]
#[cfg_attr(
    not(feature = "grpc"),
    doc = "Needs the `grpc` feature, which is off in this build; its reference is `framework/docs/grpc_service.md`."
)]
pub use framework_macros::grpc_service;
#[cfg_attr(feature = "http", doc = include_str!("../docs/http_route.md"))]
#[cfg_attr(
    not(feature = "http"),
    doc = "Needs the `http` feature, which is off in this build; its reference is `framework/docs/http_route.md`."
)]
pub use framework_macros::http_route;
#[cfg_attr(feature = "kafka", doc = include_str!("../docs/kafka_consumer.md"))]
#[cfg_attr(
    not(feature = "kafka"),
    doc = "Needs the `kafka` feature, which is off in this build; its reference is `framework/docs/kafka_consumer.md`."
)]
pub use framework_macros::kafka_consumer;
#[cfg_attr(
    any(feature = "postgres", feature = "sqlite"),
    doc = include_str!("../docs/migrations.md")
)]
#[cfg_attr(
    not(any(feature = "postgres", feature = "sqlite")),
    doc = "Needs the `postgres` or `sqlite` feature, both off in this build; its reference is `framework/docs/migrations.md`."
)]
pub use framework_macros::migrations;
#[doc = include_str!("../docs/module.md")]
pub use framework_macros::module;
#[cfg(feature = "openapi")]
pub use http::openapi;
#[cfg(feature = "http")]
pub use http::{Problem, Valid};
pub use identity::{Claims, Principal};
pub use transaction::{Transactions, Tx};

/// `#[async_trait]`, for ports (`Arc<dyn Trait>`) with async methods.
pub use async_trait::async_trait;
/// The HTTP framework handlers are written with.
#[cfg(feature = "http")]
pub use axum;
/// The SQL toolkit behind the database pools.
#[cfg(any(feature = "postgres", feature = "sqlite"))]
pub use sqlx;
/// The gRPC framework behind `#[grpc_service]`.
#[cfg(feature = "grpc")]
pub use tonic;
/// OpenAPI schemas: derive `utoipa::ToSchema` (and `IntoParams` for queries) on request and
/// response types to describe them in `GET /openapi.json`.
#[cfg(feature = "openapi")]
pub use utoipa;

#[doc(hidden)]
/// Not public API: what the macros' generated code names.
pub mod __private {
    pub use ::async_trait::async_trait;
    #[cfg(feature = "http")]
    pub use ::axum;
    pub use ::inventory;
    #[cfg(feature = "grpc")]
    pub use ::tonic;

    #[cfg(feature = "cron")]
    pub use crate::cron::record::{FromJob, JobRecord};
    #[cfg(feature = "cron")]
    pub use crate::cron::{JobContext, Overlap};
    #[cfg(any(feature = "postgres", feature = "sqlite"))]
    pub use crate::db::migrate::{EmbeddedMigration, MigrationsRecord};
    pub use crate::di::container::{Container, Injectable, Instance, ResolveError};
    pub use crate::di::{Dependency, Key};
    pub use crate::error::Failure;
    pub use crate::error::transient::classified;
    pub use crate::error::{DomainError, ErrorKind};
    #[cfg(feature = "grpc")]
    pub use crate::grpc::record::{
        FileDescriptorSetRecord, GrpcMethod, GrpcServiceRecord, MountOptions,
    };
    #[cfg(feature = "grpc")]
    pub use crate::grpc::status_from_domain_error;
    #[cfg(feature = "http")]
    pub use crate::http::Problem;
    pub use crate::identity::Requirement;
    #[cfg(feature = "kafka")]
    pub use crate::kafka::consumer::ConsumerRecord;
    #[cfg(feature = "kafka")]
    pub use crate::kafka::extract::FromMessage;
    #[cfg(feature = "kafka")]
    pub use crate::kafka::{BoxFuture, Message, Outcome};
    pub use crate::rate_limit::RateLimit;
    pub use crate::transaction::{OtherParam, Param, TxParam};

    /// What `#[cron_job]` functions return: a failed run is reported.
    #[cfg(feature = "cron")]
    #[diagnostic::on_unimplemented(
        message = "a `#[cron_job]` must return `Result<(), E>` with `E: DomainError`, not `{Self}`",
        label = "a failed run is reported with the error's code"
    )]
    pub trait JobResult {
        /// The run's result for the scheduler.
        fn into_result(self) -> Result<(), Failure>;
    }

    #[cfg(feature = "cron")]
    impl<E: DomainError> JobResult for Result<(), E> {
        fn into_result(self) -> Result<(), Failure> {
            self.map_err(|error| Failure::of(&error))
        }
    }

    /// What `#[kafka_consumer]` handlers return: the error's kind decides retry or
    /// dead-letter.
    #[cfg(feature = "kafka")]
    #[diagnostic::on_unimplemented(
        message = "a `#[kafka_consumer]` handler must return `Result<(), E>` with `E: DomainError`, not `{Self}`",
        label = "the error's kind decides retry or dead-letter"
    )]
    pub trait ConsumerResult {
        /// The outcome for the runtime.
        fn into_outcome(self) -> Outcome;
    }

    #[cfg(feature = "kafka")]
    impl<E: DomainError> ConsumerResult for Result<(), E> {
        fn into_outcome(self) -> Outcome {
            match self {
                Ok(()) => Outcome::Done,
                Err(error) => Outcome::Failed(crate::kafka::Failure::of(&error)),
            }
        }
    }

    pub use crate::di::Location;
    pub use crate::di::records::{
        BuildContext, BuildFuture, Condition, Field, ProviderKind, ProviderRecord,
    };
    pub use crate::error::record::ErrorCodeRecord;
    #[cfg(feature = "http")]
    pub use crate::http::AppState;
    #[cfg(feature = "openapi")]
    pub use crate::http::openapi;
    #[cfg(feature = "http")]
    pub use crate::http::record::RouteRecord;

    pub use crate::di::BuildError;

    /// A module's factory is synchronous: wrap its result as the build future.
    pub fn ready(result: Result<Vec<Instance>, BuildError>) -> BuildFuture<'static> {
        Box::pin(::core::future::ready(result))
    }

    /// The response of a domain error.
    #[cfg(feature = "http")]
    pub fn domain_error_response<E: DomainError>(error: &E) -> axum::response::Response {
        axum::response::IntoResponse::into_response(Problem::from_domain_error(error))
    }

    /// Compile-time check: a handler argument before the last one.
    #[cfg(feature = "http")]
    pub fn check_parts_extractor<T: axum::extract::FromRequestParts<AppState>>() {}

    /// Compile-time check: a handler's last argument.
    #[cfg(feature = "http")]
    pub fn check_body_extractor<M, T: axum::extract::FromRequest<AppState, M>>() {}

    /// Compile-time check: a handler's return type.
    #[cfg(feature = "http")]
    pub fn check_response<T: axum::response::IntoResponse>() {}

    /// Checks at compile time that an `Inject<T>` target is a valid component type.
    pub fn dependency_of_inject<T: ?Sized + Send + Sync + 'static>() -> Dependency {
        Dependency::Component(Key::of::<T>())
    }
}
