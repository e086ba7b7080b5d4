//! Outbound gRPC: a tonic [`Channel`] behind a circuit breaker of its own, with retries and
//! backoff for the calls the caller says are idempotent; each call is traced and carries the
//! work's trace and request id on (see [`TracedChannel`]).
//!
//! ```ignore
//! let remote = GrpcClient::lazy("articles-remote", &endpoint, *breakers)
//!     .with_retries(Retries::default());
//! let article = remote
//!     .call_idempotent(|channel| {
//!         let request = request.clone();
//!         async move { ArticleServiceClient::new(channel).get_article(request).await }
//!     })
//!     .await?;
//! ```
//!
//! While the remote is known to be down, a call fails at once with `UNAVAILABLE`, its source
//! the [`CircuitOpen`] (a domain error wrapping it answers 503 with `Retry-After`, or gRPC
//! `UNAVAILABLE` with `RetryInfo`). Only `UNAVAILABLE` outcomes (tonic's too: it cannot
//! connect) count against the remote; any other answer, `DEADLINE_EXCEEDED` included, is an
//! answer.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Status};

use super::TracedChannel;
use super::traced_channel::{Server, traced};
use crate::breaker::{Breaker, BreakerConfig, CircuitOpen, CircuitState, is_refusal};
use crate::health::{Health, Probe};

/// How an idempotent call is retried: gRPC's retry policy (gRFC A6) for `UNAVAILABLE`, the
/// code a server answers for what it did not do, with exponential backoff and jitter.
#[derive(Debug, Clone, Copy)]
pub struct Retries {
    /// Attempts in all, the first included; default 3 (`1`, or `0`: no retry).
    pub max_attempts: usize,
    /// The backoff before the first retry, doubled for each next one, each plus a random
    /// jitter of up to its own length; default 50 ms.
    pub initial_backoff: Duration,
    /// The longest backoff, before its jitter; default 1 s.
    pub max_backoff: Duration,
}

impl Default for Retries {
    fn default() -> Retries {
        Retries {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(1),
        }
    }
}

/// A channel to one remote service and its breaker (`circuit_breaker_state{breaker = name}`).
/// Cheap to clone: clones share the channel and the breaker.
#[derive(Debug, Clone)]
pub struct GrpcClient {
    channel: Channel,
    /// The server, when the client was made from its endpoint.
    server: Option<Arc<Server>>,
    breaker: Breaker,
    retries: Retries,
}

impl GrpcClient {
    /// `channel` (made with `connect_lazy`, so that building needs no remote) behind a
    /// breaker named `name` with `breaker`'s settings (`BREAKER_*`, injected as
    /// `Config<BreakerConfig>`); no retries until [`with_retries`](Self::with_retries).
    pub fn new(name: &'static str, channel: Channel, breaker: BreakerConfig) -> GrpcClient {
        GrpcClient {
            channel,
            server: None,
            breaker: Breaker::new(name, breaker),
            retries: Retries {
                max_attempts: 1,
                ..Retries::default()
            },
        }
    }

    /// A channel to `endpoint`, connected at the first call (so building needs no remote),
    /// as [`new`](Self::new) takes it; the calls' spans name the server (`server.address`,
    /// `server.port`, after OpenTelemetry's RPC conventions), which a channel alone does not
    /// tell.
    pub fn lazy(name: &'static str, endpoint: &Endpoint, breaker: BreakerConfig) -> GrpcClient {
        GrpcClient {
            server: Server::of(endpoint.uri()).map(Arc::new),
            ..GrpcClient::new(name, endpoint.connect_lazy(), breaker)
        }
    }

    /// Retries idempotent calls with `retries`.
    pub fn with_retries(mut self, retries: Retries) -> GrpcClient {
        self.retries = retries;
        self
    }

    /// Shows the breaker in `/health` as an optional unit named after it: down while open
    /// (the app is degraded, not unready), with its `circuit` beside. `health` is injectable
    /// (a `#[module]` field of type `Health`).
    pub fn with_health(self, health: &Health) -> GrpcClient {
        let breaker = self.breaker.clone();
        health.add_probed_unit(breaker.name(), true, move || {
            let breaker = breaker.clone();
            async move {
                Probe {
                    result: match breaker.state() {
                        CircuitState::Open => Err("the circuit breaker is open".to_owned()),
                        _ => Ok(()),
                    },
                    details: Some(breaker.health_details()),
                }
            }
        });
        self
    }

    /// The breaker, for its state.
    pub fn breaker(&self) -> &Breaker {
        &self.breaker
    }

