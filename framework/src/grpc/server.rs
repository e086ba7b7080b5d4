//! The tonic server: the registered services, health, reflection and the standard layers
//! (request id and trace context from metadata, a span per call, panic -> `Internal`, the
//! call's deadline and shutdown, see [`super::call`]).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderValue, Request, Response, StatusCode as HttpStatus};
use futures_util::StreamExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tonic::service::RoutesBuilder;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::{DefaultOnFailure, TraceLayer};
use tracing::Level;

use super::GrpcConfig;
use super::call::CallLayer;
use super::span::Served;
use super::{FileDescriptorSetRecord, GrpcMetrics, GrpcServiceRecord, MountOptions};
use crate::app::{Error, Result};
use crate::di::Container;
use crate::health::{Health, Phase, Report};
use crate::identity::Authenticator;
use crate::rate_limit::RateLimiter;
use crate::serving::accept;
use crate::serving::drain::Drain;
use crate::serving::{WorkContextLayer, request_id_layer, span_of};
use crate::work::Panicked;

/// How often the gRPC health statuses follow the app's health units.
const HEALTH_INTERVAL: Duration = Duration::from_secs(5);

/// The longest wait for a keep-alive PING's answer (tonic's and hyper's default).
const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(20);

/// A bound, not yet serving, gRPC listener.
pub(crate) struct GrpcServer {
    listener: TcpListener,
    pub(crate) addr: SocketAddr,
    /// The methods' rate limits, if any.
    limits: Option<Arc<super::rate_limit::Limits>>,
}

/// Binds `GRPC_HOST:GRPC_PORT` when there is a service to serve.
pub(crate) async fn bind(
    config: &GrpcConfig,
    services: &[&GrpcServiceRecord],
) -> Result<Option<GrpcServer>, crate::plugin::BindError> {
    if services.is_empty() {
        return Ok(None);
    }
    let address = SocketAddr::new(config.host, config.port);
    let (listener, addr) = crate::plugin::bind(address, "gRPC", "GRPC_HOST/GRPC_PORT").await?;
    tracing::info!(address = %addr, services = services.len(), "gRPC listening");
    Ok(Some(GrpcServer {
        listener,
        addr,
        limits: None,
    }))
}

impl GrpcServer {
    /// Serves with the methods' rate limits.
    pub(crate) fn limited(mut self, limits: Option<Arc<super::rate_limit::Limits>>) -> Self {
        self.limits = limits;
        self
    }

