//! One `App`: load config, validate the wiring, build components, serve, shut down.

mod cli;
mod error;
mod listing;
mod registry;
mod shield;
#[cfg(test)]
mod wiring_tests;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use crate::di::Listeners;
pub use error::{Error, Result};
pub use shield::shield;

use crate::config::{CoreConfig, Settings};
use crate::di::{BuildContext, Container, Graph, StopHook};
use crate::health::{Health, Phase};
use crate::plugin::{Loaded, PluginRecord, Stage};
use registry::Registry;

/// What a sound wiring check found; displayed as `check` prints it after `wiring ok: `
/// (`12 component(s) to build, 8 route(s), 2 consumer(s), 7 error code(s)`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    /// The components the app builds (modules, and the framework's components they need).
    pub components: usize,
    /// What each plugin says of itself ([`Plugin::summary`](crate::plugin::Plugin::summary)),
    /// in plugin order: `8 route(s)`.
    pub plugins: Vec<String>,
    /// The error codes registered by `#[derive(DomainError)]` enums.
    pub error_codes: usize,
}

impl std::fmt::Display for Checked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} component(s) to build", self.components)?;
        for fact in &self.plugins {
            write!(f, ", {fact}")?;
        }
        write!(f, ", {} error code(s)", self.error_codes)
    }
}

/// A service: `framework::App::from_env()?.run().await`.
pub struct App {
    settings: Arc<Settings>,
    config: CoreConfig,
    registry: Registry,
    plugins: Vec<Loaded>,
}

impl App {
    /// Loads the layered config (`envs/.env`, `envs/$APP_ENV.env`, environment) and collects
    /// every registration of the program.
    pub fn from_env() -> Result<App> {
        App::from_settings(Settings::load()?)
    }

