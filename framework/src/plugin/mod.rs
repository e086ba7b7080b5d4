//! The seam every delivery (HTTP, gRPC, Kafka consumers, cron jobs, or one of your own) plugs
//! into the app through, in phases, as bevy's `Plugin` does:
//!
//! 1. **create**: the plugin's [`PluginRecord::create`] reads its own config keys from the
//!    settings; an invalid key is an error of `App::from_settings`.
//! 2. **check** ([`Plugin::check`], no I/O): the components its handlers need (the roots of
//!    the wiring check) and its own problems (two handlers for one route, a config key its
//!    records name that is not set), reported by `check` with every other wiring error.
//! 3. **describe** ([`Plugin::describe`], [`Plugin::headline`]): its section of the `wiring`
//!    listing, and a fact for its first line.
//! 4. **prepare** ([`Plugin::prepare`]): binds its listeners before any component is built,
//!    so that a port in use fails the start at once and readiness can answer while starting;
//!    the addresses go into [`Listeners`].
//! 5. **start** ([`Plugin::start`]): serves, consumes or schedules, over the built components,
//!    on tasks of the app's [`TaskTracker`], until the app's [`CancellationToken`] is
//!    cancelled.
//! 6. **drain** ([`Plugin::drain`]): after the token is cancelled, finishes its work in
//!    progress; the app waits for every plugin's drain side by side, then for the tracker,
//!    all within `SHUTDOWN_TIMEOUT_SECS`.
//! 7. **stop** ([`Plugin::stop`]): last, once the components stopped: sends what it still
//!    holds.
//!
//! Beside the phases, a plugin may add a layer to the tracing subscriber
//! ([`Plugin::tracing_layers`]) and run the `migrate` command ([`Plugin::migrate`]).
//!
//! A plugin registers itself with [`submit!`] (`inventory`'s); nothing else in the framework
//! names it. `framework/tests/custom_delivery.rs` is a whole delivery written this way:
//!
//! ```ignore
//! framework::plugin::submit! {
//!     framework::plugin::PluginRecord {
//!         name: "jobs-queue",
//!         order: 500,
//!         create: |settings| Ok(Box::new(JobQueue::new(settings)?)),
//!         location: framework::registry::Location { file: file!(), line: line!() },
//!     }
//! }
//! ```

use std::fmt;
use std::sync::Arc;

/// Registers a [`PluginRecord`] (or any record a plugin collects), from any crate.
pub use inventory::submit;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::{ConfigError, Settings};
pub use crate::di::Root;
use crate::di::{BuildError, Container, Dependency, Key, Listeners, Location, Needer, WiringError};
use crate::error::ErrorKind;
use crate::health::Health;

/// A plugin's registration, submitted with [`submit!`].
pub struct PluginRecord {
    /// A short name for logs and reports (`"http"`, `"kafka"`).
    pub name: &'static str,
    /// Where the plugin stands among the others, lowest first: the order of the `wiring`
    /// sections, of the checks' roots and of `prepare` and `start`. The framework's own:
    /// metrics 10 and Sentry 20 (they prepare before anything is served), HTTP 100, gRPC 200,
    /// Kafka 300, cron 400, the database 1000 and the cache 1100 (after the error codes, which
    /// the core lists at [`ERROR_CODES_ORDER`]).
    pub order: u16,
    /// Creates the plugin for one app, reading its config keys from the settings.
    pub create: fn(&Settings) -> Result<Box<dyn Plugin>, ConfigError>,
    /// Where it is registered.
    pub location: Location,
}

inventory::collect!(PluginRecord);

/// Where the core's `error codes` section stands among the plugins' `wiring` sections.
pub const ERROR_CODES_ORDER: u16 = 900;

