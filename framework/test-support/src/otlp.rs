//! A real OTLP receiver on 127.0.0.1: the trace and metrics collector services of
//! opentelemetry-proto served with tonic (OTLP/gRPC), or the same messages as protobuf bodies
//! of `POST /v1/traces` and `POST /v1/metrics` served with axum (OTLP/HTTP), keeping every
//! span and metric data point it is sent, flattened with its resource, and the headers of
//! each export request.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::number_data_point;
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

/// What kind of metric a [`Point`] is of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    /// A sum; `true` when monotonic (a counter).
    Sum(bool),
    Gauge,
    Histogram,
    /// Exponential histograms and summaries.
    Other,
}

/// One received metric data point.
#[derive(Debug, Clone)]
pub struct Point {
    pub metric: String,
    pub unit: String,
    pub kind: MetricKind,
    pub attributes: HashMap<String, String>,
    /// A sum's or gauge's value; a histogram's count.
    pub value: f64,
    /// A histogram's bucket bounds.
    pub bounds: Vec<f64>,
    pub resource: HashMap<String, String>,
}

impl Point {
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
    points: Arc<Mutex<Vec<Point>>>,
    /// Export requests received.
    requests: Arc<Mutex<usize>>,
    /// The headers (gRPC metadata) of each export request, names in lowercase.
    headers: Arc<Mutex<Vec<HashMap<String, String>>>>,
}

