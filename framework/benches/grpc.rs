//! A unary RPC served twice in one process: through `#[grpc_service]` in the real app, and as
//! a hand-written tonic service with what the framework's server has, written the way a tonic
//! user would (request id, trace context, span, call metrics, panic guard, tonic's deadline,
//! message limits, gzip, the health service, HTTP/2 stream limit and keep-alive, and a graceful
//! stop); a third side is that tonic server without the graceful stop, so that the stop's
//! watch on every connection shows (within this machine's noise when measured). Many
//! concurrent calls over several HTTP/2 channels load each in rotating rounds; it prints
//! calls/s, p99 and the ratios.
//!
//! Run with `cargo bench -p framework --bench grpc` (env: BENCH_ROUNDS, BENCH_SECS,
//! BENCH_CHANNELS, BENCH_CONCURRENCY).

#![allow(missing_docs)]

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use framework::config::Settings;
use framework::tonic::{Request, Response, Status};
use framework::{App, grpc_service, module};
use framework_test_support::probe::probe_client::ProbeClient;
use framework_test_support::probe::probe_server::{self, ProbeServer};
use framework_test_support::probe::{EchoReply, EchoRequest, SleepRequest};
use tonic::codec::CompressionEncoding;
use tonic::transport::Channel;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;

const MAX_MESSAGE: usize = 4 * 1024 * 1024;

fn reply(request: Request<EchoRequest>) -> Result<Response<EchoReply>, Status> {
    Ok(Response::new(EchoReply {
        message: request.into_inner().message,
    }))
}

#[module]
pub struct Echo;

#[grpc_service]
impl probe_server::Probe for Echo {
    async fn echo(&self, request: Request<EchoRequest>) -> Result<Response<EchoReply>, Status> {
        reply(request)
    }
    async fn sleep(&self, _: Request<SleepRequest>) -> Result<Response<EchoReply>, Status> {
        Err(Status::unimplemented("not benchmarked"))
    }
    async fn panic(&self, _: Request<EchoRequest>) -> Result<Response<EchoReply>, Status> {
        Err(Status::unimplemented("not benchmarked"))
    }
}

/// What a hand-wiring tonic user writes, with the same layers.
struct HandEcho;

#[tonic::async_trait]
impl probe_server::Probe for HandEcho {
    async fn echo(&self, request: Request<EchoRequest>) -> Result<Response<EchoReply>, Status> {
        reply(request)
    }
    async fn sleep(&self, _: Request<SleepRequest>) -> Result<Response<EchoReply>, Status> {
        Err(Status::unimplemented("not benchmarked"))
    }
    async fn panic(&self, _: Request<EchoRequest>) -> Result<Response<EchoReply>, Status> {
        Err(Status::unimplemented("not benchmarked"))
    }
}

/// A hand-written tonic server; `graceful` as a production one is (stopping on Ctrl-C with
/// `serve_with_incoming_shutdown`, which watches every connection for the signal so that it
/// can send GOAWAY), else the bare `serve_with_incoming`.
async fn serve_by_hand(graceful: bool) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let header = framework::axum::http::HeaderName::from_static("x-request-id");
    let layers = tower::ServiceBuilder::new()
        .layer(framework::serving::request_id_layer())
        // W3C trace context, as a hand-wiring user who propagates traces would add, with a
        // span per call.
        .layer(framework::serving::WorkContextLayer::new(
            move |request: &framework::axum::http::Request<tonic::body::Body>| {
                let id = request
                    .headers()
                    .get(&header)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default();
                tracing::info_span!(
                    "grpc",
                    method = %request.uri().path(),
                    request_id = id,
                    trace_id = tracing::field::Empty,
                    span_id = tracing::field::Empty,
                )
            },
        ))
        // The framework's call metrics, as a hand-wiring user would add some.
        .layer(
            TraceLayer::new(framework::grpc::GrpcMetrics)
                .make_span_with(framework::serving::span_of),
        )
        .layer(CatchPanicLayer::new());
    let service = ProbeServer::new(HandEcho)
        .max_decoding_message_size(MAX_MESSAGE)
        .max_encoding_message_size(MAX_MESSAGE)
        .accept_compressed(CompressionEncoding::Gzip)
        .send_compressed(CompressionEncoding::Gzip);
    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_serving::<ProbeServer<HandEcho>>().await;
    // The framework's defaults: hyper's stream limit, and a 60 s keep-alive PING.
    let server = tonic::transport::Server::builder()
        .timeout(Duration::from_secs(30))
        .max_concurrent_streams(200)
        .http2_keepalive_interval(Some(Duration::from_secs(60)))
        .http2_keepalive_timeout(Some(Duration::from_secs(20)))
        .layer(layers)
        .add_service(health_service)
        .add_service(service);
    let incoming = tonic::transport::server::TcpIncoming::from(listener);
    if graceful {
        tokio::spawn(server.serve_with_incoming_shutdown(incoming, common::ctrl_c()));
    } else {
        tokio::spawn(server.serve_with_incoming(incoming));
    }
    addr
}

async fn load(
    addr: SocketAddr,
    channels: usize,
    concurrency: usize,
    length: Duration,
) -> common::Round {
    let mut clients = Vec::new();
    for _ in 0..channels {
        let channel = Channel::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect()
            .await
            .unwrap();
        clients.push(ProbeClient::new(channel));
    }
    let loops = (0..channels * concurrency)
        .map(|i| clients[i % channels].clone())
        .collect();
    common::round(loops, length, |mut client| async move {
        let reply = client
            .echo(EchoRequest {
                message: "ping".into(),
            })
            .await
            .expect("call");
        assert_eq!(reply.get_ref().message, "ping");
        client
    })
    .await
}

#[tokio::main]
async fn main() {
    // Rounds vary by a few percent each: 8 of them give a stable ratio.
    let plan = common::Plan::from_env(8);
    let channels = common::env("BENCH_CHANNELS", 4) as usize;
    let concurrency = common::env("BENCH_CONCURRENCY", 16) as usize;
    let settings = Settings::from_pairs([
        ("DATABASE_URL", ""),
        ("HTTP_PORT", "0"),
        ("GRPC_PORT", "0"),
        ("GRPC_MAX_MESSAGE_BYTES", "4194304"),
    ]);
    let app = App::from_settings(settings).unwrap().start().await.unwrap();
    let framework_addr = app.grpc_addr().expect("a gRPC port");
    let hand_addr = serve_by_hand(true).await;
    let bare_addr = serve_by_hand(false).await;
    println!("{channels} channels x {concurrency} concurrent calls");
    plan.compare_sides(
        "calls",
        vec![
            common::side("#[grpc_service]", |length| {
                load(framework_addr, channels, concurrency, length)
            }),
            common::side("hand-written tonic", |length| {
                load(hand_addr, channels, concurrency, length)
            }),
            common::side("hand, no graceful stop", |length| {
                load(bare_addr, channels, concurrency, length)
            }),
        ],
    )
    .await;
    app.shutdown().await.unwrap();
}
