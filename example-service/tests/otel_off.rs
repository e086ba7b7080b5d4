//! With no `OTEL_EXPORTER_OTLP_ENDPOINT`, nothing is exported, not even to the specification's
//! default endpoints (`localhost:4317` for gRPC, `localhost:4318` for HTTP), where this test
//! listens: a receiver on 4317 and a bare listener on 4318 see no connection while the service
//! handles a traced write end to end and stops. (A process of its own: `otel.rs` installs the
//! exporting subscriber, one per process.)

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{Api, json};
use framework_test_support::otlp::Receiver;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_exported_without_an_endpoint() {
    let grpc = Receiver::start("127.0.0.1:4317").await;
    let http = tokio::net::TcpListener::bind("127.0.0.1:4318")
        .await
        .expect("the OTLP/HTTP default port is free");
    let http_connections = Arc::new(AtomicUsize::new(0));
    let counted = http_connections.clone();
    tokio::spawn(async move {
        while http.accept().await.is_ok() {
            counted.fetch_add(1, Ordering::SeqCst);
        }
    });

    let api = Api::sqlite(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "")]).await;
    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let id = api.create_article(&[("traceparent", traceparent)]).await;
    // The event goes through the outbox and the consumer: every kind of span was made.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let activity = api
            .send(
                reqwest::Method::GET,
                &format!("/api/v1/articles/{id}/activity"),
                None,
            )
            .await;
        if activity.status() == 200 && json(activity, "application/json").await["changes"] == 1 {
            break;
        }
        assert!(Instant::now() < deadline, "the event was not consumed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    api.app.shutdown().await.unwrap();
    // Longer than the batch processor's 5 s, had one been started.
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(grpc.requests(), 0, "{:?}", grpc.spans());
    assert_eq!(http_connections.load(Ordering::SeqCst), 0);
}
