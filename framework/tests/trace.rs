//! One trace follows a request through Kafka: the `traceparent` of an HTTP request (or a new
//! trace when it has none) is the HTTP span's trace, goes out in the header of the record the
//! handler publishes (with the caller's `tracestate`), and the consumer's span and handler
//! continue it, on the in-process
//! broker and on the real one of `KAFKA_BROKERS`. A gRPC call continues its caller's trace
//! too. Spans are read off a real `tracing` subscriber as they close.

use std::collections::HashMap;
use std::sync::{Mutex, Once};
use std::time::{Duration, Instant};

use framework::axum::Json;
use framework::axum::http::StatusCode;
use framework::kafka::{Headers, Producer, PublishError};
use framework::telemetry::WorkContext;
use framework::testing::TestApp;
use framework::tonic::{Request, Response, Status};
use framework::{DomainError, Inject, grpc_service, http_route, kafka_consumer, module};
use framework_test_support::probe::probe_client::ProbeClient;
use framework_test_support::probe::{EchoReply, EchoRequest, SleepRequest, probe_server};
use serde::{Deserialize, Serialize};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

const CALLER_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";
const CALLER_STATE: &str = "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7";

#[derive(Debug, Serialize, Deserialize)]
pub struct Order {
    topic: String,
    id: u32,
}

/// What the consumer saw of each order: its `traceparent` and `tracestate` headers and the
/// handler's context.
#[module]
pub struct Ledger {
    #[state]
    seen: Mutex<HashMap<u32, Seen>>,
}

type Seen = (Option<String>, Option<String>, WorkContext);

#[module]
pub struct Shop {
    producer: Producer,
}

#[derive(Debug, thiserror::Error, DomainError)]
pub enum ShopError {
    #[error("the order was not published")]
    #[domain(internal, code = "ORDER_NOT_PUBLISHED")]
    NotPublished(#[source] PublishError),
}

#[http_route(POST, "/orders")]
async fn place(shop: Inject<Shop>, Json(order): Json<Order>) -> Result<StatusCode, ShopError> {
    let key = order.id.to_string();
    shop.producer
        .publish_json(&order.topic, &key, &order)
        .await
        .map_err(ShopError::NotPublished)?;
    Ok(StatusCode::ACCEPTED)
}

#[kafka_consumer(topic = "${ORDERS_TOPIC}", group = "${ORDERS_GROUP}")]
async fn take(
    Json(order): Json<Order>,
    headers: Headers,
    ledger: Inject<Ledger>,
) -> Result<(), ShopError> {
    let header = |name| {
        headers
            .get(name)
            .map(|value| String::from_utf8_lossy(value).into_owned())
    };
    let context = WorkContext::current().expect("the consumer runs the handler in a context");
    let seen = (header("traceparent"), header("tracestate"), context);
    ledger.seen.lock().unwrap().insert(order.id, seen);
    Ok(())
}

#[module]
pub struct Probe;

#[grpc_service]
impl probe_server::Probe for Probe {
    async fn echo(&self, request: Request<EchoRequest>) -> Result<Response<EchoReply>, Status> {
        let trace = WorkContext::current().map(|c| c.trace.trace_id().to_string());
        let _ = request;
        Ok(Response::new(EchoReply {
            message: trace.unwrap_or_default(),
        }))
    }

    async fn sleep(&self, _request: Request<SleepRequest>) -> Result<Response<EchoReply>, Status> {
        Err(Status::unimplemented("not in this test"))
    }

    async fn panic(&self, _request: Request<EchoRequest>) -> Result<Response<EchoReply>, Status> {
        Err(Status::unimplemented("not in this test"))
    }
}

/// A closed span: its name and fields.
#[derive(Debug, Clone)]
struct Closed {
    name: &'static str,
    fields: HashMap<String, String>,
}

static CLOSED: Mutex<Vec<Closed>> = Mutex::new(Vec::new());

#[derive(Default)]
struct Fields(HashMap<String, String>);

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
}

/// Keeps each span's fields, and the span once it closes.
struct Capture;

impl<S: tracing::Subscriber + for<'a> LookupSpan<'a>> tracing_subscriber::Layer<S> for Capture {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(fields);
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id)
            && let Some(fields) = span.extensions_mut().get_mut::<Fields>()
        {
            values.record(fields);
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(&id) {
            let fields = span.extensions_mut().remove::<Fields>().unwrap_or_default();
            CLOSED.lock().unwrap().push(Closed {
                name: span.name(),
                fields: fields.0,
            });
        }
    }
}

/// Installs the capturing subscriber before any app installs its own.
fn capture_spans() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let subscriber = tracing_subscriber::registry()
            .with(tracing_subscriber::filter::LevelFilter::INFO)
            .with(Capture);
        tracing::subscriber::set_global_default(subscriber).expect("no subscriber yet");
    });
}

