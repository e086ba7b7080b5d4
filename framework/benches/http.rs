//! The same JSON handler served twice in one process: through `#[http_route]` + `Inject<T>`
//! in the real app, and as a hand-written axum route with the same middleware stack. A
//! keep-alive client loads each in alternating rounds over loopback and reports requests/s,
//! p99 latency and the ratio.
//!
//! Run with `cargo bench -p framework --bench http` (env: BENCH_ROUNDS, BENCH_SECS,
//! BENCH_CONCURRENCY).

#![allow(missing_docs)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use framework::axum::extract::State;
use framework::axum::routing::get;
use framework::axum::{Json, Router};
use framework::config::{HttpConfig, Settings};
use framework::{App, Inject, http_route, module};
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde::Serialize;

#[module]
pub struct Greeter {
    #[state]
    count: std::sync::atomic::AtomicU64,
}

impl Greeter {
    fn reply(&self) -> Reply {
        let n = self
            .count
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Reply {
            message: "hello",
            n,
        }
    }
}

#[derive(Serialize)]
pub struct Reply {
    message: &'static str,
    n: u64,
}

#[http_route(GET, "/greet")]
async fn greet(greeter: Inject<Greeter>) -> Json<Reply> {
    Json(greeter.reply())
}

/// What a hand-wiring axum user writes: state holds the component, same layers.
async fn greet_by_hand(State(greeter): State<Arc<Greeter>>) -> Json<Reply> {
    Json(greeter.reply())
}

async fn serve_by_hand() -> SocketAddr {
    let greeter = Arc::new(Greeter {
        count: Default::default(),
    });
    let api = Router::new()
        .route("/greet", get(greet_by_hand))
        .with_state(greeter);
    let router = framework::http::apply_standard_layers(
        Router::new().nest("/api/v1", api),
        &HttpConfig::default(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { framework::axum::serve(listener, router).await });
    addr
}

struct Round {
    requests: u64,
    elapsed: Duration,
    latencies: Vec<u32>,
}

/// `concurrency` keep-alive loops against `url` for `secs`.
async fn load(url: &str, concurrency: usize, secs: u64) -> Round {
    let client: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let uri: hyper::Uri = url.parse().unwrap();
    let start = Instant::now();
    let deadline = start + Duration::from_secs(secs);
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let (client, uri) = (client.clone(), uri.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                while Instant::now() < deadline {
                    let sent = Instant::now();
                    let response = client.get(uri.clone()).await.expect("request");
                    assert!(response.status().is_success());
                    let body = response
                        .into_body()
                        .collect()
                        .await
                        .expect("body")
                        .to_bytes();
                    assert!(!body.is_empty());
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
        requests: latencies.len() as u64,
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
    let requests: u64 = rounds.iter().map(|r| r.requests).sum();
    let secs: f64 = rounds.iter().map(|r| r.elapsed.as_secs_f64()).sum();
    let mut latencies: Vec<u32> = rounds
        .iter()
        .flat_map(|r| r.latencies.iter().copied())
        .collect();
    latencies.sort_unstable();
    let p99 = latencies[(latencies.len() * 99 / 100).min(latencies.len() - 1)];
    (requests as f64 / secs, p99)
}

#[tokio::main]
async fn main() {
    // `cargo bench` passes `--bench`; under `cargo test` this is a short smoke run.
    let measuring = std::env::args().any(|a| a == "--bench");
    let (rounds, secs) = if measuring {
        (env("BENCH_ROUNDS", 4), env("BENCH_SECS", 3))
    } else {
        (1, 1)
    };
    let concurrency = env("BENCH_CONCURRENCY", 32) as usize;
    let settings = Settings::from_pairs([("DATABASE_URL", ""), ("HTTP_PORT", "0")]);
    let app = App::from_settings(settings).unwrap().start().await.unwrap();
    let framework_url = format!("http://{}/api/v1/greet", app.http_addr());
    let hand_url = format!("http://{}/api/v1/greet", serve_by_hand().await);

    // Warm both up, then alternate so drift (CPU frequency, other load) hits both alike.
    load(&framework_url, concurrency, 1).await;
    load(&hand_url, concurrency, 1).await;
    let (mut framework_rounds, mut hand_rounds) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        let (first, second) = if round % 2 == 0 {
            (&framework_url, &hand_url)
        } else {
            (&hand_url, &framework_url)
        };
        let a = load(first, concurrency, secs).await;
        let b = load(second, concurrency, secs).await;
        let (f, h) = if round % 2 == 0 { (a, b) } else { (b, a) };
        println!(
            "round {}: framework {:>9.0} req/s, hand-written {:>9.0} req/s",
            round + 1,
            f.requests as f64 / f.elapsed.as_secs_f64(),
            h.requests as f64 / h.elapsed.as_secs_f64()
        );
        framework_rounds.push(f);
        hand_rounds.push(h);
    }
    let (f_rps, f_p99) = summary(&framework_rounds);
    let (h_rps, h_p99) = summary(&hand_rounds);
    println!("concurrency {concurrency}, {rounds} rounds of {secs}s each:");
    println!("  #[http_route] + Inject  {f_rps:>9.0} req/s  p99 {f_p99} us");
    println!("  hand-written axum       {h_rps:>9.0} req/s  p99 {h_p99} us");
    println!(
        "  ratio (framework / hand-written): {:.3} (target >= 0.98)",
        f_rps / h_rps
    );
    if !measuring {
        println!("  (smoke run of a debug build: use `cargo bench` for figures)");
    }
    app.shutdown().await.unwrap();
}
