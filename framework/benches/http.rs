//! The same JSON handler served three times in one process: through `#[http_route]` +
//! `Inject<T>` in the real app, as a hand-written axum route with the same middleware stack
//! and a graceful stop, as the framework's server has (the target: the framework within 2% of
//! it), and as a bare axum route with neither, so the standard stack's own cost shows. A
//! keep-alive client loads each in rotating rounds over loopback and reports requests/s, p99
//! latency and the ratios. Then the same route behind `scope = ..`, called with a valid bearer
//! token (ES256, verified against a JWKS served here), against the route without
//! authentication (the target: within 5% of it). Then the route called with a `traceparent`
//! against with a header of the same size that nothing reads (the target: within 1%: what
//! reading it with OpenTelemetry's propagator costs, the bytes on the wire set apart), and,
//! for reference, without either, and with `tracestate` and `baggage` beside the
//! `traceparent`.
//!
//! Run with `cargo bench -p framework --bench http` (env: BENCH_ROUNDS, BENCH_SECS,
//! BENCH_CONCURRENCY; BENCH_OTLP=1 exports every span over OTLP/gRPC to a receiver in the
//! bench, through the app's subscriber: compare its ratios with a run without).

#![allow(missing_docs)]

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use framework::axum::extract::State;
use framework::axum::routing::get;
use framework::axum::{Json, Router};
use framework::config::Settings;
use framework::http::HttpConfig;
use framework::{App, Inject, http_route, module};
use framework_test_support::issuer::{self, Issuer, SigningKey};
use framework_test_support::otlp::Receiver;
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

/// The same handler, for callers holding `greet`.
#[http_route(GET, "/greet/secure", scope = "greet")]
async fn greet_secure(greeter: Inject<Greeter>) -> Json<Reply> {
    Json(greeter.reply())
}

/// What a hand-wiring axum user writes: state holds the component, same layers.
async fn greet_by_hand(State(greeter): State<Arc<Greeter>>) -> Json<Reply> {
    Json(greeter.reply())
}

