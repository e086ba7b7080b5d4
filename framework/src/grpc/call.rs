//! The lifetime of each gRPC call: its deadline, and what shutdown does to it.
//!
//! Deadlines (PROTOCOL-HTTP2.md, `grpc-timeout`; the status codes guide for
//! `DEADLINE_EXCEEDED`):
//! - the client's `grpc-timeout` covers the whole call: a unary answer, and every message of
//!   a stream; when it passes the call ends with `DEADLINE_EXCEEDED`, mid-stream included;
//! - the server's limit (`HTTP_REQUEST_TIMEOUT_SECS`) covers producing the response's
//!   headers: a unary call's whole handling, a client stream's upload, a server stream's
//!   start. A server stream's later messages are not cut by it (a watch is meant to stay
//!   open); a client that wants a stream bounded says so with its deadline.
//!
//! Shutdown (see [`crate::serving::drain`]): a stream waiting for its next message ends with
//! `UNAVAILABLE` (clients retry on it), a client stream's or a bidi call's request messages
//! end with `UNAVAILABLE` too, and unary calls in flight finish.
//!
//! This replaces tonic's `Server::timeout`, which races only the response's headers and
//! answers `CANCELLED` when it passes.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::http::{HeaderMap, HeaderName, Request, Response};
use http_body::Frame;
use pin_project_lite::pin_project;
use tokio::time::{Instant, Sleep};
use tokio_util::task::task_tracker::TaskTrackerToken;
use tonic::body::Body;
use tonic::{Code, Status};

use crate::serving::drain::{BoxError, Cut, Drain, DrainBody, Ending};

/// `grpc-timeout`: the client's deadline, as a duration from when the call arrives. A
/// `HeaderName`, so that looking it up does not parse the name again on every call.
const GRPC_TIMEOUT: HeaderName = HeaderName::from_static("grpc-timeout");

/// What a client retrying on `UNAVAILABLE` is told.
const SHUTTING_DOWN: &str = "the server is shutting down";

/// The response body of every call.
pub(crate) type CallBody = DrainBody<Body, Trailers>;

/// Puts each call under its deadline and the drain.
#[derive(Debug, Clone)]
pub(crate) struct CallLayer {
    /// The server's limit for the response's headers.
    pub(crate) limit: Duration,
    pub(crate) drain: Drain,
}

impl<S> tower::Layer<S> for CallLayer {
    type Service = CallService<S>;

    fn layer(&self, inner: S) -> CallService<S> {
        CallService {
            inner,
            layer: self.clone(),
        }
    }
}

/// See [`CallLayer`].
#[derive(Debug, Clone)]
pub(crate) struct CallService<S> {
    inner: S,
    layer: CallLayer,
}

impl<S> tower::Service<Request<Body>> for CallService<S>
where
    S: tower::Service<Request<Body>, Response = Response<Body>>,
{
    type Response = Response<CallBody>;
    type Error = S::Error;
    type Future = CallFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        let now = Instant::now();
        let drain = self.layer.drain;
        let call = Some(drain.call());
        let limit = now + self.layer.limit;
        let client = match grpc_timeout(request.headers()) {
            Ok(timeout) => timeout.map(|timeout| now + timeout),
            Err(status) => {
                return CallFuture {
                    inner: None,
                    limit: tokio::time::sleep_until(limit),
                    refused: Some(status),
                    client: None,
                    drain,
                    call,
                };
            }
        };
        let until = client.map_or(limit, |client| client.min(limit));
        // A client stream's messages end when shutdown starts, as a server stream's do.
        let request =
            request.map(|body| Body::new(DrainBody::new(body, RequestEnding, drain, None, None)));
        CallFuture {
            inner: Some(self.inner.call(request)),
            limit: tokio::time::sleep_until(until),
            refused: None,
            client,
            drain,
            call,
        }
    }
}

pin_project! {
    /// The call's response: the handler's, or `DEADLINE_EXCEEDED` when its time runs out
    /// first; its body then runs under the client's deadline and the drain.
    pub(crate) struct CallFuture<F> {
        #[pin]
        inner: Option<F>,
        #[pin]
        limit: Sleep,
        refused: Option<Status>,
        client: Option<Instant>,
        drain: Drain,
        call: Option<TaskTrackerToken>,
    }
}

