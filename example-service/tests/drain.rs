//! A rolling restart as a client sees it: the real binary, on PostgreSQL, loaded by standard
//! clients that do what the server tells them (HTTP/1.1 `connection: close`, HTTP/2
//! `GOAWAY`), then SIGTERM with `SHUTDOWN_DELAY_SECS=2`. Every request sent before the
//! listener closed is answered; the loads stop at their first refused connection.
//!
//! Each test prints its counts (run with `--nocapture` to see them).

mod common;

use std::error::Error as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::Process;
use example_service::proto::article::v1 as pb;
use example_service::proto::article::v1::article_service_client::ArticleServiceClient;
use framework::breaker::BreakerConfig;
use framework::grpc::GrpcClient;
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::task::JoinSet;
use tonic::transport::Channel;

/// Keep-alive connections of the HTTP load, calls in flight of the gRPC load.
const CONNECTIONS: usize = 32;
const CALLS: usize = 16;
/// The load before the signal.
const BEFORE: Duration = Duration::from_secs(1);
/// No load runs longer than this, however the server behaves.
const LIMIT: Duration = Duration::from_secs(30);

/// What one load saw.
#[derive(Debug, Default)]
struct Tally {
    /// Requests sent (on a connection the server had accepted).
    sent: usize,
    /// Of those, answered in full with a 2xx.
    answered: usize,
    /// Of those, sent after SIGTERM.
    answered_after_signal: usize,
    /// Responses that said `connection: close`.
    told_to_close: usize,
    /// Requests that found the listener closed (never sent); each ends its loop.
    refused: usize,
    /// Everything else: a reset, a cut body, a status that is not 2xx.
    failed: Vec<String>,
}

impl Tally {
    fn add(&mut self, other: Tally) {
        self.sent += other.sent;
        self.answered += other.answered;
        self.answered_after_signal += other.answered_after_signal;
        self.told_to_close += other.told_to_close;
        self.refused += other.refused;
        self.failed.extend(other.failed);
    }
}

/// Whether `error`'s chain holds a refused TCP connection: the listener was closed, and the
/// request never left the client.
fn refused(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(error);
    while let Some(error) = next {
        if let Some(io) = error.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::ConnectionRefused
        {
            return true;
        }
        next = error.source();
    }
    false
}

/// The whole chain, for a failure's message.
fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut next = error.source();
    while let Some(error) = next {
        text.push_str(&format!(": {error}"));
        next = error.source();
    }
    text
}