    /// Makes `call` on the channel, through the breaker: for a method that must not run
    /// twice. Fails with `UNAVAILABLE` at once while the breaker is open. A call the remote
    /// never processed is made again at once, up to 3 times (gRFC A6's transparent retry,
    /// which grpc-go makes and tonic does not): one hyper still held when its connection
    /// closed, one the server's `GOAWAY` (a rolling restart) left above its last stream id
    /// or that was opened after it, and one the server reset with `REFUSED_STREAM`.
    pub async fn call<T, F, Fut>(&self, mut call: F) -> Result<T, Status>
    where
        F: FnMut(TracedChannel) -> Fut,
        Fut: Future<Output = Result<T, Status>>,
    {
        let mut unprocessed = 0;
        loop {
            let permit = self.breaker.admit().map_err(refused)?;
            let channel = traced(self.channel.clone(), self.server.clone());
            let outcome = call(channel).await;
            match &outcome {
                // Says nothing of the remote: the permit goes uncounted.
                Err(status) if never_processed(status) && unprocessed < MAX_UNPROCESSED => {
                    unprocessed += 1
                }
                Err(status) => {
                    permit.finish(Some(status));
                    return outcome;
                }
                Ok(_) => {
                    permit.finish(None);
                    return outcome;
                }
            }
        }
    }

    /// Makes `call`, an idempotent method's, and makes it again after a backoff while it
    /// fails with `UNAVAILABLE`, up to [`Retries::max_attempts`] in all; each attempt goes
    /// through the breaker, and an open breaker ends the retries. Returns the last outcome.
    pub async fn call_idempotent<T, F, Fut>(&self, mut call: F) -> Result<T, Status>
    where
        F: FnMut(TracedChannel) -> Fut,
        Fut: Future<Output = Result<T, Status>>,
    {
        let mut backoff = ExponentialBuilder::default()
            .with_min_delay(self.retries.initial_backoff)
            .with_max_delay(self.retries.max_backoff)
            .with_max_times(self.retries.max_attempts.saturating_sub(1))
            .with_jitter()
            .build();
        loop {
            let outcome = self.call(&mut call).await;
            match outcome {
                Err(status) if status.code() == Code::Unavailable && !is_refusal(&status) => {
                    match backoff.next() {
                        Some(delay) => tokio::time::sleep(delay).await,
                        None => return Err(status),
                    }
                }
                outcome => return outcome,
            }
        }
    }
}

/// How many times a call the remote never processed is made again.
const MAX_UNPROCESSED: u32 = 3;

/// Whether the remote never processed the call, so that making it again cannot run it twice:
/// hyper's `Canceled` (still queued when its connection closed); h2's remote `GOAWAY`, which
/// h2 gives only to the streams above the frame's last stream id and to those opened after it
/// (RFC 9113 §6.8), while the streams at or below it are answered or end in a broken pipe;
/// a stream reset by the remote with `REFUSED_STREAM` (§8.7).
fn never_processed(status: &Status) -> bool {
    crate::error::transient::links(status).any(|link| {
        if let Some(error) = link.downcast_ref::<hyper::Error>() {
            return error.is_canceled();
        }
        link.downcast_ref::<h2::Error>().is_some_and(|error| {
            error.is_remote()
                && (error.is_go_away() || error.reason() == Some(h2::Reason::REFUSED_STREAM))
        })
    })
}

