//! Sentry, when `SENTRY_DSN` is set: 5xx errors, panics, failed job runs and dead-lettered
//! messages become events with the error chain and tags (service, environment, module,
//! route/method/topic/job, error code, request id, trace id); 4xx never do.
//!
//! One client per process, on Sentry's main hub, as every Sentry SDK has it. Each request,
//! consumed record and job run works on a hub of its own made from the main one, so its tags
//! stay its own, and the panic integration reports a panic with the tags of the work it hit.

// What deliveries call: a build with none of them calls little.
#![cfg_attr(
    not(any(feature = "http", feature = "kafka", feature = "cron")),
    allow(dead_code)
)]

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures_util::future::Either;
use sentry::integrations::tower::HubProvider;
use sentry::integrations::tracing::{BreadcrumbLayer, ErrorLayer};
use sentry::{Hub, Level, SentryFutureExt};
use tracing_subscriber::Layer;
use tracing_subscriber::filter::{LevelFilter, filter_fn};
use tracing_subscriber::registry::LookupSpan;

use serde::Deserialize;

use crate::config::{ConfigError, ConfigSection, CoreConfig, Settings, non_blank};

/// The `SENTRY_*` keys (see `envs/.env`).
#[derive(Debug, Clone, Deserialize, validator::Validate)]
pub struct SentryConfig {
    /// `SENTRY_DSN`: where Sentry events go, `https://<public key>@<host>/<project id>`;
    /// empty or unset disables Sentry.
    #[serde(default)]
    pub dsn: Option<String>,
    /// `SENTRY_ENVIRONMENT`: the events' environment; `APP_ENV` (or `development`) when empty.
    #[serde(default)]
    pub environment: Option<String>,
    /// `SENTRY_RELEASE`: the events' release, such as `articles@1.4.2`; none when empty.
    #[serde(default)]
    pub release: Option<String>,
}

impl ConfigSection for SentryConfig {
    const PREFIX: &'static str = "SENTRY_";

    fn after_load(mut self, settings: &Settings) -> Result<Self, ConfigError> {
        self.dsn = non_blank(self.dsn);
        self.environment = non_blank(self.environment);
        self.release = non_blank(self.release);
        if let Some(dsn) = &self.dsn
            && dsn.trim().parse::<sentry::types::Dsn>().is_err()
        {
            return Err(settings.invalid(
                "SENTRY_DSN",
                "not a Sentry DSN: expected `https://<public key>@<host>/<project id>`",
            ));
        }
        Ok(self)
    }
}

/// How long shutdown waits for queued events to be sent.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(2);

/// The running client; [`Reporting::flush`] sends what is queued and closes it.
pub(crate) struct Reporting {
    client: Arc<sentry::Client>,
}

impl Reporting {
    /// Sends the queued events, waiting at most [`FLUSH_TIMEOUT`], and closes the client.
    pub(crate) fn flush(self) {
        ON.store(false, Ordering::Relaxed);
        if !self.client.close(Some(FLUSH_TIMEOUT)) {
            tracing::warn!(timeout = ?FLUSH_TIMEOUT, "Sentry events still queued at shutdown were dropped");
        }
    }
}

/// Starts the client when `SENTRY_DSN` is set (`SentryConfig::load` checked it).
pub(crate) fn init(core: &CoreConfig, config: &SentryConfig) -> Option<Reporting> {
    let dsn: sentry::types::Dsn = config.dsn.as_deref()?.trim().parse().ok()?;
    // reqwest's rustls needs a process-wide crypto provider; if the program installed one
    // already, that one stays.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let environment = environment(core, config);
    let host = format!("{}:{}", dsn.host(), dsn.port());
    let mut options = sentry::ClientOptions::default();
    options.dsn = Some(dsn);
    options.release = config.release.clone().map(Into::into);
    options.environment = Some(environment.clone().into());
    options.shutdown_timeout = FLUSH_TIMEOUT;
    // On the main hub, not the calling thread's (which is what `sentry::init` takes): every
    // hub of a request, record or job run is made from it.
    let client = Arc::new(sentry::Client::from(sentry::apply_defaults(options)));
    Hub::main().bind_client(Some(client.clone()));
    ON.store(true, Ordering::Relaxed);
    Hub::main().configure_scope(|scope| scope.set_tag("service", &core.app_name));
    // The host only: the DSN's key is a credential.
    tracing::info!(%host, %environment, "reporting errors to Sentry");
    Some(Reporting { client })
}

