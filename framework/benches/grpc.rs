//! A unary RPC served twice in one process: through `#[grpc_service]` in the real app, and as
//! a hand-written tonic service with the same layers (request id, span, panic guard, deadline,
//! message limits). Many concurrent calls over several HTTP/2 channels load each in
//! alternating rounds; it prints calls/s, p99 and the ratio.
//!
//! Run with `cargo bench -p framework --bench grpc` (env: BENCH_ROUNDS, BENCH_SECS,
//! BENCH_CHANNELS, BENCH_CONCURRENCY).

#![allow(missing_docs)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use framework::config::Settings;
use framework::tonic::{Request, Response, Status};
use framework::{App, grpc_service, module};
use framework_test_support::probe::probe_client::ProbeClient;
use framework_test_support::probe::probe_server::{self, ProbeServer};
use framework_test_support::probe::{EchoReply, EchoRequest, SleepRequest};
use tonic::transport::Channel;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
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

async fn serve_by_hand() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let header = framework::axum::http::HeaderName::from_static("x-request-id");
    let layers = tower::ServiceBuilder::new()
        .layer(SetRequestIdLayer::new(header.clone(), MakeRequestUuid))
        .layer(PropagateRequestIdLayer::new(header.clone()))
        .layer(TraceLayer::new_for_grpc().make_span_with(
            move |request: &framework::axum::http::Request<tonic::body::Body>| {
                let id = request
                    .headers()
                    .get(&header)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default();
                tracing::info_span!("grpc", method = %request.uri().path(), request_id = id)
            },
        ))
        .layer(CatchPanicLayer::new());
    let service = ProbeServer::new(HandEcho)
        .max_decoding_message_size(MAX_MESSAGE)
        .max_encoding_message_size(MAX_MESSAGE);
    let server = tonic::transport::Server::builder()
        .timeout(Duration::from_secs(30))
        .layer(layers)
        .add_service(service)
        .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener));
    tokio::spawn(server);
    addr
}

struct Round {
    calls: u64,
    elapsed: Duration,
    latencies: Vec<u32>,
}

async fn load(addr: SocketAddr, channels: usize, concurrency: usize, secs: u64) -> Round {
    let mut clients = Vec::new();
    for _ in 0..channels {
        let channel = Channel::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect()
            .await
            .unwrap();
        clients.push(ProbeClient::new(channel));
    }
    let start = Instant::now();
    let deadline = start + Duration::from_secs(secs);
    let tasks: Vec<_> = (0..channels * concurrency)
        .map(|i| {
            let mut client = clients[i % channels].clone();
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                while Instant::now() < deadline {
                    let sent = Instant::now();
                    let reply = client
                        .echo(EchoRequest {
                            message: "ping".into(),
                        })
                        .await
                        .expect("call");
                    assert_eq!(reply.get_ref().message, "ping");
                    latencies.push(sent.elapsed().as_micros() as u32);
                }
                latencies
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.unwrap());
    }
    Round {
        calls: latencies.len() as u64,
        elapsed: start.elapsed(),
        latencies,
    }
}

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn summary(rounds: &[Round]) -> (f64, u32) {
    let calls: u64 = rounds.iter().map(|r| r.calls).sum();
    let secs: f64 = rounds.iter().map(|r| r.elapsed.as_secs_f64()).sum();
    let mut latencies: Vec<u32> = rounds
        .iter()
        .flat_map(|r| r.latencies.iter().copied())
        .collect();
    latencies.sort_unstable();
    let p99 = latencies[(latencies.len() * 99 / 100).min(latencies.len() - 1)];
    (calls as f64 / secs, p99)
}

#[tokio::main]
async fn main() {
    // `cargo bench` passes `--bench`; under `cargo test` this is a short smoke run.
    let measuring = std::env::args().any(|a| a == "--bench");
    let (rounds, secs) = if measuring {
        (env("BENCH_ROUNDS", 8), env("BENCH_SECS", 3))
    } else {
        (1, 1)
    };
    let channels = env("BENCH_CHANNELS", 4) as usize;
    let concurrency = env("BENCH_CONCURRENCY", 16) as usize;
    let settings = Settings::from_pairs([
        ("DATABASE_URL", ""),
        ("HTTP_PORT", "0"),
        ("GRPC_PORT", "0"),
        ("GRPC_MAX_MESSAGE_BYTES", "4194304"),
    ]);
    let app = App::from_settings(settings).unwrap().start().await.unwrap();
    let framework_addr = app.grpc_addr().expect("a gRPC port");
    let hand_addr = serve_by_hand().await;

    load(framework_addr, channels, concurrency, 1).await;
    load(hand_addr, channels, concurrency, 1).await;
    let (mut framework_rounds, mut hand_rounds) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        let (first, second) = if round % 2 == 0 {
            (framework_addr, hand_addr)
        } else {
            (hand_addr, framework_addr)
        };
        let a = load(first, channels, concurrency, secs).await;
        let b = load(second, channels, concurrency, secs).await;
        let (f, h) = if round % 2 == 0 { (a, b) } else { (b, a) };
        println!(
            "round {}: framework {:>9.0} calls/s, hand-written {:>9.0} calls/s",
            round + 1,
            f.calls as f64 / f.elapsed.as_secs_f64(),
            h.calls as f64 / h.elapsed.as_secs_f64()
        );
        framework_rounds.push(f);
        hand_rounds.push(h);
    }
    let (f_cps, f_p99) = summary(&framework_rounds);
    let (h_cps, h_p99) = summary(&hand_rounds);
    println!(
        "{channels} channels x {concurrency} concurrent calls, {rounds} rounds of {secs}s each:"
    );
    println!("  #[grpc_service]      {f_cps:>9.0} calls/s  p99 {f_p99} us");
    println!("  hand-written tonic   {h_cps:>9.0} calls/s  p99 {h_p99} us");
    println!(
        "  ratio (framework / hand-written): {:.3} (target >= 0.98)",
        f_cps / h_cps
    );
    if !measuring {
        println!("  (smoke run of a debug build: use `cargo bench` for figures)");
    }
    app.shutdown().await.unwrap();
}