/// The status of a call the breaker refused: `UNAVAILABLE`, its source the [`CircuitOpen`]
/// (which says when to try again).
fn refused(open: CircuitOpen) -> Status {
    let mut status = Status::unavailable(open.to_string());
    status.set_source(Arc::new(open));
    status
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    fn client(retries: Retries) -> GrpcClient {
        // Never connected: the calls here do not use it.
        let channel = tonic::transport::Endpoint::from_static("http://127.0.0.1:1").connect_lazy();
        let breaker = BreakerConfig {
            failures: 3,
            open_ms: 60_000,
        };
        GrpcClient::new("test-remote", channel, breaker).with_retries(retries)
    }

    const QUICK: Retries = Retries {
        max_attempts: 3,
        initial_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(2),
    };

    #[tokio::test]
    async fn an_unavailable_idempotent_call_is_retried_up_to_its_attempts() {
        let client = client(QUICK);
        let calls = AtomicUsize::new(0);
        let outcome: Result<(), Status> = client
            .call_idempotent(|_| {
                calls.fetch_add(1, Ordering::SeqCst);
                async { Err(Status::unavailable("down")) }
            })
            .await;
        assert_eq!(outcome.unwrap_err().code(), Code::Unavailable);
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn an_answer_is_not_retried_and_a_retry_can_succeed() {
        let client = client(QUICK);
        let calls = AtomicUsize::new(0);
        let outcome: Result<(), Status> = client
            .call_idempotent(|_| {
                calls.fetch_add(1, Ordering::SeqCst);
                async { Err(Status::not_found("none")) }
            })
            .await;
        assert_eq!(outcome.unwrap_err().code(), Code::NotFound);
        assert_eq!(calls.load(Ordering::SeqCst), 1);

        let calls = AtomicUsize::new(0);
        let outcome = client
            .call_idempotent(|_| {
                let n = calls.fetch_add(1, Ordering::SeqCst);
                async move {
                    if n == 0 {
                        Err(Status::unavailable("down"))
                    } else {
                        Ok(n)
                    }
                }
            })
            .await;
        assert_eq!(outcome.unwrap(), 1);
    }

    #[tokio::test]
    async fn an_open_breaker_refuses_at_once_and_ends_the_retries() {
        let client = client(QUICK);
        let calls = AtomicUsize::new(0);
        // 3 attempts: the breaker's 3 failures.
        let _ = client
            .call_idempotent(|_| {
                calls.fetch_add(1, Ordering::SeqCst);
                async { Err::<(), _>(Status::unavailable("down")) }
            })
            .await;
        assert_eq!(client.breaker().state().as_str(), "open");
        let refused = client
            .call_idempotent(|_| {
                calls.fetch_add(1, Ordering::SeqCst);
                async { Ok(()) }
            })
            .await
            .unwrap_err();
        assert_eq!(calls.load(Ordering::SeqCst), 3, "not called while open");
        assert_eq!(refused.code(), Code::Unavailable);
        let after = crate::breaker::retry_after(&refused);
        assert!(after > Duration::from_secs(50), "{after:?}");
        // A call that must not run twice is refused the same way.
        let once = client.call(|_| async { Ok(()) }).await.unwrap_err();
        assert!(is_refusal(&once));
    }

    /// A listener whose first connection is a bare HTTP/2 peer that waits for the client's
    /// first request, answers `GOAWAY(last_stream_id, NO_ERROR)` and closes, and whose
    /// later connections reach a real tonic server (the health service). Returns its
    /// address and how many connections it took.
    async fn going_away_once(last_stream_id: u32) -> (std::net::SocketAddr, Arc<AtomicUsize>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};

        let (_, health) = tonic_health::server::health_reporter();
        let server = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let served = server.local_addr().unwrap();
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(health)
                .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(server)),
        );
        let front = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = front.local_addr().unwrap();
        let taken = Arc::new(AtomicUsize::new(0));
        let count = taken.clone();
        tokio::spawn(async move {
            while let Ok((mut client, _)) = front.accept().await {
                if count.fetch_add(1, Ordering::SeqCst) > 0 {
                    let mut upstream = tokio::net::TcpStream::connect(served).await.unwrap();
                    tokio::spawn(async move {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                    });
                    continue;
                }
                // The server's (empty) SETTINGS, then frames until the first HEADERS.
                client
                    .write_all(&[0, 0, 0, 4, 0, 0, 0, 0, 0])
                    .await
                    .unwrap();
                let mut preface = [0; 24];
                client.read_exact(&mut preface).await.unwrap();
                loop {
                    let mut header = [0; 9];
                    client.read_exact(&mut header).await.unwrap();
                    let length = u32::from_be_bytes([0, header[0], header[1], header[2]]);
                    let mut payload = vec![0; length as usize];
                    client.read_exact(&mut payload).await.unwrap();
                    if header[3] == 1 {
                        break;
                    }
                }
                let mut go_away = vec![0, 0, 8, 7, 0, 0, 0, 0, 0];
                go_away.extend_from_slice(&last_stream_id.to_be_bytes());
                go_away.extend_from_slice(&0u32.to_be_bytes());
                client.write_all(&go_away).await.unwrap();
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        });
        (address, taken)
    }

    async fn health_check(client: &GrpcClient, calls: &AtomicUsize) -> Result<(), Status> {
        use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
        client
            .call(|channel| {
                calls.fetch_add(1, Ordering::SeqCst);
                async move {
                    HealthClient::new(channel)
                        .check(HealthCheckRequest::default())
                        .await
                        .map(drop)
                }
            })
            .await
    }

    #[tokio::test]
    async fn a_call_left_above_a_goaway_is_made_again_on_a_new_connection() {
        let (address, connections) = going_away_once(0).await;
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{address}"))
            .unwrap()
            .connect_lazy();
        let client = GrpcClient::new("goaway-remote", channel, BreakerConfig::default());
        let calls = AtomicUsize::new(0);
        health_check(&client, &calls).await.unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        assert_eq!(connections.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_call_at_or_below_the_goaway_last_stream_id_is_not_made_again() {
        // Stream 1 may have been processed: the connection's close fails it, once.
        let (address, _) = going_away_once(1).await;
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{address}"))
            .unwrap()
            .connect_lazy();
        let client = GrpcClient::new("goaway-remote", channel, BreakerConfig::default());
        let calls = AtomicUsize::new(0);
        let failed = health_check(&client, &calls).await.unwrap_err();
        assert_eq!(calls.load(Ordering::SeqCst), 1, "{failed:?}");
    }
}
