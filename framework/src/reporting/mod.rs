//! The Sentry plugin (the `sentry` feature), on when `SENTRY_DSN` is set: 5xx errors, panics,
//! failed job runs and dead-lettered messages become events with the error chain and tags
//! (service, environment, module, route/method/topic/job, error code, request id, trace id);
//! 4xx never do. It watches the units of work through the core's
//! [`Observer`] seam of `framework::work`: the deliveries never name Sentry.
//!
//! One client per process, on Sentry's main hub, as every Sentry SDK has it. Each request,
//! consumed record and job run works on a hub of its own made from the main one, so its tags
//! stay its own, and the panic integration reports a panic with the tags of the work it hit.

use std::sync::Arc;
use std::time::Duration;

use sentry::integrations::tracing::{BreadcrumbLayer, ErrorLayer};
use sentry::{Hub, Level};
use serde::Deserialize;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::{LevelFilter, filter_fn};
use tracing_subscriber::registry::LookupSpan;

use crate::config::{ConfigError, ConfigSection, CoreConfig, Settings, non_blank};
use crate::di::{BuildError, Location};
use crate::plugin::{Plugin, PluginRecord, Stage};
use crate::telemetry::TracingLayer;
use crate::work::{Observer, Scope, Tagger};

inventory::submit! {
    PluginRecord {
        name: "sentry",
        // Before the deliveries: what they serve is reported from the first unit on.
        order: 20,
        create: SentryPlugin::create,
        location: Location { file: file!(), line: line!() },
    }
}

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

struct SentryPlugin {
    core: CoreConfig,
    config: SentryConfig,
    reporting: Option<Reporting>,
}

impl SentryPlugin {
    fn create(settings: &Settings) -> Result<Box<dyn Plugin>, ConfigError> {
        Ok(Box::new(SentryPlugin {
            core: CoreConfig::load(settings)?,
            config: SentryConfig::load(settings)?,
            reporting: None,
        }))
    }
}

#[crate::async_trait]
impl Plugin for SentryPlugin {
    fn tracing_layers(&self) -> Vec<TracingLayer> {
        let layer = self.config.dsn.as_ref().map(|_| tracing_layers());
        layer.into_iter().map(TracingLayer::new).collect()
    }

    async fn prepare(&mut self, _: &mut Stage<'_>) -> Result<(), BuildError> {
        self.reporting = init(&self.core, &self.config);
        Ok(())
    }

    async fn stop(&mut self) {
        if let Some(reporting) = self.reporting.take() {
            reporting.flush();
        }
    }
}

/// The running client; [`Reporting::flush`] sends what is queued and closes it.
struct Reporting {
    client: Arc<sentry::Client>,
}

impl Reporting {
    /// Sends the queued events, waiting at most [`FLUSH_TIMEOUT`], and closes the client.
    fn flush(self) {
        crate::work::stop_observing();
        if !self.client.close(Some(FLUSH_TIMEOUT)) {
            tracing::warn!(timeout = ?FLUSH_TIMEOUT, "Sentry events still queued at shutdown were dropped");
        }
    }
}

/// Starts the client when `SENTRY_DSN` is set (`SentryConfig::load` checked it).
fn init(core: &CoreConfig, config: &SentryConfig) -> Option<Reporting> {
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
    crate::work::observe(SentryObserver);
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

/// Each unit of work on a hub of its own, made from the main one.
struct SentryObserver;

/// A unit's hub.
struct HubScope(Arc<Hub>);

impl Scope for HubScope {
    fn enter(&self, work: &mut dyn FnMut()) {
        Hub::run(self.0.clone(), work);
    }
}

impl Observer for SentryObserver {
    fn begin(&self, tags: &mut dyn FnMut(&mut Tagger<'_>)) -> Arc<dyn Scope> {
        let hub = Arc::new(Hub::new_from_top(Hub::main()));
        hub.configure_scope(|scope| tags(&mut |key, value| scope.set_tag(key, value)));
        Arc::new(HubScope(hub))
    }

    fn current(&self) -> Arc<dyn Scope> {
        Arc::new(HubScope(Hub::current()))
    }

    fn tag(&self, key: &str, value: &str) {
        sentry::configure_scope(|scope| scope.set_tag(key, value));
    }

    fn error(&self, error: &(dyn std::error::Error + 'static), code: &str) {
        sentry::with_scope(
            |scope| scope.set_tag("error_code", code),
            || sentry::capture_error(error),
        );
    }

    fn failure(&self, what: &str, code: &str, chain: &str) {
        sentry::with_scope(
            |scope| scope.set_tag("error_code", code),
            || sentry::capture_message(&format!("{what}: {code}: {chain}"), Level::Error),
        );
    }
}

/// The tracing layers: logs become breadcrumbs of the events, and a service's own error logs
/// become events. The framework's error logs stay breadcrumbs, since it reports those
/// failures itself, with their tags.
fn tracing_layers<S>() -> impl Layer<S> + Send + Sync
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