impl<F, E> Future for CallFuture<F>
where
    F: Future<Output = Result<Response<Body>, E>>,
{
    type Output = Result<Response<CallBody>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let response = if let Some(status) = this.refused.take() {
            status.into_http()
        } else if let Some(inner) = this.inner.as_mut().as_pin_mut()
            && let Poll::Ready(result) = inner.poll(cx)
        {
            result?
        } else if this.limit.as_mut().poll(cx).is_ready() {
            // Dropping the handler's future here cancels it.
            this.inner.set(None);
            let by_client = this.client.is_some_and(|c| c <= this.limit.deadline());
            deadline_exceeded(by_client).into_http()
        } else {
            return Poll::Pending;
        };
        let call = this.call.take();
        let client = *this.client;
        let drain = *this.drain;
        Poll::Ready(Ok(
            response.map(|body| DrainBody::new(body, Trailers, drain, client, call))
        ))
    }
}

fn deadline_exceeded(by_client: bool) -> Status {
    Status::deadline_exceeded(if by_client {
        "the call's deadline (grpc-timeout) passed"
    } else {
        "the call took longer than the server's time limit"
    })
}

/// The client's `grpc-timeout` (PROTOCOL-HTTP2.md: at most 8 digits and a unit, `H`, `M`,
/// `S`, `m`, `u` or `n`), or `INVALID_ARGUMENT` for a malformed one.
fn grpc_timeout(headers: &HeaderMap) -> Result<Option<Duration>, Status> {
    let Some(value) = headers.get(GRPC_TIMEOUT) else {
        return Ok(None);
    };
    let malformed = || {
        Status::invalid_argument(format!(
            "malformed grpc-timeout header {value:?}: expected at most 8 digits and a unit \
             (H, M, S, m, u or n), e.g. `100m`"
        ))
    };
    let text = value.to_str().map_err(|_| malformed())?;
    let digits = text.len().checked_sub(1).ok_or_else(malformed)?;
    let (amount, unit) = text.split_at(digits);
    if amount.is_empty() || amount.len() > 8 || !amount.bytes().all(|b| b.is_ascii_digit()) {
        return Err(malformed());
    }
    let amount: u64 = amount.parse().map_err(|_| malformed())?;
    let timeout = match unit {
        "H" => Duration::from_secs(amount * 3600),
        "M" => Duration::from_secs(amount * 60),
        "S" => Duration::from_secs(amount),
        "m" => Duration::from_millis(amount),
        "u" => Duration::from_micros(amount),
        "n" => Duration::from_nanos(amount),
        _ => return Err(malformed()),
    };
    Ok(Some(timeout))
}

/// A response stream ends with its status in the trailers, as a handler's would.
#[derive(Debug)]
pub(crate) struct Trailers;

impl Ending for Trailers {
    fn end<D>(&mut self, cut: Cut) -> Result<Frame<D>, BoxError> {
        let status = match cut {
            Cut::Shutdown => Status::unavailable(SHUTTING_DOWN),
            Cut::Deadline => deadline_exceeded(true),
        };
        let mut trailers = HeaderMap::new();
        status.add_header(&mut trailers)?;
        Ok(Frame::trailers(trailers))
    }
}

/// A request stream ends with an error the handler's next `message()` returns.
struct RequestEnding;

impl Ending for RequestEnding {
    fn end<D>(&mut self, _: Cut) -> Result<Frame<D>, BoxError> {
        Err(Box::new(Status::new(Code::Unavailable, SHUTTING_DOWN)))
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn parse(value: &'static str) -> Result<Option<Duration>, Code> {
        let mut headers = HeaderMap::new();
        headers.insert(GRPC_TIMEOUT, HeaderValue::from_static(value));
        grpc_timeout(&headers).map_err(|status| status.code())
    }

    #[test]
    fn grpc_timeout_values_and_units() {
        assert_eq!(parse("100m"), Ok(Some(Duration::from_millis(100))));
        assert_eq!(parse("2S"), Ok(Some(Duration::from_secs(2))));
        assert_eq!(parse("1H"), Ok(Some(Duration::from_secs(3600))));
        assert_eq!(parse("3M"), Ok(Some(Duration::from_secs(180))));
        assert_eq!(
            parse("99999999u"),
            Ok(Some(Duration::from_micros(99_999_999)))
        );
        assert_eq!(parse("5n"), Ok(Some(Duration::from_nanos(5))));
        assert_eq!(grpc_timeout(&HeaderMap::new()).unwrap(), None);
    }

    #[test]
    fn malformed_grpc_timeouts_are_invalid_arguments() {
        for value in [
            "",
            "m",
            "100",
            "100x",
            "123456789S",
            "-1S",
            "+1S",
            "1.5S",
            " 1S",
        ] {
            assert_eq!(parse(value), Err(Code::InvalidArgument), "{value:?}");
        }
    }
}