/// A delivery or backend, in the phases of the module docs. Every method has a default that
/// does nothing, so a plugin writes only the phases it needs.
#[crate::async_trait]
pub trait Plugin: Send + Sync + 'static {
    /// The components its handlers need, and its own problems; no I/O.
    fn check(&self, check: &mut Check<'_>) {
        let _ = check;
    }

    /// Its section of the `wiring` listing.
    fn describe(&self, wiring: &mut Wiring<'_>) {
        let _ = wiring;
    }

    /// How it answers an error of `kind`, for the `wiring` listing's error codes (HTTP gives
    /// its status); `None` to say nothing. The listing shows the first plugin's answer.
    fn error_mapping(&self, kind: ErrorKind) -> Option<String> {
        let _ = kind;
        None
    }

    /// Layers for the process's tracing subscriber (installed once, before anything is
    /// served): the Sentry plugin's turns logs into breadcrumbs, the `otel` plugin's exports
    /// spans. None by default.
    fn tracing_layers(&self) -> Vec<crate::telemetry::TracingLayer> {
        Vec::new()
    }

    /// The recorder this plugin adds to the process's `metrics` recorder (the Prometheus
    /// plugin's, the OpenTelemetry plugin's), asked once, when the first app of the process
    /// starts ([`crate::metrics`]). None by default.
    fn metrics_recorder(&self) -> Option<crate::metrics::Recorder> {
        None
    }

    /// A fact for the first line of the `wiring` listing, after the service's name and
    /// `APP_ENV`: `database postgres://app:***@db/articles`; `None` to say nothing.
    fn headline(&self) -> Option<String> {
        None
    }

    /// What `check` says of it when the wiring is sound: `8 route(s)`.
    fn summary(&self) -> Option<String> {
        None
    }

    /// Binds what must be bound before the components are built.
    async fn prepare(&mut self, stage: &mut Stage<'_>) -> Result<(), BuildError> {
        let _ = stage;
        Ok(())
    }

    /// Starts serving over the built components ([`Stage::component`]).
    async fn start(&mut self, stage: &mut Stage<'_>) -> Result<(), BuildError> {
        let _ = stage;
        Ok(())
    }

    /// The `migrate` command, run instead of starting the app: applies the migrations it
    /// holds to its backend (`Some` with the outcome), or has none (`None`, the default).
    async fn migrate(&mut self) -> Option<Result<(), BuildError>> {
        None
    }

    /// Finishes the work in progress once shutdown began (the token is cancelled).
    async fn drain(&mut self) {}

    /// Last, after every plugin drained and the components stopped, in reverse plugin order:
    /// sends what it still holds (the Sentry plugin flushes its queued events).
    async fn stop(&mut self) {}
}

/// What [`Plugin::check`] adds to the wiring check.
pub struct Check<'a> {
    settings: &'a Settings,
    pub(crate) roots: Vec<Root>,
    pub(crate) errors: Vec<WiringError>,
}

impl<'a> Check<'a> {
    pub(crate) fn new(settings: &'a Settings) -> Self {
        Check {
            settings,
            roots: Vec::new(),
            errors: Vec::new(),
        }
    }

    /// The settings the app runs with.
    pub fn settings(&self) -> &Settings {
        self.settings
    }

    /// Something (a route, a consumer) that needs `dependencies`: each must have exactly one
    /// active provider, and is built before the plugin starts.
    pub fn root(&mut self, root: Root) {
        self.roots.push(root);
    }

    /// A handler (`kind` is `"consumer"`, `"job"`, ...) that needs `dependencies`: reported
    /// as "`kind` `handler`" at `location`.
    pub fn handler(
        &mut self,
        kind: &str,
        handler: &'static str,
        location: Location,
        dependencies: Vec<Dependency>,
    ) {
        self.root(Root {
            label: format!("{kind} {handler} ({location})"),
            needer: Needer {
                description: format!("{kind} `{handler}`"),
                location,
            },
            dependencies,
        });
    }

    /// Whether an active provider (its `when` holds for these settings) provides `key`: for
    /// a root that only makes sense when another plugin is configured (the outbox relay needs
    /// an event sink).
    pub fn is_provided(&self, key: &Key) -> bool {
        inventory::iter::<crate::di::ProviderRecord>
            .into_iter()
            .any(|p| p.is_active(self.settings) && (p.provides)().contains(key))
    }

    /// A problem of the plugin's own, reported with the others.
    pub fn error(&mut self, error: WiringError) {
        self.errors.push(error);
    }

    /// Problems of the plugin's own, reported with the others.
    pub fn errors(&mut self, errors: impl IntoIterator<Item = WiringError>) {
        self.errors.extend(errors);
    }
}

/// What [`Plugin::describe`] writes into: the `wiring` listing, as text
/// (`write!(wiring, ...)`), and what the check bound.
pub struct Wiring<'a> {
    pub(crate) out: &'a mut String,
    pub(crate) settings: &'a Settings,
    pub(crate) bound: &'a dyn Fn(&Key) -> Option<&'static str>,
}

impl Wiring<'_> {
    /// The settings the app runs with.
    pub fn settings(&self) -> &Settings {
        self.settings
    }

    /// The short name of the provider the check bound `key` to, if it passed.
    pub fn bound(&self, key: &Key) -> Option<&'static str> {
        (self.bound)(key)
    }
}

impl fmt::Write for Wiring<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.out.push_str(s);
        Ok(())
    }
}

