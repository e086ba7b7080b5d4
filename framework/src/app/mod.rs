//! One `App`: load config, validate the wiring, build components, serve, shut down.

mod cli;
mod error;
mod listeners;
mod shield;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use error::{Error, Result};
pub use listeners::Listeners;
pub use shield::shield;

use crate::config::{CoreConfig, Settings};
use crate::di::{Container, Graph, Key};
use crate::health::{Health, Phase};
use crate::http::{AppState, Switch};
use crate::registry::{BuildContext, ProviderKind, Registry, StopHook};

/// A service: `framework::App::from_env()?.run().await`.
pub struct App {
    settings: Arc<Settings>,
    config: CoreConfig,
    registry: Registry,
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
        Ok(App {
            settings: Arc::new(settings),
            config,
            registry: Registry::collect(),
        })
    }

    /// The core config.
    pub fn config(&self) -> &CoreConfig {
        &self.config
    }

    /// Validates the config sections and the whole wiring graph, without I/O.
    pub fn check(&self) -> Result<Graph> {
        Ok(self.registry.validate(&self.settings)?)
    }

    /// Every module, binding, route and error code with file:line.
    pub fn wiring(&self) -> String {
        crate::registry::listing(&self.registry, &self.settings, &self.config)
    }

    /// Validates the wiring (no I/O), opens the ports (HTTP readiness answers 503 while
    /// starting), builds every component in dependency order, then serves.
    pub async fn start(self) -> Result<RunningApp> {
        let graph = self.check()?;
        // Before anything is counted: what is recorded without a recorder is lost.
        crate::metrics::handle();
        // Before the deliveries are built: they get Sentry's layers only when it is on.
        let sentry = crate::telemetry::sentry::init(&self.config);
        let health = Health::default();
        let address = SocketAddr::new(self.config.http.host, self.config.http.port);
        let (listener, http_addr) = bind(address, "HTTP", "HTTP_HOST/HTTP_PORT").await?;
        tracing::info!(address = %http_addr, base_path = %self.config.http.base_path, "HTTP listening");
        let grpc = crate::grpc::bind(&self.config, &self.registry.grpc_services).await?;
        let mut listeners = Listeners::default();
        listeners.insert("http", http_addr);
        if let Some(grpc) = &grpc {
            listeners.insert("grpc", grpc.addr);
        }

        let switch = Switch::new(&self.config.http, health.clone());
        let (stop, stopped) = watch::channel(false);
        let server =
            crate::http::serve(listener, switch.clone(), &self.config.http, stopped.clone());
        let running = RunningApp {
            http_addr,
            grpc_addr: grpc.as_ref().map(|g| g.addr),
            health: health.clone(),
            stop,
            server,
            grpc: None,
            consumers: Vec::new(),
            jobs: Vec::new(),
            container: None,
            stop_hooks: Vec::new(),
            delay: self.config.shutdown_delay(),
            deadline: self.config.shutdown_timeout(),
            sentry,
        };
        match self
            .build_deliveries(&graph, health, listeners, grpc, stopped)
            .await
        {
            Ok(deliveries) => {
                switch.set(deliveries.router);
                running.health.set_phase(Phase::Ready);
                Ok(RunningApp {
                    grpc: deliveries.grpc,
                    consumers: deliveries.consumers,
                    jobs: deliveries.jobs,
                    container: Some(deliveries.container),
                    stop_hooks: deliveries.stop_hooks,
                    ..running
                })
            }
            Err(error) => {
                // Close the ports again before reporting; nothing to drain, so no delay.
                let running = RunningApp {
                    delay: Duration::ZERO,
                    ..running
                };
                running.shutdown().await?;
                Err(error)
            }
        }
    }

    /// Builds the components, the router over them, and starts the gRPC server.
    async fn build_deliveries(
        &self,
        graph: &Graph,
        health: Health,
        listeners: Listeners,
        grpc: Option<crate::grpc::GrpcServer>,
        stopped: watch::Receiver<bool>,
    ) -> Result<Deliveries> {
        let (container, stop_hooks) = self
            .build(
                graph,
                health.clone(),
                listeners,
                self.config.database_migrate,
            )
            .await?
            .finish();
        let container = Arc::new(container);
        let grpc = match grpc {
            Some(server) => {
                let started = server.serve(
                    &self.registry.grpc_services,
                    &self.registry.descriptor_sets,
                    &container,
                    &self.config,
                    health.clone(),
                    stopped.clone(),
                );
                match started {
                    Ok(handle) => Some(handle),
                    Err(error) => {
                        run_stop_hooks(stop_hooks).await;
                        return Err(error);
                    }
                }
            }
            None => None,
        };
        let (consumers, _) = self.registry.resolve_consumers(&self.settings);
        let create_topics = self.config.kafka_create_topics;
        let consumers =
            match crate::kafka::start_consumers(&consumers, &container, create_topics, &stopped)
                .await
            {
                Ok(handles) => handles,
                Err(error) => {
                    run_stop_hooks(stop_hooks).await;
                    return Err(error.into());
                }
            };
        let (jobs, _) = self.registry.resolve_jobs(&self.settings);
        let jobs = crate::cron::start_jobs(jobs, &container, &stopped);
        let state = AppState {
            container: container.clone(),
        };
        // The wiring check rejects the route clashes axum panics on; any other router panic
        // still becomes a startup error rather than a crash.
        let routes = &self.registry.routes;
        let router = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            crate::http::router(routes, &self.config, state, health)
        }));
        match router {
            Ok(router) => Ok(Deliveries {
                container,
                router,
                grpc,
                consumers,
                jobs,
                stop_hooks,
            }),
            Err(panic) => {
                run_stop_hooks(stop_hooks).await;
                Err(Error::Router(
                    crate::http::panic_message(&*panic).to_owned(),
                ))
            }
        }
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

    /// Connects to the database and applies the embedded migrations.
    pub async fn migrate(self) -> Result<()> {
        let database = self
            .registry
            .providers
            .iter()
            .find(|p| {
                p.kind == ProviderKind::Framework
                    && p.is_active(&self.settings)
                    && is_pool(p.provides)
            })
            .ok_or_else(|| {
                Error::Usage("DATABASE_URL names no supported database; nothing to migrate".into())
            })?;
        let graph = Graph {
            order: vec![*database],
            bindings: Default::default(),
        };
        let (_, stop_hooks) = self
            .build(&graph, Health::default(), Listeners::default(), true)
            .await?
            .finish();
        run_stop_hooks(stop_hooks).await;
        Ok(())
    }

    async fn build(
        &self,
        graph: &Graph,
        health: Health,
        listeners: Listeners,
        migrate: bool,
    ) -> Result<BuildContext> {
        let mut ctx = BuildContext {
            container: Container::new(self.settings.clone()),
            config: self.config.clone(),
            health,
            migrate,
            migrations: self.registry.migrations.clone(),
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

fn is_pool(provides: fn() -> Vec<Key>) -> bool {
    let pools = [Key::of::<sqlx::PgPool>(), Key::of::<sqlx::SqlitePool>()];
    provides().iter().any(|k| pools.contains(k))
}

/// What `start` built and serves.
struct Deliveries {
    container: Arc<Container>,
    router: axum::Router,
    grpc: Option<JoinHandle<Result<(), tonic::transport::Error>>>,
    consumers: Vec<JoinHandle<Result<(), crate::kafka::KafkaError>>>,
    jobs: Vec<JoinHandle<Result<(), std::convert::Infallible>>>,
    stop_hooks: Vec<StopHook>,
}

/// A started app.
pub struct RunningApp {
    http_addr: SocketAddr,
    grpc_addr: Option<SocketAddr>,
    health: Health,
    stop: watch::Sender<bool>,
    server: JoinHandle<std::io::Result<()>>,
    grpc: Option<JoinHandle<Result<(), tonic::transport::Error>>>,
    consumers: Vec<JoinHandle<Result<(), crate::kafka::KafkaError>>>,
    jobs: Vec<JoinHandle<Result<(), std::convert::Infallible>>>,
    container: Option<Arc<Container>>,
    stop_hooks: Vec<StopHook>,
    delay: Duration,
    deadline: Duration,
    sentry: Option<crate::telemetry::sentry::Reporting>,
}

impl RunningApp {
    /// The bound HTTP address (useful with `HTTP_PORT=0`).
    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    /// The bound gRPC address, when the program has a `#[grpc_service]`.
    pub fn grpc_addr(&self) -> Option<SocketAddr> {
        self.grpc_addr
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
    /// listener closes, in-flight requests drain, then components stop, all within
    /// `SHUTDOWN_TIMEOUT_SECS`.
    pub async fn shutdown(self) -> Result<()> {
        let started = Instant::now();
        self.health.set_phase(Phase::ShuttingDown);
        tokio::time::sleep(self.delay).await;
        let _ = self.stop.send(true);
        // HTTP and gRPC drain side by side, under the one deadline.
        let grpc = async {
            if let Some(grpc) = self.grpc {
                drain("gRPC", grpc, self.deadline).await;
            }
        };
        // Consumers stop fetching, finish the message in hand, and commit.
        let consumers = async {
            for consumer in self.consumers {
                drain("Kafka consumer", consumer, self.deadline).await;
            }
        };
        // Jobs stop scheduling and their runs in progress finish.
        let jobs = async {
            for job in self.jobs {
                drain("job scheduler", job, self.deadline).await;
            }
        };
        tokio::join!(
            drain("HTTP", self.server, self.deadline),
            grpc,
            consumers,
            jobs
        );
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
        // Last, so that what went wrong while stopping is sent too.
        if let Some(sentry) = self.sentry {
            sentry.flush();
        }
        tracing::info!(elapsed = ?started.elapsed(), "stopped");
        Ok(())
    }
}

/// Binds `address`; errors name the keys that set it.
pub(crate) async fn bind(
    address: SocketAddr,
    what: &str,
    keys: &str,
) -> Result<(tokio::net::TcpListener, SocketAddr)> {
    let io = |context: String| move |source| Error::Io { context, source };
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .map_err(io(format!("cannot bind {what} to {address} ({keys})")))?;
    let bound = listener
        .local_addr()
        .map_err(io(format!("cannot read the bound {what} address")))?;
    Ok((listener, bound))
}

/// Waits for a server task to finish its in-flight work, at most `deadline`.
async fn drain<E: std::fmt::Display>(
    name: &str,
    server: JoinHandle<Result<(), E>>,
    deadline: Duration,
) {
    match tokio::time::timeout(deadline, server).await {
        Ok(Ok(Ok(()))) => tracing::info!("{name} drained"),
        Ok(Ok(Err(error))) => tracing::error!(%error, "{name} server failed"),
        Ok(Err(join)) => tracing::error!(error = %join, "{name} server task failed"),
        Err(_) => tracing::warn!(?deadline, "{name} did not drain before the deadline"),
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