/// The hand-written route, as a production service serves it (the standard layers, and a
/// graceful stop on Ctrl-C, as the framework's server has one) or (`bare`) with neither.
async fn serve_by_hand(bare: bool) -> SocketAddr {
    let greeter = Arc::new(Greeter {
        count: Default::default(),
    });
    let api = Router::new()
        .route("/greet", get(greet_by_hand))
        .with_state(greeter);
    let router = Router::new().nest("/api/v1", api);
    let router = if bare {
        router
    } else {
        framework::http::apply_standard_layers(router, &HttpConfig::default())
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let serve = framework::axum::serve(listener, router);
    if bare {
        tokio::spawn(async move { serve.await });
    } else {
        tokio::spawn(async move { serve.with_graceful_shutdown(common::ctrl_c()).await });
    }
    addr
}

/// `concurrency` keep-alive loops against `url` for `length`, each request with `headers`.
async fn load(
    url: &str,
    headers: &[(&'static str, &str)],
    concurrency: usize,
    length: Duration,
) -> common::Round {
    let uri: hyper::Uri = url.parse().unwrap();
    // A client per loop, each with its own pool and so its own connection, as wrk's
    // connections are: loops sharing one pool take each other's connections, and the pool's
    // bookkeeping then varies with timing and moves the client's share from side to side.
    let headers: Vec<(&'static str, hyper::header::HeaderValue)> = headers
        .iter()
        .map(|(name, value)| (*name, value.parse().unwrap()))
        .collect();
    let clients = (0..concurrency)
        .map(|_| {
            let client: Client<_, Empty<Bytes>> =
                Client::builder(TokioExecutor::new()).build_http();
            (client, uri.clone(), headers.clone())
        })
        .collect();
    common::round(clients, length, |(client, uri, headers)| async move {
        let mut request = hyper::Request::get(uri.clone());
        for (name, value) in &headers {
            request = request.header(*name, value);
        }
        let request = request.body(Empty::new()).expect("a request");
        let response = client.request(request).await.expect("request");
        assert!(response.status().is_success());
        let body = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        assert!(!body.is_empty());
        (client, uri, headers)
    })
    .await
}

#[tokio::main]
async fn main() {
    let plan = common::Plan::from_env(4);
    let concurrency = common::env("BENCH_CONCURRENCY", 32) as usize;
    let issuer = Issuer::default();
    let key = SigningKey::new("bench");
    issuer.publish(&key);
    let jwks = issuer.serve().await;
    // BENCH_OTLP=1: every span exported over OTLP/gRPC (100% sampling) to a receiver here,
    // through the app's subscriber; else no subscriber, as before (the `otel` feature
    // compiled, no endpoint).
    let receiver = match std::env::var("BENCH_OTLP").as_deref() {
        Ok("1") => Some(Receiver::start("127.0.0.1:0").await),
        _ => None,
    };
    let endpoint = receiver
        .as_ref()
        .map(Receiver::endpoint)
        .unwrap_or_default();
    let settings = Settings::from_pairs([
        ("DATABASE_URL", ""),
        ("HTTP_PORT", "0"),
        ("AUTH_JWKS_URL", &jwks),
        ("AUTH_ISSUER", "https://issuer.bench"),
        ("AUTH_AUDIENCE", "bench"),
        ("AUTH_ALGORITHMS", "ES256"),
        ("LOG_LEVEL", "warn"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
    ]);
    let app = App::from_settings(settings).unwrap();
    if receiver.is_some() {
        framework::telemetry::init(app.config(), app.tracing_layers());
        println!("spans exported over OTLP/gRPC to {endpoint}, all sampled");
    }
    let app = app.start().await.unwrap();
    let framework_url = format!("http://{}/api/v1/greet", app.http_addr());
    let secure_url = format!("http://{}/api/v1/greet/secure", app.http_addr());
    let bearer = format!(
        "Bearer {}",
        key.token(&issuer::claims("https://issuer.bench", "bench", "greet"))
    );
    let hand_url = format!("http://{}/api/v1/greet", serve_by_hand(false).await);
    let bare_url = format!("http://{}/api/v1/greet", serve_by_hand(true).await);
    println!("{concurrency} keep-alive connections");
    plan.compare_sides(
        "req",
        vec![
            common::side("#[http_route] + Inject", |length| {
                load(&framework_url, &[], concurrency, length)
            }),
            common::side("hand-written axum", |length| {
                load(&hand_url, &[], concurrency, length)
            }),
            common::side("bare axum, no layers", |length| {
                load(&bare_url, &[], concurrency, length)
            }),
        ],
    )
    .await;
    println!("\nthe route behind `scope = \"greet\"`, with a valid bearer token, and without:");
    let authorization = [("authorization", bearer.as_str())];
    plan.pair("bearer token / no authentication")
        .target(0.95)
        .compare_sides(
            "req",
            vec![
                common::side("scope + bearer token", |length| {
                    load(&secure_url, &authorization, concurrency, length)
                }),
                common::side("no authentication", |length| {
                    load(&framework_url, &[], concurrency, length)
                }),
            ],
        )
        .await;
    println!(
        "\nthe route called with a traceparent (read by OpenTelemetry's propagator), and with \
         a header of its size that nothing reads; without either; and with a tracestate and a \
         baggage beside the traceparent:"
    );
    let traceparent = [(
        "traceparent",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    )];
    // Same name length, same value length: the client builds and the server parses the same
    // bytes, so the pair's ratio is the propagator's alone.
    let unread = [(
        "x-unread-ab",
        "00-00000000000000000000000000000000-0000000000000000-00",
    )];
    let full = [
        traceparent[0],
        ("tracestate", "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"),
        ("baggage", "tenant=acme,region=eu-west-1"),
    ];
    plan.pair("traceparent / unread header")
        .target(0.99)
        .compare_sides(
            "req",
            vec![
                common::side("with a traceparent", |length| {
                    load(&framework_url, &traceparent, concurrency, length)
                }),
                common::side("an unread header", |length| {
                    load(&framework_url, &unread, concurrency, length)
                }),
                common::side("without either", |length| {
                    load(&framework_url, &[], concurrency, length)
                }),
                common::side("all three headers", |length| {
                    load(&framework_url, &full, concurrency, length)
                }),
            ],
        )
        .await;
    app.shutdown().await.unwrap();
    if let Some(receiver) = receiver {
        println!("{} spans received", receiver.spans().len());
    }
}