fn environment(core: &CoreConfig, config: &SentryConfig) -> String {
    config
        .environment
        .clone()
        .or_else(|| Some(core.app_env.clone()).filter(|env| !env.is_empty()))
        // No APP_ENV: the embedded defaults, a developer's machine.
        .unwrap_or_else(|| "development".to_owned())
}

/// Whether a client is running: read on every request and record, so a flag rather than
/// the main hub's lock.
static ON: AtomicBool = AtomicBool::new(false);

/// Whether events are sent.
pub(crate) fn is_on() -> bool {
    ON.load(Ordering::Relaxed)
}

/// Gives each request a hub of its own, made from the main one.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HubPerRequest;

impl<R> HubProvider<Arc<Hub>, R> for HubPerRequest {
    fn hub(&self, _request: &R) -> Arc<Hub> {
        Arc::new(Hub::new_from_top(Hub::main()))
    }
}

/// The hub one piece of work reports on.
pub(crate) type WorkHub = Arc<Hub>;

/// A hub of its own for one piece of work, tagged by `tags` (which is given the function
/// that sets one, and runs only when Sentry is on); none when Sentry is off.
pub(crate) fn own_hub(tags: impl FnOnce(&mut dyn FnMut(&str, &str))) -> Option<WorkHub> {
    is_on().then(|| {
        let hub = Arc::new(Hub::new_from_top(Hub::main()));
        hub.configure_scope(|scope| tags(&mut |key, value| scope.set_tag(key, value)));
        hub
    })
}

/// The hub of the current work, to carry onto another task; none when Sentry is off.
pub(crate) fn current_hub() -> Option<WorkHub> {
    is_on().then(Hub::current)
}

/// Runs `work` on `hub`, if there is one.
pub(crate) fn on_hub<F: Future>(
    work: F,
    hub: Option<WorkHub>,
) -> Either<F, sentry::SentryFuture<F>> {
    match hub {
        Some(hub) => Either::Right(work.bind_hub(hub)),
        None => Either::Left(work),
    }
}

/// Tags the current work's events (nothing when Sentry is off).
pub(crate) fn tag(tags: &[(&str, &str)]) {
    sentry::configure_scope(|scope| {
        for (key, value) in tags {
            scope.set_tag(key, value);
        }
    });
}

/// Reports an error that failed a request or call, with its source chain, under `code`.
pub(crate) fn capture_error(error: &(dyn std::error::Error + 'static), code: &str) {
    sentry::with_scope(
        |scope| scope.set_tag("error_code", code),
        || sentry::capture_error(error),
    );
}

/// Reports a failure known by its code and message chain (a dead letter, a failed job run).
pub(crate) fn capture_failure(what: &str, code: &str, chain: &str) {
    sentry::with_scope(
        |scope| scope.set_tag("error_code", code),
        || sentry::capture_message(&format!("{what}: {code}: {chain}"), Level::Error),
    );
}

/// The tracing layers: logs become breadcrumbs of the events, and a service's own error logs
/// become events. The framework's error logs stay breadcrumbs, since it reports those
/// failures itself, with their tags.
pub(crate) fn tracing_layers<S>() -> impl Layer<S> + Send + Sync
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
{
    let own_errors = filter_fn(|metadata| {
        *metadata.level() == tracing::Level::ERROR && !metadata.target().starts_with("framework")
    });
    BreadcrumbLayer::new()
        .with_filter(LevelFilter::INFO)
        .and_then(ErrorLayer::new().with_filter(own_errors))
}
