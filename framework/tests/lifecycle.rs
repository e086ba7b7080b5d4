//! The HTTP lifecycle through the real app: panics, timeouts, internal errors that must not
//! leak, readiness while shutting down, and draining in-flight requests.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use framework::axum::Json;
use framework::testing::TestApp;
use framework::{DomainError, Inject, http_route, module};

/// A singleton with its own state: every request sees the same counter.
#[module]
pub struct Counter {
    #[state]
    hits: AtomicU64,
    clock: Arc<Clock>,
}

#[module]
pub struct Clock {
    #[state]
    builds: AtomicU64,
}

#[derive(Debug, thiserror::Error, DomainError)]
pub enum LifecycleError {
    #[error("database password is hunter2")]
    #[domain(internal, code = "LIFECYCLE_BROKEN")]
    Broken,
}

#[http_route(GET, "/count")]
async fn count(counter: Inject<Counter>, clock: Inject<Clock>) -> Json<(u64, bool)> {
    let hits = counter.hits.fetch_add(1, Ordering::SeqCst) + 1;
    // The `Clock` injected into `Counter` is the singleton the handler gets.
    let shared = Arc::ptr_eq(&counter.clock, &clock.0);
    clock.builds.store(hits, Ordering::SeqCst);
    Json((hits, shared))
}

#[http_route(GET, "/panic")]
async fn panics() -> &'static str {
    panic!("secret panic message")
}

#[http_route(GET, "/broken")]
async fn broken() -> Result<(), LifecycleError> {
    Err(LifecycleError::Broken)
}

#[http_route(GET, "/slow/{millis}")]
async fn slow(
    framework::axum::extract::Path(millis): framework::axum::extract::Path<u64>,
) -> &'static str {
    tokio::time::sleep(Duration::from_millis(millis)).await;
    "done"
}

async fn start(overrides: &[(&str, &str)]) -> TestApp {
    let mut all = vec![("DATABASE_URL", ""), ("HTTP_BASE_PATH", "")];
    all.extend_from_slice(overrides);
    TestApp::start(&all).await.expect("the app starts")
}

#[tokio::test]
async fn panic_becomes_a_500_problem_and_the_server_keeps_serving() {
    let app = start(&[]).await;
    let response = reqwest::get(app.url("/panic")).await.unwrap();
    assert_eq!(response.status(), 500);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let body = response.text().await.unwrap();
    assert!(!body.contains("secret"), "{body}");
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["code"], "INTERNAL");
    assert!(body["request_id"].is_string());

    let after = reqwest::get(app.url("/health/live")).await.unwrap();
    assert_eq!(after.status(), 200);
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn internal_errors_show_only_their_code() {
    let app = start(&[]).await;
    let response = reqwest::get(app.url("/broken")).await.unwrap();
    assert_eq!(response.status(), 500);
    let body = response.text().await.unwrap();
    assert!(!body.contains("hunter2"), "{body}");
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["code"], "LIFECYCLE_BROKEN");
    assert_eq!(body["title"], "Internal Server Error");
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn slow_requests_time_out_with_a_problem() {
    let app = start(&[("HTTP_REQUEST_TIMEOUT_SECS", "1")]).await;
    let response = reqwest::get(app.url("/slow/3000")).await.unwrap();
    assert_eq!(response.status(), 408);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["code"], "REQUEST_TIMEOUT");
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn shutdown_turns_readiness_off_and_drains_in_flight_requests() {
    let app = start(&[("SHUTDOWN_DELAY_SECS", "1")]).await;
    let client = reqwest::Client::new();
    assert_eq!(
        client
            .get(app.url("/health/ready"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    let in_flight = tokio::spawn(client.get(app.url("/slow/1500")).send());
    tokio::time::sleep(Duration::from_millis(100)).await;
    let ready_url = app.url("/health/ready");
    let shutdown = tokio::spawn(app.shutdown());
    tokio::time::sleep(Duration::from_millis(200)).await;

    // During the shutdown delay the app still serves, but is not ready.
    let ready = client.get(&ready_url).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["phase"], "shutting_down");

    // The request accepted before the signal completes.
    let response = in_flight
        .await
        .unwrap()
        .expect("the in-flight request is not dropped");
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "done");
    shutdown.await.unwrap().expect("graceful shutdown");

    // And afterwards nothing listens.
    assert!(client.get(&ready_url).send().await.is_err());
}

#[tokio::test]
async fn singletons_are_built_once_and_injected() {
    let app = start(&[]).await;
    let first: (u64, bool) = reqwest::get(app.url("/count"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let second: (u64, bool) = reqwest::get(app.url("/count"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(first, (1, true));
    assert_eq!(second, (2, true));
    app.shutdown().await.unwrap();
}
