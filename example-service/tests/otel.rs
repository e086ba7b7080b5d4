//! OpenTelemetry export as a trace backend sees it: the service exports over OTLP/gRPC to a
//! real receiver (opentelemetry-proto's collector service on tonic, in the test), on
//! PostgreSQL (`DATABASE_URL`) and the real broker (`KAFKA_BROKERS`). One article written by a
//! caller that started a trace (with a `tracestate`) is one trace: the HTTP server span, its
//! SQL and the event's creation are its children, the consumer's span continues the creation
//! through the record's headers (the trace state with it), and the outbox relay's send links
//! to it. A read through the service's gRPC client is the HTTP span, the client call and the
//! server's span, in a chain. A request that fails on the server has an error status; one the
//! client got wrong does not (but the client's call does, its status name as `error.type`).
//! (`otel_off.rs` shows nothing leaves without an endpoint: its own process, since the
//! tracing subscriber is one per process.)

mod common;

use std::time::Duration;

use common::Api;
use framework::sqlx::{Connection, PgConnection};
use framework_test_support::otlp::{Receiver, Span, SpanKind};
use reqwest::Method;

const CALLER_SPAN: &str = "00f067aa0ba902b7";
const CALLER_STATE: &str = "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7";
/// The batch processor sends every 5 s; a CI machine may be slow.
const EXPORTED_WITHIN: Duration = Duration::from_secs(30);

