//! A real OTLP/gRPC receiver on 127.0.0.1: the trace collector service of opentelemetry-proto
//! served with tonic, keeping every span it is sent, flattened with its resource.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
pub use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;

/// One received span, its ids as lowercase hex.
#[derive(Debug, Clone)]
pub struct Span {
    pub name: String,
    pub kind: SpanKind,
    pub trace_id: String,
    pub span_id: String,
    /// Empty for a root span.
    pub parent_span_id: String,
    pub trace_state: String,
    pub attributes: HashMap<String, String>,
    /// The ids (`trace_id`, `span_id`) each link points at.
    pub links: Vec<(String, String)>,
    pub error: bool,
    pub resource: HashMap<String, String>,
}

impl Span {
    /// The attribute `key` as text (numbers in decimal), if present.
    pub fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes.get(key).map(String::as_str)
    }
}

/// The receiver; [`Receiver::endpoint`] is its `http://127.0.0.1:<port>`.
#[derive(Clone)]
pub struct Receiver {
    pub address: SocketAddr,
    spans: Arc<Mutex<Vec<Span>>>,
    /// Export requests received.
    requests: Arc<Mutex<usize>>,
}

impl Receiver {
    /// Listens on `address` (`127.0.0.1:0` for any port) until the runtime ends.
    pub async fn start(address: &str) -> Receiver {
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .expect("the receiver binds");
        let receiver = Receiver {
            address: listener.local_addr().unwrap(),
            spans: Arc::default(),
            requests: Arc::default(),
        };
        let service = TraceServiceServer::new(receiver.clone());
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
        );
        receiver
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Every span received so far.
    pub fn spans(&self) -> Vec<Span> {
        self.spans.lock().unwrap().clone()
    }

    /// How many export requests arrived.
    pub fn requests(&self) -> usize {
        *self.requests.lock().unwrap()
    }

    /// Waits (at most `within`) until `found` holds of the spans received; panics with them
    /// otherwise.
    pub async fn wait_for(&self, within: Duration, what: &str, found: impl Fn(&[Span]) -> bool) {
        let deadline = Instant::now() + within;
        while !found(&self.spans()) {
            assert!(
                Instant::now() < deadline,
                "{what}: not received within {within:?}; received: {:#?}",
                self.spans()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

#[tonic::async_trait]
impl TraceService for Receiver {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        *self.requests.lock().unwrap() += 1;
        let mut received = Vec::new();
        for resource_spans in request.into_inner().resource_spans {
            let resource = resource_spans
                .resource
                .map(|r| attributes(&r.attributes))
                .unwrap_or_default();
            for scope in resource_spans.scope_spans {
                for span in scope.spans {
                    received.push(Span {
                        kind: SpanKind::try_from(span.kind).unwrap_or(SpanKind::Unspecified),
                        name: span.name,
                        trace_id: hex(&span.trace_id),
                        span_id: hex(&span.span_id),
                        parent_span_id: hex(&span.parent_span_id),
                        trace_state: span.trace_state,
                        attributes: attributes(&span.attributes),
                        links: span
                            .links
                            .iter()
                            .map(|l| (hex(&l.trace_id), hex(&l.span_id)))
                            .collect(),
                        error: span
                            .status
                            .is_some_and(|s| s.code == StatusCode::Error as i32),
                        resource: resource.clone(),
                    });
                }
            }
        }
        self.spans.lock().unwrap().extend(received);
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn attributes(pairs: &[KeyValue]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|kv| (kv.key.clone(), text(kv.value.as_ref())))
        .collect()
}

fn text(value: Option<&AnyValue>) -> String {
    match value.and_then(|v| v.value.as_ref()) {
        Some(Value::StringValue(s)) => s.clone(),
        Some(Value::IntValue(i)) => i.to_string(),
        Some(Value::DoubleValue(d)) => d.to_string(),
        Some(Value::BoolValue(b)) => b.to_string(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}