/// What [`Plugin::prepare`] and [`Plugin::start`] work with: the app's settings, health,
/// listeners, lifecycle and (from `start` on) built components.
pub struct Stage<'a> {
    pub(crate) settings: &'a Arc<Settings>,
    pub(crate) health: &'a Health,
    pub(crate) listeners: &'a mut Listeners,
    /// The built components: `Some` in [`Plugin::start`], `None` in [`Plugin::prepare`].
    pub(crate) container: Option<&'a Arc<Container>>,
    pub(crate) shutdown: &'a CancellationToken,
    pub(crate) tracker: &'a TaskTracker,
}

impl Stage<'_> {
    /// The settings the app runs with.
    pub fn settings(&self) -> &Arc<Settings> {
        self.settings
    }

    /// The app's health, to add a unit.
    pub fn health(&self) -> &Health {
        self.health
    }

    /// Records the address a listener of the plugin is bound to (`"http"`, `"grpc"`); a
    /// component that injects [`Listeners`] sees it.
    pub fn listening(&mut self, name: &'static str, address: std::net::SocketAddr) {
        self.listeners.insert(name, address);
    }

    /// The bound listeners so far.
    pub fn listeners(&self) -> &Listeners {
        self.listeners
    }

    /// The built component of type `T` (a `#[module]`, `dyn Trait` binding or framework
    /// component); `None` before [`Plugin::start`], or when the app did not build one (make it
    /// a [`Root`] dependency in [`Plugin::check`] so that the wiring check guarantees it).
    pub fn component<T: ?Sized + Send + Sync + 'static>(&self) -> Option<Arc<T>> {
        self.container?.get::<T>()
    }

    /// Cancelled when shutdown begins (after `SHUTDOWN_DELAY_SECS`).
    pub fn shutdown(&self) -> &CancellationToken {
        self.shutdown
    }

    /// The app's tasks: shutdown waits for what is spawned here, under the deadline.
    pub fn tracker(&self) -> &TaskTracker {
        self.tracker
    }
}

/// Resolves each of `records` against `settings` (its topic, its schedule: the config keys
/// it names); a record that does not resolve is a [`WiringError::HandlerConfig`] of `kind`
/// (`"consumer"`, `"job"`), at the handler and location `at` gives.
pub fn resolve_each<R: ?Sized, T>(
    records: &[&'static R],
    settings: &Settings,
    kind: &'static str,
    at: impl Fn(&R) -> (&'static str, Location),
    resolve: impl Fn(&'static R, &Settings) -> Result<T, ConfigError>,
) -> (Vec<T>, Vec<WiringError>) {
    let mut resolved = Vec::new();
    let mut errors = Vec::new();
    for &record in records {
        match resolve(record, settings) {
            Ok(item) => resolved.push(item),
            Err(error) => {
                let (handler, location) = at(record);
                errors.push(WiringError::HandlerConfig {
                    kind,
                    handler,
                    location,
                    error,
                });
            }
        }
    }
    (resolved, errors)
}

/// One plugin of an app, created from its record.
pub(crate) struct Loaded {
    pub(crate) record: &'static PluginRecord,
    pub(crate) plugin: Box<dyn Plugin>,
}

/// A listener could not be bound; says what, where, and the keys that set it.
#[derive(Debug, thiserror::Error)]
#[error("{context}: {source}")]
pub struct BindError {
    context: String,
    source: std::io::Error,
}

/// Binds `address` for the listener `what` (`"HTTP"`), whose address the config `keys` set
/// (`"HTTP_HOST/HTTP_PORT"`); returns the listener and the address bound (the port the system
/// picked for port 0).
///
/// # Errors
/// [`BindError`] naming `what`, the address and `keys` (the port is in use, say).
pub async fn bind(
    address: std::net::SocketAddr,
    what: &str,
    keys: &str,
) -> Result<(tokio::net::TcpListener, std::net::SocketAddr), BindError> {
    let io = |context: String| move |source| BindError { context, source };
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .map_err(io(format!("cannot bind {what} to {address} ({keys})")))?;
    let bound = listener
        .local_addr()
        .map_err(io(format!("cannot read the bound {what} address")))?;
    Ok((listener, bound))
}

/// Waits for a server task to finish its in-flight work, logging how it ended as `name`
/// (`"HTTP"`); the app's deadline bounds the wait.
pub async fn drained<E: fmt::Display>(name: &str, server: tokio::task::JoinHandle<Result<(), E>>) {
    match server.await {
        Ok(Ok(())) => tracing::info!("{name} drained"),
        Ok(Err(error)) => tracing::error!(%error, "{name} server failed"),
        Err(join) => tracing::error!(error = %join, "{name} server task failed"),
    }
}
