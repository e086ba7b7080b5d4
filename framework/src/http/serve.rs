//! The HTTP server: accept connections, serve each with hyper (HTTP/1.1), drain on shutdown.
//!
//! Written on hyper rather than with `axum::serve`, which installs no timer: without one,
//! hyper's header read timeout is off and a client that sends half a request head holds its
//! connection for as long as it likes (tokio-rs/axum#2741). Here `HTTP_HEADER_READ_TIMEOUT_SECS`
//! bounds it, and shutdown follows [`crate::serving::drain`]: while leaving, responses say
//! `connection: close`; then idle connections close at once, streaming bodies end, a request
//! body that stalls is cut (503), and in-flight requests finish.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderValue, Request, Response, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::future::RouteFuture;
use futures_util::StreamExt;
use http_body::Frame;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use pin_project_lite::pin_project;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tokio_util::task::task_tracker::TaskTrackerToken;
use tower::Service;

use super::HttpConfig;
use super::Problem;
use super::REQUEST_ID;
use super::Switch;
use super::read_buffer::ShortFirstRead;
use crate::serving::accept;
use crate::serving::drain::{BoxError, Cut, Drain, DrainBody, Ending};

/// The response body: the router's, ending when shutdown cuts it.
type ServedBody = DrainBody<Body, Abort>;

/// Serves `switch` on `listener`; once `leaving` resolves (shutdown announced) every response
/// says `connection: close`; once `stop` is cancelled, drains.
pub(crate) fn serve(
    listener: TcpListener,
    switch: Switch,
    config: &HttpConfig,
    stop: CancellationToken,
    leaving: impl Future<Output = ()> + Send + 'static,
) -> JoinHandle<io::Result<()>> {
    let drain = Drain::new(stop, leaving);
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(config.header_read_timeout_secs));
    tokio::spawn(async move {
        let connections = TaskTracker::new();
        let mut incoming = pin!(accept::connections(listener, "HTTP", drain.stopped()));
        while let Some(io) = incoming.next().await {
            let served = Arc::new(AtomicBool::new(false));
            let service = Connection {
                router: switch.router(),
                peer: io.peer_addr().ok().map(ConnectInfo),
                drain,
                cut: Arc::default(),
                served: served.clone(),
            };
            // A short first read gives hyper a read buffer it can reuse (see read_buffer.rs).
            let connection = builder
                .serve_connection(ShortFirstRead::new(TokioIo::new(io)), service)
                .with_upgrades();
            connections.spawn(async move {
                let mut connection = pin!(connection);
                let result = tokio::select! {
                    result = connection.as_mut() => result,
                    () = drain.stopped() => {
                        // A connection that served a request closes after the one in flight,
                        // or at once if it is between requests. One that has not had its
                        // first yet may be a client's that connected just before the
                        // listener closed, its request on the way: hyper would close it at
                        // once (nothing read yet is idle to hyper), resetting that request.
                        // It is answered instead (with `connection: close`: the server is
                        // leaving), or dropped once nothing is in flight.
                        if served.load(Ordering::Relaxed) {
                            connection.as_mut().graceful_shutdown();
                        }
                        tokio::select! {
                            result = connection => result,
                            () = drain.idle() => Ok(()),
                        }
                    }
                };
                if let Err(error) = result {
                    tracing::debug!(%error, "HTTP connection ended with an error");
                }
            });
        }
        connections.close();
        connections.wait().await;
        Ok(())
    })
}

/// One connection's service: its router, with the request and response bodies under the drain.
struct Connection {
    router: Router,
    /// The client's address, for each request (`ConnectInfo<SocketAddr>`, as axum's own
    /// server gives it): rate limits count by it.
    peer: Option<ConnectInfo<SocketAddr>>,
    drain: Drain,
    /// Set when shutdown cut this connection's request body (HTTP/1 serves one request at a
    /// time, so the flag belongs to the request in flight).
    cut: Arc<AtomicBool>,
    /// Set once it had a request.
    served: Arc<AtomicBool>,
}

impl hyper::service::Service<Request<Incoming>> for Connection {
    type Response = Response<ServedBody>;
    type Error = Infallible;
    type Future = Respond;

    fn call(&self, request: Request<Incoming>) -> Respond {
        self.served.store(true, Ordering::Relaxed);
        let call = self.drain.call();
        let ending = Abort {
            cut: Some(self.cut.clone()),
        };
        let mut request = request.map(|body| DrainBody::new(body, ending, self.drain, None, None));
        if let Some(peer) = self.peer {
            request.extensions_mut().insert(peer);
        }
        Respond {
            inner: self.router.clone().call(request),
            drain: self.drain,
            call: Some(call),
            cut: self.cut.clone(),
        }
    }
}

pin_project! {
    /// The router's response, its body under the drain; a 503 if shutdown cut the request.
    struct Respond {
        #[pin]
        inner: RouteFuture<Infallible>,
        drain: Drain,
        call: Option<TaskTrackerToken>,
        cut: Arc<AtomicBool>,
    }
}

impl Future for Respond {
    type Output = Result<Response<ServedBody>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let Ok(mut response) = std::task::ready!(this.inner.poll(cx));
        if this.cut.swap(false, Ordering::Relaxed) {
            response = shutting_down(&response);
        } else if this.drain.leaving() && response.status() != StatusCode::SWITCHING_PROTOCOLS {
            // The client sends its next request on a new connection (RFC 9112 §9.6), which
            // lands on another replica once this one's readiness took it out, or here until
            // the listener closes: none is left open for hyper to close under a request.
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        let call = this.call.take();
        Poll::Ready(Ok(response.map(|body| {
            DrainBody::new(body, Abort { cut: None }, *this.drain, None, call)
        })))
    }
}

/// The answer to a request whose body shutdown cut: 503, so the client retries elsewhere
/// (what the handler answered to a body that broke off means nothing). Made outside the
/// standard layers, so it keeps their request id but is not in the request metrics.
fn shutting_down(handled: &Response<Body>) -> Response<Body> {
    let mut problem = Problem::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "SHUTTING_DOWN",
        "The service is shutting down.",
    );
    let request_id = handled.headers().get(&REQUEST_ID).cloned();
    problem.request_id = request_id
        .as_ref()
        .and_then(|id| id.to_str().ok())
        .map(str::to_owned);
    let mut response = problem.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    if let Some(id) = request_id {
        headers.insert(&REQUEST_ID, id);
    }
    response
}

/// HTTP/1 has no way to end a body early but to break it off: the connection closes without
/// the body's end (no last chunk, or short of its `content-length`), so the client sees it
/// was cut rather than a shorter answer.
struct Abort {
    /// For a request body: the flag to set, so the response becomes a 503.
    cut: Option<Arc<AtomicBool>>,
}

impl Ending for Abort {
    fn end<D>(&mut self, cut: Cut) -> Result<Frame<D>, BoxError> {
        if let Some(flag) = &self.cut {
            flag.store(true, Ordering::Relaxed);
        }
        Err(match cut {
            Cut::Shutdown => "the server is shutting down".into(),
            Cut::Deadline => "the deadline passed".into(),
        })
    }
}