impl Receiver {
    /// Listens on `address` (`127.0.0.1:0` for any port) for OTLP/gRPC until the runtime
    /// ends.
    pub async fn start(address: &str) -> Receiver {
        let (listener, receiver) = Receiver::bind(address).await;
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(TraceServiceServer::new(receiver.clone()))
                .add_service(MetricsServiceServer::new(receiver.clone()))
                .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
        );
        receiver
    }

    /// Listens on `address` for OTLP/HTTP (`http/protobuf`) until the runtime ends.
    pub async fn start_http(address: &str) -> Receiver {
        use axum::body::Bytes;
        use axum::extract::State;
        use axum::http::{HeaderMap, StatusCode};
        use prost::Message;

        fn decode<M: Message + Default>(body: &Bytes) -> Result<M, StatusCode> {
            M::decode(body.as_ref()).map_err(|_| StatusCode::BAD_REQUEST)
        }
        async fn traces(
            State(receiver): State<Receiver>,
            headers: HeaderMap,
            body: Bytes,
        ) -> Result<Vec<u8>, StatusCode> {
            receiver.take_spans(&headers, decode(&body)?);
            Ok(ExportTraceServiceResponse::default().encode_to_vec())
        }
        async fn metrics(
            State(receiver): State<Receiver>,
            headers: HeaderMap,
            body: Bytes,
        ) -> Result<Vec<u8>, StatusCode> {
            receiver.take_points(&headers, decode(&body)?);
            Ok(ExportMetricsServiceResponse::default().encode_to_vec())
        }

        let (listener, receiver) = Receiver::bind(address).await;
        let app = axum::Router::new()
            .route("/v1/traces", axum::routing::post(traces))
            .route("/v1/metrics", axum::routing::post(metrics))
            .with_state(receiver.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        receiver
    }

    async fn bind(address: &str) -> (tokio::net::TcpListener, Receiver) {
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .expect("the receiver binds");
        let receiver = Receiver {
            address: listener.local_addr().unwrap(),
            spans: Arc::default(),
            points: Arc::default(),
            requests: Arc::default(),
            headers: Arc::default(),
        };
        (listener, receiver)
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Every span received so far.
    pub fn spans(&self) -> Vec<Span> {
        self.spans.lock().unwrap().clone()
    }

    /// Every metric data point received so far, oldest first.
    pub fn points(&self) -> Vec<Point> {
        self.points.lock().unwrap().clone()
    }

    /// The headers of each export request so far.
    pub fn headers(&self) -> Vec<HashMap<String, String>> {
        self.headers.lock().unwrap().clone()
    }

    /// How many export requests (of spans or metrics) arrived.
    pub fn requests(&self) -> usize {
        *self.requests.lock().unwrap()
    }

    /// Waits (at most `within`) until `found` holds of the spans received; panics with them
    /// otherwise.
    pub async fn wait_for(&self, within: Duration, what: &str, found: impl Fn(&[Span]) -> bool) {
        wait(within, what, || self.spans(), found).await
    }

    /// Waits (at most `within`) until `found` holds of the metric data points received;
    /// panics with them otherwise.
    pub async fn wait_for_points(
        &self,
        within: Duration,
        what: &str,
        found: impl Fn(&[Point]) -> bool,
    ) {
        wait(within, what, || self.points(), found).await
    }
}

async fn wait<T: std::fmt::Debug>(
    within: Duration,
    what: &str,
    received: impl Fn() -> Vec<T>,
    found: impl Fn(&[T]) -> bool,
) {
    let deadline = Instant::now() + within;
    while !found(&received()) {
        assert!(
            Instant::now() < deadline,
            "{what}: not received within {within:?}; received: {:#?}",
            received()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tonic::async_trait]
impl TraceService for Receiver {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let headers = request.metadata().clone().into_headers();
        self.take_spans(&headers, request.into_inner());
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl MetricsService for Receiver {
    async fn export(
        &self,
        request: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        let headers = request.metadata().clone().into_headers();
        self.take_points(&headers, request.into_inner());
        Ok(tonic::Response::new(ExportMetricsServiceResponse::default()))
    }
}

impl Receiver {
    /// Keeps an export request's headers.
    fn take_headers(&self, headers: &axum::http::HeaderMap) {
        *self.requests.lock().unwrap() += 1;
        let headers = headers
            .iter()
            .map(|(name, value)| {
                let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
                (name.as_str().to_owned(), value)
            })
            .collect();
        self.headers.lock().unwrap().push(headers);
    }

    fn take_spans(&self, headers: &axum::http::HeaderMap, request: ExportTraceServiceRequest) {
        self.take_headers(headers);
        let mut received = Vec::new();
        for resource_spans in request.resource_spans {
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
    }

    fn take_points(&self, headers: &axum::http::HeaderMap, request: ExportMetricsServiceRequest) {
        self.take_headers(headers);
        let mut received = Vec::new();
        for resource_metrics in request.resource_metrics {
            let resource = resource_metrics
                .resource
                .map(|r| attributes(&r.attributes))
                .unwrap_or_default();
            for metric in resource_metrics
                .scope_metrics
                .into_iter()
                .flat_map(|s| s.metrics)
            {
                let point = |kind, attributes: &[KeyValue], value, bounds| Point {
                    metric: metric.name.clone(),
                    unit: metric.unit.clone(),
                    kind,
                    attributes: self::attributes(attributes),
                    value,
                    bounds,
                    resource: resource.clone(),
                };
                let number = |p: &number_data_point::Value| match *p {
                    number_data_point::Value::AsDouble(v) => v,
                    number_data_point::Value::AsInt(v) => v as f64,
                };
                match &metric.data {
                    Some(Data::Sum(sum)) => received.extend(sum.data_points.iter().map(|p| {
                        let value = p.value.as_ref().map(number).unwrap_or_default();
                        point(
                            MetricKind::Sum(sum.is_monotonic),
                            &p.attributes,
                            value,
                            vec![],
                        )
                    })),
                    Some(Data::Gauge(gauge)) => {
                        received.extend(gauge.data_points.iter().map(|p| {
                            let value = p.value.as_ref().map(number).unwrap_or_default();
                            point(MetricKind::Gauge, &p.attributes, value, vec![])
                        }))
                    }
                    Some(Data::Histogram(histogram)) => {
                        received.extend(histogram.data_points.iter().map(|p| {
                            let bounds = p.explicit_bounds.clone();
                            point(MetricKind::Histogram, &p.attributes, p.count as f64, bounds)
                        }))
                    }
                    _ => received.push(point(MetricKind::Other, &[], 0.0, vec![])),
                }
            }
        }
        self.points.lock().unwrap().extend(received);
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
