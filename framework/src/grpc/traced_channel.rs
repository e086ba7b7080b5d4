//! The channel a [`GrpcClient`](super::GrpcClient) call goes through: each call is a client
//! span after OpenTelemetry's RPC conventions, and carries the current work's trace context
//! (`traceparent`, `tracestate`, `baggage`) and request id to the server, which continues
//! them. tower-http's `TraceLayer` times the call and sees its status, in the trailers too.

use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderMap, HeaderName, HeaderValue, Request, Response};
use tonic::body::Body;
use tonic::transport::Channel;
use tower::Layer;
use tower::util::MapRequest;
use tower_http::classify::{GrpcErrorsAsFailures, GrpcFailureClass, SharedClassifier};
use tower_http::trace::{DefaultOnBodyChunk, DefaultOnRequest, MakeSpan, Trace, TraceLayer};

use crate::telemetry::{REQUEST_ID_KEY, WorkContext};

/// A tonic channel whose calls are traced and carry the trace on: what the closure of
/// [`GrpcClient::call`](super::GrpcClient::call) gets, for a generated client
/// (`ArticleServiceClient::new(channel)`).
pub type TracedChannel = Trace<
    MapRequest<Channel, fn(Request<Body>) -> Request<Body>>,
    SharedClassifier<GrpcErrorsAsFailures>,
    ClientSpan,
    DefaultOnRequest,
    fn(&Response<Body>, Duration, &tracing::Span),
    DefaultOnBodyChunk,
    fn(Option<&HeaderMap>, Duration, &tracing::Span),
    fn(GrpcFailureClass, Duration, &tracing::Span),
>;

/// The server a channel goes to, for the client spans' `server.address` and `server.port`.
#[derive(Debug)]
pub(super) struct Server {
    address: String,
    port: u16,
}

impl Server {
    /// The host and port of `uri` (the scheme's port when it names none); `None` without a
    /// host.
    pub(super) fn of(uri: &axum::http::Uri) -> Option<Server> {
        let default = match uri.scheme_str() {
            Some("https") => 443,
            _ => 80,
        };
        Some(Server {
            address: uri.host()?.trim_matches(['[', ']']).to_owned(),
            port: uri.port_u16().unwrap_or(default),
        })
    }
}

/// Makes the client span of each call ([`TracedChannel`]'s span maker).
#[derive(Debug, Clone)]
pub struct ClientSpan(Option<Arc<Server>>);

impl MakeSpan<Body> for ClientSpan {
    /// The client span of a call: named after its `rpc.method` (`package.Service/Method`),
    /// with `server.address` and `server.port` when the client knows its server
    /// ([`GrpcClient::lazy`](super::GrpcClient::lazy)).
    fn make_span(&mut self, request: &Request<Body>) -> tracing::Span {
        let uri = request.uri();
        let method = uri.path().strip_prefix('/').unwrap_or(uri.path());
        let server = self.0.as_deref();
        tracing::info_span!(
            "grpc_client",
            otel.name = method,
            otel.kind = "client",
            otel.status_code = tracing::field::Empty,
            error.type = tracing::field::Empty,
            rpc.system.name = super::span::SYSTEM,
            rpc.method = method,
            rpc.response.status_code = tracing::field::Empty,
            server.address = server.map(|s| s.address.as_str()),
            server.port = server.map(|s| s.port),
        )
    }
}

/// `channel` to `server`, traced.
pub(super) fn traced(channel: Channel, server: Option<Arc<Server>>) -> TracedChannel {
    let carry: fn(Request<Body>) -> Request<Body> = carry_trace;
    let make_span = ClientSpan(server);
    let on_response: fn(&Response<Body>, Duration, &tracing::Span) =
        super::span::on_response::<_, true>;
    let on_eos: fn(Option<&HeaderMap>, Duration, &tracing::Span) = super::span::on_eos::<true>;
    let on_failure: fn(GrpcFailureClass, Duration, &tracing::Span) = super::span::on_client_failure;
    TraceLayer::new_for_grpc()
        .make_span_with(make_span)
        .on_response(on_response)
        .on_eos(on_eos)
        .on_failure(on_failure)
        .layer(MapRequest::new(channel, carry))
}

/// Adds the trace of the call's span (the current one: `TraceLayer` enters it around the
/// inner call) and the work's request id to the call's metadata.
fn carry_trace(mut request: Request<Body>) -> Request<Body> {
    let headers = request.headers_mut();
    for (name, value) in crate::telemetry::trace_headers(&tracing::Span::current()) {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            headers.insert(name, value);
        }
    }
    let request_id = WorkContext::current().and_then(|work| work.request_id);
    if let Some(id) = request_id.and_then(|id| HeaderValue::from_str(&id).ok()) {
        headers.insert(REQUEST_ID_KEY, id);
    }
    request
}

#[cfg(test)]
mod tests {
    use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

    use super::*;
    use crate::telemetry::capture::spans_of;

    #[test]
    fn a_call_that_cannot_connect_fails_its_span_as_transport() {
        // A port nothing listens on: bound, then let go.
        let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = free.local_addr().unwrap();
        drop(free);
        let spans = spans_of(|| {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let channel = tonic::transport::Endpoint::from_shared(format!("http://{address}"))
                    .unwrap()
                    .connect_lazy();
                let server = Server::of(&format!("http://{address}").parse().unwrap());
                let call = HealthClient::new(traced(channel, server.map(Arc::new)))
                    .check(HealthCheckRequest::default())
                    .await;
                assert!(call.is_err(), "{call:?}");
            });
        });
        let client = spans
            .iter()
            .find(|s| s.get("otel.kind").map(String::as_str) == Some("client"))
            .expect("the client span");
        assert_eq!(client["rpc.method"], "grpc.health.v1.Health/Check");
        assert_eq!(client["server.address"], "127.0.0.1");
        assert_eq!(client["server.port"], address.port().to_string());
        assert_eq!(client["otel.status_code"], "error");
        assert_eq!(client["error.type"], "transport");
        assert!(!client.contains_key("rpc.response.status_code"));
    }
}