/// The service on a new PostgreSQL database and the in-process broker, ready.
async fn service() -> Process {
    let database = common::fresh_postgres_database().await;
    let service = Process::start(&[
        ("DATABASE_URL", &database),
        ("DATABASE_MIGRATE", "true"),
        ("KAFKA_BROKERS", "memory"),
        ("SHUTDOWN_DELAY_SECS", "2"),
        ("SHUTDOWN_TIMEOUT_SECS", "15"),
    ])
    .await;
    let ready = format!("http://{}/health/ready", service.http);
    let deadline = Instant::now() + LIMIT;
    while reqwest::get(&ready).await.map(|r| r.status().as_u16()).ok() != Some(200) {
        assert!(Instant::now() < deadline, "the service never got ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    service
}

/// Runs `load` until it stops by itself (at its first refused connection) or [`LIMIT`];
/// sends SIGTERM after [`BEFORE`]. The tally, and the service's clean exit.
async fn under_load<F, Fut>(service: Process, loops: usize, load: F) -> Tally
where
    F: Fn(Arc<AtomicBool>) -> Fut,
    Fut: Future<Output = Tally> + Send + 'static,
{
    let signalled = Arc::new(AtomicBool::new(false));
    let mut loads = JoinSet::new();
    for _ in 0..loops {
        loads.spawn(tokio::time::timeout(LIMIT, load(signalled.clone())));
    }
    tokio::time::sleep(BEFORE).await;
    service.terminate();
    signalled.store(true, Ordering::Relaxed);
    let mut tally = Tally::default();
    while let Some(done) = loads.join_next().await {
        tally.add(
            done.unwrap()
                .expect("the load stops once the listener closed"),
        );
    }
    let (exit, logs) = service.exit(LIMIT).await;
    assert!(exit.success(), "{exit:?}: {logs:#?}");
    tally
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_http_load_fails_no_request() {
    let service = service().await;
    let url: hyper::Uri = format!("http://{}/api/v1/articles?limit=5", service.http)
        .parse()
        .unwrap();
    // No resending of a request the pool says never went out: a server that closed a
    // connection under a request shows.
    let client = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(CONNECTIONS)
        .retry_canceled_requests(false)
        .build_http::<Empty<Bytes>>();
    let tally = under_load(service, CONNECTIONS, |signalled| {
        let (client, url) = (client.clone(), url.clone());
        async move {
            let mut tally = Tally::default();
            loop {
                let after_signal = signalled.load(Ordering::Relaxed);
                let response = match client.get(url.clone()).await {
                    Ok(response) => response,
                    Err(error) if error.is_connect() && refused(&error) => {
                        tally.refused += 1;
                        return tally;
                    }
                    Err(error) => {
                        tally.sent += 1;
                        tally.failed.push(chain(&error));
                        continue;
                    }
                };
                tally.sent += 1;
                let status = response.status();
                tally.told_to_close += usize::from(
                    response
                        .headers()
                        .get("connection")
                        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"close")),
                );
                match response.into_body().collect().await {
                    Ok(_) if status.is_success() => {
                        tally.answered += 1;
                        tally.answered_after_signal += usize::from(after_signal);
                    }
                    Ok(_) => tally.failed.push(format!("status {status}")),
                    Err(error) => tally.failed.push(format!("body: {}", chain(&error))),
                }
            }
        }
    })
    .await;
    println!("HTTP, {CONNECTIONS} connections, SIGTERM after {BEFORE:?}: {tally:?}");
    assert!(tally.failed.is_empty(), "{tally:?}");
    assert_eq!(tally.sent, tally.answered, "{tally:?}");
    assert!(
        tally.answered_after_signal > 0,
        "served while leaving: {tally:?}"
    );
    assert!(tally.told_to_close > 0, "told to close: {tally:?}");
    assert!(tally.refused > 0, "the listener closed: {tally:?}");
}

/// Through the framework's `GrpcClient` (tonic underneath): a bare tonic `Channel` fails the
/// calls the server never processed, those still queued in hyper when a `GOAWAY` closes their
/// connection (seen: 17 of 2761 in one run) and those on streams above the `GOAWAY`'s last
/// stream id (seen: 13 of 1471 in CI); `GrpcClient::call` makes those again, as gRFC A6's
/// transparent retry says.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_grpc_load_fails_no_call() {
    let service = service().await;
    let channel = Channel::from_shared(format!("http://{}", service.grpc))
        .unwrap()
        .connect_lazy();
    let client = GrpcClient::new("drain-test", channel, BreakerConfig::default());
    let tally = under_load(service, CALLS, |signalled| {
        let client = client.clone();
        async move {
            let mut tally = Tally::default();
            loop {
                let after_signal = signalled.load(Ordering::Relaxed);
                let request = pb::ListArticlesRequest {
                    limit: Some(5),
                    offset: None,
                };
                let listed = client
                    .call(|channel| async move {
                        ArticleServiceClient::new(channel)
                            .list_articles(request)
                            .await
                    })
                    .await;
                match listed {
                    Ok(_) => {
                        tally.sent += 1;
                        tally.answered += 1;
                        tally.answered_after_signal += usize::from(after_signal);
                    }
                    // Refused by the listener, or by the breaker that those refusals opened.
                    Err(status)
                        if status.source().is_some_and(refused)
                            || framework::breaker::is_refusal(&status) =>
                    {
                        tally.refused += 1;
                        return tally;
                    }
                    Err(status) => {
                        tally.sent += 1;
                        let cause = status.source().map(chain).unwrap_or_default();
                        tally.failed.push(format!("{status:?}: {cause}"));
                    }
                }
            }
        }
    })
    .await;
    println!("gRPC, {CALLS} calls at a time, SIGTERM after {BEFORE:?}: {tally:?}");
    assert!(tally.failed.is_empty(), "{tally:?}");
    assert!(
        tally.answered_after_signal > 0,
        "served while leaving: {tally:?}"
    );
    assert!(tally.refused > 0, "the listener closed: {tally:?}");
}