    /// Serves every service until `stop` is cancelled, then drains in-flight calls (streams
    /// end with `UNAVAILABLE`).
    pub(crate) fn serve(
        self,
        services: &[&GrpcServiceRecord],
        descriptor_sets: &[&FileDescriptorSetRecord],
        container: &Container,
        config: &GrpcConfig,
        health: Health,
        stop: CancellationToken,
    ) -> Result<JoinHandle<Result<(), tonic::transport::Error>>> {
        let options = MountOptions {
            max_message_bytes: config.max_message_bytes,
            compression: tonic::codec::CompressionEncoding::Gzip,
        };
        let mut routes = RoutesBuilder::default();
        for service in services {
            (service.mount)(container, &options, &mut routes).map_err(|e| Error::Build {
                component: service.implementation,
                location: service.location,
                source: e.into(),
            })?;
        }
        let (reporter, health_service) = tonic_health::server::health_reporter();
        routes.add_service(health_service);
        if config.reflection {
            let reflection_error =
                |e: tonic_reflection::server::Error| Error::Usage(format!("gRPC reflection: {e}"));
            routes.add_service(
                reflection(descriptor_sets)
                    .build_v1()
                    .map_err(reflection_error)?,
            );
            // v1alpha too: older tools (grpcurl among them) still ask for it.
            routes.add_service(
                reflection(descriptor_sets)
                    .build_v1alpha()
                    .map_err(reflection_error)?,
            );
        }
        let names: Vec<&'static str> = services.iter().map(|s| s.service).collect();
        // The calls' drain starts once health said `NOT_SERVING` (right after `stop`).
        let not_serving = CancellationToken::new();
        let said = not_serving.clone();
        // The server starts once health has its first status (see `follow_health`).
        let (health_set, starting) = tokio::sync::oneshot::channel();
        tokio::spawn(follow_health(
            reporter,
            names,
            health.clone(),
            health_set,
            stop,
            said,
        ));
        // Left for the rest of the process, as the drain is: tonic clones the span maker on
        // every call, and an `Arc` here would bounce its count between the cores.
        let served = Served::leak(services);

        // Outermost first.
        let outer = request_id_layer();
        let inner = tower::ServiceBuilder::new()
            .layer(WorkContextLayer::new(move |request: &Request<_>| {
                super::span::of_request(request, served)
            }))
            .layer(
                // Classified as `new_for_grpc` does, counting each call on the way.
                TraceLayer::new(GrpcMetrics)
                    .make_span_with(span_of)
                    .on_response(super::span::on_response::<_, false>)
                    .on_eos(super::span::on_eos::<false>)
                    // Failed calls are logged where the error is mapped, with its chain.
                    .on_failure(DefaultOnFailure::new().level(Level::DEBUG)),
            )
            .layer(CatchPanicLayer::custom(panic_response));
        // Deadlines and shutdown per call, innermost: what it answers is traced and counted.
        // Leaving is the accept loop's business here (see `accept`).
        let drain = Drain::new(not_serving, std::future::pending());
        let calls = CallLayer {
            limit: config.request_timeout(),
            drain,
        };
        // Innermost: a refused call never reaches its service; `None` (nothing in the way)
        // when no method declares a requirement.
        let guard = super::identity::guard(services, container.get::<dyn Authenticator>());
        // Inside the guard, which names the client.
        let limit = super::rate_limit::layer(
            self.limits,
            container.get::<dyn RateLimiter>(),
            config.proxies(),
        );
        let keepalive = Duration::from_secs(config.keepalive_secs);
        let builder = tonic::transport::Server::builder()
            .max_concurrent_streams(config.max_concurrent_streams)
            .http2_keepalive_interval(Some(keepalive))
            .http2_keepalive_timeout(Some(keepalive.min(KEEPALIVE_TIMEOUT)))
            .layer(outer);
        let listener = self.listener;
        // `Server::layer` nests each new layer inside the ones before. Once no call is in
        // flight, connections still open (a client ignoring `GOAWAY`, or stalled before its
        // HTTP/2 preface) do not hold the drain.
        Ok(tokio::spawn(async move {
            let _ = starting.await;
            let router = builder
                .layer(inner)
                .layer(calls)
                .layer(tower::util::option_layer(guard))
                .layer(tower::util::option_layer(limit))
                .add_routes(routes.routes());
            // Two servers on the one listener: tonic sends `GOAWAY` on all of a server's
            // connections when it stops accepting, and a leaving server must keep accepting.
            // The first has the connections from before shutdown was announced, and says
            // `GOAWAY` then: their clients reconnect, to another replica or, until the
            // listener closes, to the second.
            let (before, after) = (mpsc::channel(1), mpsc::channel(1));
            let leaving = async move { health.shutting_down().await };
            let accepting = accept(listener, before.0, after.0, leaving, drain);
            let served = futures_util::future::join(
                router
                    .clone()
                    .serve_with_incoming_shutdown(incoming(before.1), std::future::pending()),
                router.serve_with_incoming_shutdown(incoming(after.1), std::future::pending()),
            );
            let served = async {
                let (first, second) = futures_util::future::join(served, accepting).await.0;
                first.and(second)
            };
            tokio::select! {
                served = served => served,
                () = drain.idle() => Ok(()),
            }
        }))
    }
}

/// A server's connections, as tonic takes them.
fn incoming(
    mut connections: mpsc::Receiver<TcpStream>,
) -> impl futures_util::Stream<Item = std::io::Result<TcpStream>> {
    futures_util::stream::poll_fn(move |cx| connections.poll_recv(cx).map(|io| io.map(Ok)))
}