    /// An app over explicit settings (tests use this with overrides).
    pub fn from_settings(settings: Settings) -> Result<App> {
        let config = CoreConfig::load(&settings)?;
        crate::unbuilt::check(&settings)?;
        let mut records: Vec<&'static PluginRecord> =
            inventory::iter::<PluginRecord>.into_iter().collect();
        records.sort_by_key(|r| (r.order, r.name, r.location));
        let plugins = records
            .into_iter()
            .map(|record| {
                Ok(Loaded {
                    record,
                    plugin: (record.create)(&settings)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(App {
            settings: Arc::new(settings),
            config,
            registry: Registry::collect(),
            plugins,
        })
    }

    /// The core config.
    pub fn config(&self) -> &CoreConfig {
        &self.config
    }

    /// The plugins' layers for the tracing subscriber ([`telemetry::init`](crate::telemetry::init)).
    pub fn tracing_layers(&self) -> Vec<crate::telemetry::TracingLayer> {
        self.plugins
            .iter()
            .flat_map(|l| l.plugin.tracing_layers())
            .collect()
    }

    /// Validates the config sections and the whole wiring graph, without I/O: what it found,
    /// or [`Error::Wiring`] with every problem.
    pub fn check(&self) -> Result<Checked> {
        let graph = self.graph()?;
        Ok(Checked {
            components: graph.order.len(),
            plugins: self
                .plugins
                .iter()
                .filter_map(|l| l.plugin.summary())
                .collect(),
            error_codes: self.registry.error_codes.len(),
        })
    }

    fn graph(&self) -> Result<Graph> {
        Ok(self.registry.validate(&self.settings, &self.plugins)?)
    }

    /// Every module, binding, route and error code with file:line.
    pub fn wiring(&self) -> String {
        listing::listing(&self.registry, &self.plugins, &self.settings, &self.config)
    }

    /// Validates the wiring (no I/O), lets every plugin bind (HTTP readiness answers 503
    /// while starting), builds every component in dependency order, then starts the plugins.
    pub async fn start(mut self) -> Result<RunningApp> {
        let graph = self.graph()?;
        // Before anything is counted; the first app of the process decides.
        crate::metrics::install(|| {
            self.plugins
                .iter()
                .filter_map(|l| l.plugin.metrics_recorder())
                .collect()
        });
        let mut running = RunningApp {
            settings: self.settings.clone(),
            listeners: Listeners::default(),
            health: Health::default(),
            shutdown: CancellationToken::new(),
            tracker: TaskTracker::new(),
            plugins: Vec::new(),
            container: None,
            stop_hooks: Vec::new(),
            delay: self.config.shutdown_delay(),
            deadline: self.config.shutdown_timeout(),
        };
        let plugins = std::mem::take(&mut self.plugins);
        match self.start_plugins(&graph, plugins, &mut running).await {
            Ok(()) => {
                running.health.set_phase(Phase::Ready);
                Ok(running)
            }
            Err(error) => {
                // Close the ports again before reporting; nothing to drain, so no delay.
                running.delay = Duration::ZERO;
                running.shutdown().await?;
                Err(error)
            }
        }
    }

    /// Prepares every plugin, builds the components, then starts every plugin; what was
    /// prepared or built so far is in `running`, for the shutdown after a failure.
    async fn start_plugins(
        &self,
        graph: &Graph,
        plugins: Vec<Loaded>,
        running: &mut RunningApp,
    ) -> Result<()> {
        for mut loaded in plugins {
            let prepared = loaded.plugin.prepare(&mut running.stage(None)).await;
            running.plugins.push(loaded);
            prepared.map_err(|source| Error::Plugin {
                plugin: running.plugins.last().map_or("?", |l| l.record.name),
                source,
            })?;
        }
        let (container, stop_hooks) = self
            .build(graph, running.health.clone(), running.listeners.clone())
            .await?
            .finish();
        let container = Arc::new(container);
        running.container = Some(container.clone());
        running.stop_hooks = stop_hooks;
        let mut plugins = std::mem::take(&mut running.plugins);
        let mut started = Ok(());
        for loaded in &mut plugins {
            let mut stage = running.stage(Some(&container));
            if let Err(source) = loaded.plugin.start(&mut stage).await {
                started = Err(Error::Plugin {
                    plugin: loaded.record.name,
                    source,
                });
                break;
            }
        }
        running.plugins = plugins;
        started
    }

    /// Runs until SIGINT or SIGTERM, then shuts down gracefully.
    pub async fn serve(self) -> Result<()> {
        // Listening from before the app is ready: a signal right after readiness would
        // otherwise find no handler and kill the process on the spot.
        let mut signal = ShutdownSignal::listen();
        let running = tokio::select! {
            running = self.start() => running?,
            () = signal.received() => {
                // Nothing was served yet: stop starting.
                tracing::info!("shutdown signal received while starting");
                return Ok(());
            }
        };
        signal.received().await;
        tracing::info!("shutdown signal received");
        running.shutdown().await
    }

    /// The `migrate` command: every plugin applies the migrations it holds (the database
    /// plugin, to `DATABASE_URL`), without the app starting.
    pub async fn migrate(mut self) -> Result<()> {
        let mut migrated = false;
        for loaded in &mut self.plugins {
            if let Some(outcome) = loaded.plugin.migrate().await {
                outcome.map_err(|source| Error::Plugin {
                    plugin: loaded.record.name,
                    source,
                })?;
                migrated = true;
            }
        }
        if migrated {
            Ok(())
        } else {
            Err(Error::Usage(
                "nothing to migrate: no plugin holds migrations (the database plugin is the \
                 `postgres` and `sqlite` features of framework)"
                    .into(),
            ))
        }
    }

    async fn build(
        &self,
        graph: &Graph,
        health: Health,
        listeners: Listeners,
    ) -> Result<BuildContext> {
        let mut ctx = BuildContext {
            container: Container::new(self.settings.clone()),
            config: self.config.clone(),
            health,
            stop_hooks: Mutex::new(Vec::new()),
            listeners,
        };
        for provider in &graph.order {
            let instances = (provider.build)(&ctx)
                .await
                .map_err(|source| Error::Build {
                    component: provider.name,
                    location: provider.location,
                    source,
                })?;
            for instance in instances {
                ctx.container.insert(instance);
            }
        }
        Ok(ctx)
    }
}

/// A started app.
pub struct RunningApp {
    settings: Arc<Settings>,
    listeners: Listeners,
    health: Health,
    shutdown: CancellationToken,
    tracker: TaskTracker,
    plugins: Vec<Loaded>,
    container: Option<Arc<Container>>,
    stop_hooks: Vec<StopHook>,
    delay: Duration,
    deadline: Duration,
}

impl RunningApp {
    fn stage<'a>(&'a mut self, container: Option<&'a Arc<Container>>) -> Stage<'a> {
        Stage {
            settings: &self.settings,
            health: &self.health,
            listeners: &mut self.listeners,
            container,
            shutdown: &self.shutdown,
            tracker: &self.tracker,
        }
    }

    /// The bound HTTP address (useful with `HTTP_PORT=0`).
    pub fn http_addr(&self) -> SocketAddr {
        self.listeners
            .get("http")
            .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)))
    }

    /// The bound gRPC address, when the program has a `#[grpc_service]`.
    pub fn grpc_addr(&self) -> Option<SocketAddr> {
        self.listeners.get("grpc")
    }

    /// The address the listener `name` is bound to, as [`Listeners::get`].
    pub fn listener(&self, name: &str) -> Option<SocketAddr> {
        self.listeners.get(name)
    }

    /// The singleton component of type `T`, if the app built one.
    pub fn component<T: ?Sized + Send + Sync + 'static>(&self) -> Option<Arc<T>> {
        self.container.as_ref().and_then(|c| c.get::<T>())
    }