fn one<'a>(spans: &'a [Span], what: &str, found: impl Fn(&Span) -> bool) -> &'a Span {
    let matching: Vec<&Span> = spans.iter().filter(|s| found(s)).collect();
    assert_eq!(matching.len(), 1, "one {what}: {spans:#?}");
    matching[0]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_write_is_one_trace_through_sql_and_kafka() {
    let brokers = std::env::var("KAFKA_BROKERS").unwrap_or_default();
    assert!(
        !brokers.is_empty() && !brokers.starts_with("memory"),
        "this test needs KAFKA_BROKERS=host:port of a running Kafka-protocol broker (scripts/test starts tansu)"
    );
    let receiver = Receiver::start("127.0.0.1:0").await;
    let endpoint = receiver.endpoint();
    let topic = format!("article.events.{}", uuid::Uuid::new_v4().simple());
    let api = Api::postgres(&[
        ("KAFKA_BROKERS", brokers.as_str()),
        ("ARTICLES_EVENTS_TOPIC", topic.as_str()),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ("OTEL_SERVICE_NAME", "articles-under-test"),
        ("OTEL_RESOURCE_ATTRIBUTES", "team=core"),
    ])
    .await;

    let trace = uuid::Uuid::new_v4().simple().to_string();
    let traceparent = format!("00-{trace}-{CALLER_SPAN}-01");
    let id = api
        .create_article(&[("traceparent", &traceparent), ("tracestate", CALLER_STATE)])
        .await;

    let of_trace = |spans: &[Span], kind: SpanKind, name: &str| {
        spans
            .iter()
            .any(|s| s.trace_id == trace && s.kind == kind && s.name == name)
    };
    let process = format!("process {topic}");
    receiver
        .wait_for(EXPORTED_WITHIN, "the consumer's span", |spans| {
            of_trace(spans, SpanKind::Consumer, &process)
        })
        .await;
    let spans = receiver.spans();
    let traced: Vec<Span> = spans
        .iter()
        .filter(|s| s.trace_id == trace)
        .cloned()
        .collect();

    // The HTTP server span: the caller's child, its trace state kept.
    let http = one(&traced, "HTTP server span", |s| s.kind == SpanKind::Server);
    assert_eq!(http.name, "POST /api/v1/articles");
    assert_eq!(http.parent_span_id, CALLER_SPAN);
    assert_eq!(http.trace_state, CALLER_STATE);
    assert_eq!(http.attribute("http.request.method"), Some("POST"));
    assert_eq!(http.attribute("http.route"), Some("/api/v1/articles"));
    assert_eq!(http.attribute("url.path"), Some("/api/v1/articles"));
    assert_eq!(http.attribute("url.scheme"), Some("http"));
    assert_eq!(http.attribute("http.response.status_code"), Some("201"));
    assert!(!http.error);
    assert_eq!(
        http.resource.get("service.name").map(String::as_str),
        Some("articles-under-test")
    );
    assert_eq!(http.resource.get("team").map(String::as_str), Some("core"));

    // Its SQL: the insert of the article, a client span of the HTTP span.
    let insert = one(&traced, "insert", |s| {
        s.kind == SpanKind::Client && s.name == "INSERT articles"
    });
    assert_eq!(insert.parent_span_id, http.span_id);
    assert_eq!(insert.attribute("db.system.name"), Some("postgresql"));
    // The conventions' summary, not an operation and a collection parsed from the text.
    assert_eq!(
        insert.attribute("db.query.summary"),
        Some("INSERT articles")
    );
    assert_eq!(insert.attribute("db.operation.name"), None);
    assert_eq!(insert.attribute("db.collection.name"), None);
    assert!(
        insert
            .attribute("db.query.text")
            .is_some_and(|q| q.starts_with("INSERT INTO articles")),
        "{insert:?}"
    );

    // The event's creation, in the outbox: a producer span of the HTTP span.
    let create = format!("create {topic}");
    let creation = one(&traced, "event creation", |s| s.name == create);
    assert_eq!(creation.kind, SpanKind::Producer);
    assert_eq!(creation.parent_span_id, http.span_id);
    assert_eq!(
        creation.attribute("messaging.destination.name"),
        Some(topic.as_str())
    );
    assert_eq!(
        creation.attribute("messaging.operation.type"),
        Some("create")
    );
    assert_eq!(creation.attribute("messaging.system"), Some("kafka"));

    // The consumer continues the creation through the record's headers, trace state and all,
    // and links to it.
    let consumer = one(&traced, "consumer span", |s| s.kind == SpanKind::Consumer);
    assert_eq!(consumer.name, process);
    assert_eq!(consumer.parent_span_id, creation.span_id);
    assert!(
        consumer
            .links
            .contains(&(trace.clone(), creation.span_id.clone()))
    );
    assert_eq!(
        consumer.trace_state, CALLER_STATE,
        "tracestate through Kafka"
    );
    assert_eq!(consumer.attribute("messaging.system"), Some("kafka"));
    assert_eq!(
        consumer.attribute("messaging.operation.type"),
        Some("process")
    );
    assert_eq!(
        consumer.attribute("messaging.destination.name"),
        Some(topic.as_str())
    );
    assert_eq!(
        consumer.attribute("messaging.consumer.group.name"),
        Some("article-activity")
    );
    assert!(consumer.attribute("messaging.kafka.offset").is_some());
    // The projection's own SQL is the consumer's.
    assert!(
        traced
            .iter()
            .any(|s| s.kind == SpanKind::Client && s.parent_span_id == consumer.span_id),
        "the consumer's SQL: {traced:#?}"
    );

    // The relay's send: a trace of its own (it runs outside the request), linked to the
    // creation, with where the record landed.
    let send = format!("send {topic}");
    receiver
        .wait_for(EXPORTED_WITHIN, "the relay's send", |spans| {
            spans.iter().any(|s| s.name == send)
        })
        .await;
    let spans = receiver.spans();
    let relay = one(&spans, "relay send", |s| s.name == send);
    assert_eq!(relay.kind, SpanKind::Producer);
    assert!(
        relay
            .links
            .contains(&(trace.clone(), creation.span_id.clone()))
    );
    assert!(relay.attribute("messaging.kafka.offset").is_some());
    assert!(
        relay
            .attribute("messaging.destination.partition.id")
            .is_some()
    );
    assert_eq!(relay.attribute("messaging.system"), Some("kafka"));
    assert!(!relay.error);

    // The remote read goes out over gRPC (to this service's own server): the HTTP span, the
    // client call and the server's span are one chain of one trace. A NOT_FOUND is the client
    // call's error, not the server's.
    let remote_trace = uuid::Uuid::new_v4().simple().to_string();
    for (article, status) in [(id.clone(), 200), (uuid::Uuid::new_v4().to_string(), 404)] {
        let response = api
            .client
            .get(api.app.url(&format!("/api/v1/remote/articles/{article}")))
            .header("traceparent", format!("00-{remote_trace}-{CALLER_SPAN}-01"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), status);
    }
    let method = "article.v1.ArticleService/GetArticle";
    receiver
        .wait_for(EXPORTED_WITHIN, "the gRPC spans", |spans| {
            let calls = spans
                .iter()
                .filter(|s| s.trace_id == remote_trace && s.name == method);
            calls.count() == 4
        })
        .await;
    let spans = receiver.spans();
    let remote: Vec<&Span> = spans
        .iter()
        .filter(|s| s.trace_id == remote_trace)
        .collect();
    for (code, client_error) in [("OK", false), ("NOT_FOUND", true)] {
        let client = remote
            .iter()
            .find(|s| {
                s.kind == SpanKind::Client && s.attribute("rpc.response.status_code") == Some(code)
            })
            .unwrap_or_else(|| panic!("the {code} client span: {remote:#?}"));
        assert_eq!(client.name, method);
        assert_eq!(client.attribute("rpc.system.name"), Some("grpc"));
        // The service calls its own gRPC listener.
        assert_eq!(client.attribute("server.address"), Some("127.0.0.1"));
        assert!(client.attribute("server.port").is_some(), "{client:?}");
        assert_eq!(client.error, client_error, "{client:?}");
        let error_type = client_error.then_some(code);
        assert_eq!(client.attribute("error.type"), error_type, "{client:?}");
        let http = remote
            .iter()
            .find(|s| s.span_id == client.parent_span_id)
            .expect("the client span's parent");
        assert_eq!(http.kind, SpanKind::Server);
        assert_eq!(http.name, "GET /api/v1/remote/articles/{id}");
        let server = one(&spans, "the gRPC server span", |s| {
            s.parent_span_id == client.span_id
        });
        assert_eq!(server.kind, SpanKind::Server);
        assert_eq!(server.name, method);
        assert_eq!(server.attribute("rpc.method"), Some(method));
        assert_eq!(server.attribute("rpc.response.status_code"), Some(code));
        assert!(!server.error, "{server:?}");
        assert_eq!(server.attribute("error.type"), None, "{server:?}");
    }

    // A client's mistake is not the server's error; a failure of the server is.
    let missing = api
        .send(
            Method::GET,
            &format!("/api/v1/articles/{}", uuid::Uuid::new_v4()),
            None,
        )
        .await;
    assert_eq!(missing.status(), 404);
    // The list reads the table (no cache in the way).
    let mut conn = PgConnection::connect(&api.database_url).await.unwrap();
    framework::sqlx::query("ALTER TABLE articles RENAME TO articles_gone")
        .execute(&mut conn)
        .await
        .unwrap();
    let broken = api.send(Method::GET, "/api/v1/articles", None).await;
    assert!(broken.status().is_server_error(), "{}", broken.status());
    let status = broken.status().as_u16().to_string();
    let (get, list) = ("GET /api/v1/articles/{id}", "GET /api/v1/articles");
    receiver
        .wait_for(EXPORTED_WITHIN, "the failed request's span", |spans| {
            spans.iter().any(|s| s.name == get) && spans.iter().any(|s| s.name == list)
        })
        .await;
    let spans = receiver.spans();
    let not_found = one(&spans, "the 404's span", |s| s.name == get);
    assert_eq!(
        not_found.attribute("http.response.status_code"),
        Some("404")
    );
    assert!(!not_found.error, "{not_found:?}");
    let failed = one(&spans, "the 5xx's span", |s| s.name == list);
    assert_eq!(
        failed.attribute("http.response.status_code"),
        Some(status.as_str())
    );
    assert!(failed.error, "{failed:?}");
    assert_eq!(failed.attribute("error.type"), Some(status.as_str()));

    api.app.shutdown().await.unwrap();
}