/// Hands `listener`'s connections to `before` until `leaving` resolves, then to `after` until
/// the drain stops; the end of a channel stops its server, with `GOAWAY` on its connections
/// (`serve_with_incoming_shutdown` is given a signal that never comes, so that it shuts down
/// gracefully when its incoming connections end).
async fn accept(
    listener: TcpListener,
    before: mpsc::Sender<TcpStream>,
    after: mpsc::Sender<TcpStream>,
    leaving: impl Future<Output = ()>,
    drain: Drain,
) {
    let mut to = Some(before);
    let mut leaving = std::pin::pin!(leaving);
    let mut incoming = std::pin::pin!(accept::connections(listener, "gRPC", drain.stopped()));
    loop {
        let io = tokio::select! {
            io = incoming.next() => match io {
                Some(io) => io,
                None => return,
            },
            () = &mut leaving, if to.is_some() => {
                to = None;
                continue;
            }
        };
        if to.as_ref().unwrap_or(&after).send(io).await.is_err() {
            return;
        }
    }
}

/// Reflection over the program's descriptor sets and the health service's own.
fn reflection(sets: &[&FileDescriptorSetRecord]) -> tonic_reflection::server::Builder<'static> {
    let builder = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET);
    sets.iter().fold(builder, |builder, set| {
        builder.register_encoded_file_descriptor_set(set.bytes)
    })
}

/// A panicking call answers `Internal` (a trailers-only gRPC response), not HTTP 500.
fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response<String> {
    tracing::error!(panic = %Panicked::of(panic), "gRPC method panicked");
    let mut response = Response::new(String::new());
    *response.status_mut() = HttpStatus::OK;
    let headers = response.headers_mut();
    headers.insert("content-type", HeaderValue::from_static("application/grpc"));
    headers.insert(
        "grpc-status",
        HeaderValue::from(tonic::Code::Internal as i32),
    );
    headers.insert(
        "grpc-message",
        HeaderValue::from_static("the server failed to handle the call"),
    );
    response
}

/// Keeps `grpc.health.v1.Health` in step with the app: `""` and every service are `SERVING`
/// while the app is ready and every required unit is up; each unit (`database`, `redis`, ...)
/// by its own name. `""` starts `NOT_SERVING` (tonic-health starts it `SERVING`), and then
/// `started` is told. When `stop` is cancelled all are `NOT_SERVING`, and then `said` is told,
/// so that `Watch` streams carry `NOT_SERVING` before shutdown ends them.
async fn follow_health(
    reporter: HealthReporter,
    services: Vec<&'static str>,
    health: Health,
    started: tokio::sync::oneshot::Sender<()>,
    stop: CancellationToken,
    said: CancellationToken,
) {
    reporter
        .set_service_status("", ServingStatus::NotServing)
        .await;
    let _ = started.send(());
    let mut statuses = Statuses {
        reporter,
        set: HashMap::from([("", false)]),
    };
    let follow = async {
        let mut phase = health.subscribe();
        let mut report = health.report().await;
        loop {
            phase.borrow_and_update();
            statuses.apply(&report, health.phase(), &services).await;
            tokio::select! {
                _ = tokio::time::sleep(HEALTH_INTERVAL) => {}
                _ = phase.changed() => {
                    // A new phase shows at once, with the units as last checked.
                    phase.borrow_and_update();
                    statuses.apply(&report, health.phase(), &services).await;
                }
            }
            report = health.report().await;
        }
    };
    tokio::select! {
        () = follow => {}
        () = stop.cancelled() => {}
    }
    for name in std::iter::once("").chain(services.iter().copied()) {
        statuses.set(name, false).await;
    }
    said.cancel();
}

/// The statuses health reports, each set only when it changes: tonic-health sends every
/// `set_service_status` to the watchers, and `Watch` promises a message per change
/// (grpc/grpc `doc/health-checking.md`).
struct Statuses {
    reporter: HealthReporter,
    set: HashMap<&'static str, bool>,
}

impl Statuses {
    /// `""` and every service serve while the app is ready and every required unit is up.
    async fn apply(&mut self, report: &Report, phase: Phase, services: &[&'static str]) {
        let ready = phase == Phase::Ready && report.serving();
        for unit in &report.units {
            self.set(unit.name, unit.status == "up").await;
        }
        for name in std::iter::once("").chain(services.iter().copied()) {
            self.set(name, ready).await;
        }
    }

    async fn set(&mut self, name: &'static str, serving: bool) {
        if self.set.insert(name, serving) == Some(serving) {
            return;
        }
        let status = if serving {
            ServingStatus::Serving
        } else {
            ServingStatus::NotServing
        };
        self.reporter.set_service_status(name, status).await;
    }
}