/// The closed span named `name` whose field `key` is `value`, waiting for it to close.
async fn closed_span(name: &str, key: &str, value: &str) -> Closed {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let found = CLOSED
            .lock()
            .unwrap()
            .iter()
            .find(|s| s.name == name && s.fields.get(key).map(String::as_str) == Some(value))
            .cloned();
        if let Some(span) = found {
            return span;
        }
        assert!(
            Instant::now() < deadline,
            "no closed `{name}` span with {key} = {value}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

type Backend = framework_test_support::KafkaBackend;

/// Starts the app on `backend`, its spans captured.
async fn start(backend: &Backend) -> TestApp {
    capture_spans();
    let (topic, group) = (backend.name("orders"), backend.name("ledger"));
    TestApp::start(&[
        ("DATABASE_URL", ""),
        ("HTTP_BASE_PATH", ""),
        ("KAFKA_BROKERS", backend.brokers.as_str()),
        ("KAFKA_CREATE_TOPICS", "true"),
        ("ORDERS_TOPIC", topic.as_str()),
        ("ORDERS_GROUP", group.as_str()),
    ])
    .await
    .expect("the app starts")
}

framework_test_support::on_backends!(Backend: memory, broker; [
    one_trace_follows_a_request_through_kafka,
]);

async fn one_trace_follows_a_request_through_kafka(backend: Backend) {
    let app = start(&backend).await;
    let topic = backend.name("orders");
    let ledger = app.running().component::<Ledger>().expect("the ledger");
    let client = reqwest::Client::new();

    // Order 1 comes from a caller that started the trace; order 2 starts a new one. Tests
    // run side by side, so each caller has a trace of its own.
    let caller_trace = uuid::Uuid::new_v4().simple().to_string();
    let caller = format!("00-{caller_trace}-{CALLER_SPAN}-01");
    for (id, traceparent) in [(1, Some(caller.as_str())), (2, None)] {
        let mut request = client.post(app.url("/orders")).json(&Order {
            topic: topic.clone(),
            id,
        });
        if let Some(traceparent) = traceparent {
            request = request
                .header("traceparent", traceparent)
                .header("tracestate", CALLER_STATE);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 202, "{:?}", response.text().await);
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while ledger.seen.lock().unwrap().len() < 2 {
        assert!(Instant::now() < deadline, "the orders were not consumed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let seen = ledger.seen.lock().unwrap().clone();
    let mut traces = Vec::new();
    for id in [1, 2] {
        let (header, state, handler_context) = &seen[&id];
        let header = header.as_deref().expect("the record has a traceparent");
        let trace = handler_context.trace.trace_id().to_string();

        // The HTTP span: the caller's trace, or a new one.
        let http = closed_span("http", "trace_id", &trace).await;
        assert_eq!(http.fields["http.route"], "/orders");
        assert_eq!(http.fields["http.request.method"], "POST");
        assert_eq!(http.fields["otel.name"], "POST /orders");
        assert_eq!(http.fields["module"], "trace");
        if id == 1 {
            assert_eq!(trace, caller_trace);
            assert_ne!(http.fields["span_id"], CALLER_SPAN, "the server's own span");
        } else {
            assert_eq!(trace.len(), 32);
            assert_ne!(trace, caller_trace);
        }

        // The record carries the HTTP span as its parent...
        assert_eq!(
            header,
            format!("00-{trace}-{}-01", http.fields["span_id"]),
            "order {id}"
        );
        // ...with the caller's trace state, kept as it came...
        let expected_state = (id == 1).then_some(CALLER_STATE);
        assert_eq!(state.as_deref(), expected_state, "order {id}");
        // ...and the consumer continues it, in the same trace, with a span of its own.
        let kafka = closed_span("kafka", "trace_id", &trace).await;
        assert_ne!(kafka.fields["span_id"], http.fields["span_id"]);
        assert_eq!(kafka.fields["messaging.destination.name"], topic);
        assert_eq!(kafka.fields["messaging.operation.type"], "process");
        assert_eq!(kafka.fields["module"], "trace");
        assert_eq!(
            kafka.fields["span_id"],
            handler_context.trace.span_id().to_string()
        );
        traces.push(trace);
    }
    assert_ne!(traces[0], traces[1]);
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_grpc_call_continues_the_callers_trace() {
    let app = start(&Backend::memory("grpc")).await;
    let mut client = ProbeClient::connect(app.grpc_url().expect("a gRPC port"))
        .await
        .expect("connect");
    let mut request = Request::new(EchoRequest {
        message: String::new(),
    });
    request.metadata_mut().insert(
        "traceparent",
        format!("00-{CALLER_TRACE}-{CALLER_SPAN}-01")
            .parse()
            .unwrap(),
    );
    let reply = client.echo(request).await.expect("the call");
    assert_eq!(
        reply.into_inner().message,
        CALLER_TRACE,
        "the method's context"
    );

    let span = closed_span("grpc", "trace_id", CALLER_TRACE).await;
    assert_eq!(span.fields["rpc.method"], "probe.v1.Probe/Echo");
    assert_eq!(span.fields["rpc.system.name"], "grpc");
    assert_eq!(span.fields["rpc.response.status_code"], "OK");
    assert_eq!(span.fields["module"], "trace");
    app.shutdown().await.unwrap();
}