    /// The app's health.
    pub fn health(&self) -> &Health {
        &self.health
    }

    /// Readiness goes false (and stays so, still serving, for `SHUTDOWN_DELAY_SECS`), the
    /// plugins stop taking work and drain what is in progress, then components stop, all
    /// within `SHUTDOWN_TIMEOUT_SECS`.
    pub async fn shutdown(mut self) -> Result<()> {
        let started = Instant::now();
        self.health.set_phase(Phase::ShuttingDown);
        tokio::time::sleep(self.delay).await;
        self.shutdown.cancel();
        // Every plugin drains side by side (HTTP and gRPC finish their calls, consumers the
        // records in hand, jobs their runs), under the one deadline.
        let deadline = self.deadline;
        let drains = self.plugins.iter_mut().map(|loaded| {
            let name = loaded.record.name;
            async move {
                if tokio::time::timeout(deadline, loaded.plugin.drain())
                    .await
                    .is_err()
                {
                    tracing::warn!(?deadline, "{name} did not drain before the deadline");
                }
            }
        });
        futures_util::future::join_all(drains).await;
        self.tracker.close();
        let remaining = self.deadline.saturating_sub(started.elapsed());
        if tokio::time::timeout(remaining, self.tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!("tasks did not finish before the deadline");
        }
        // Work whose caller stopped waiting (a timed-out request's commit and publish) ends
        // before the pools and the producer it uses stop.
        let remaining = self.deadline.saturating_sub(started.elapsed());
        if !shield::wait_for_shielded(remaining).await {
            tracing::warn!("shielded work did not finish before the deadline");
        }
        let remaining = self.deadline.saturating_sub(started.elapsed());
        if tokio::time::timeout(remaining, run_stop_hooks(self.stop_hooks))
            .await
            .is_err()
        {
            tracing::warn!("components did not stop before the deadline");
        }
        // Last, so that what went wrong while stopping is sent too (Sentry's queued events).
        for loaded in self.plugins.iter_mut().rev() {
            loaded.plugin.stop().await;
        }
        tracing::info!(elapsed = ?started.elapsed(), "stopped");
        Ok(())
    }
}

async fn run_stop_hooks(hooks: Vec<StopHook>) {
    for hook in hooks.into_iter().rev() {
        hook().await;
    }
}

/// SIGINT and SIGTERM, caught from [`ShutdownSignal::listen`] on.
struct ShutdownSignal {
    #[cfg(unix)]
    signals: Vec<tokio::signal::unix::Signal>,
}

impl ShutdownSignal {
    fn listen() -> ShutdownSignal {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let kinds = [
                ("SIGINT", SignalKind::interrupt()),
                ("SIGTERM", SignalKind::terminate()),
            ];
            let signals = kinds
                .into_iter()
                .filter_map(|(name, kind)| {
                    signal(kind)
                        .map_err(|error| tracing::error!(%error, "cannot listen for {name}"))
                        .ok()
                })
                .collect();
            ShutdownSignal { signals }
        }
        #[cfg(not(unix))]
        ShutdownSignal {}
    }

    /// Resolves when a signal came (or comes).
    async fn received(&mut self) {
        #[cfg(unix)]
        {
            if self.signals.is_empty() {
                std::future::pending::<()>().await;
            }
            let any = self.signals.iter_mut().map(|s| Box::pin(s.recv()));
            futures_util::future::select_all(any).await;
        }
        #[cfg(not(unix))]
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    }
}
