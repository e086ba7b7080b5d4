//! `framework::shield`: the part of a handler that must not stop half-way runs to its end
//! when the request is given up on (a timeout, a client gone), with the request's context,
//! and shutdown waits for it; what comes before it is dropped with the request.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use framework::axum::http::StatusCode;
use framework::telemetry::WorkContext;
use framework::testing::TestApp;
use framework::{Inject, http_route, module};

/// What the handlers got to do, in order.
#[module]
pub struct Journal {
    #[state]
    entries: Mutex<Vec<String>>,
}

impl Journal {
    fn write(&self, entry: String) {
        self.entries.lock().unwrap().push(entry);
    }

    fn entries(&self) -> Vec<String> {
        self.entries.lock().unwrap().clone()
    }
}

/// 200 ms of cancellable work, then 1.5 s of shielded work, then one more step.
#[http_route(POST, "/write")]
async fn write(journal: Inject<Journal>) -> &'static str {
    tokio::time::sleep(Duration::from_millis(200)).await;
    let shielded = journal.0.clone();
    framework::shield(async move {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let request_id = WorkContext::current().and_then(|c| c.request_id);
        shielded.write(format!("shielded {}", request_id.unwrap_or_default()));
    })
    .await;
    journal.write("after the shield".into());
    "written"
}

#[http_route(POST, "/panic")]
async fn panics() -> &'static str {
    framework::shield(async { panic!("shielded panic") }).await
}

async fn start(overrides: &[(&str, &str)]) -> TestApp {
    let mut all = vec![("DATABASE_URL", ""), ("HTTP_BASE_PATH", "")];
    all.extend_from_slice(overrides);
    TestApp::start(&all).await.expect("the app starts")
}

async fn entries_within(app: &TestApp, wait: Duration) -> Vec<String> {
    let journal = app.running().component::<Journal>().unwrap();
    let deadline = Instant::now() + wait;
    while journal.entries().is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    journal.entries()
}

#[tokio::test]
async fn shielded_work_ends_after_its_request_timed_out_with_the_request_context() {
    let app = start(&[("HTTP_REQUEST_TIMEOUT_SECS", "1")]).await;
    let response = reqwest::Client::new()
        .post(app.url("/write"))
        .header("x-request-id", "shielded-request-1")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::REQUEST_TIMEOUT);
    assert!(
        entries_within(&app, Duration::ZERO).await.is_empty(),
        "answered before the shielded work ended"
    );
    let entries = entries_within(&app, Duration::from_secs(3)).await;
    // What followed the shield was dropped with the request.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(entries, ["shielded shielded-request-1"]);
    assert_eq!(
        app.running().component::<Journal>().unwrap().entries(),
        entries
    );
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn shutdown_waits_for_shielded_work_whose_client_went_away() {
    let app = start(&[]).await;
    let gone = reqwest::Client::new()
        .post(app.url("/write"))
        .timeout(Duration::from_millis(500))
        .send()
        .await;
    assert!(gone.is_err_and(|e| e.is_timeout()));
    let journal = app.running().component::<Journal>().unwrap();
    assert!(journal.entries().is_empty());
    app.shutdown().await.unwrap();
    let entries = journal.entries();
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert!(entries[0].starts_with("shielded "), "{entries:?}");
}

#[tokio::test]
async fn a_panic_in_shielded_work_is_the_request_panic() {
    let app = start(&[]).await;
    let response = reqwest::Client::new()
        .post(app.url("/panic"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    app.shutdown().await.unwrap();
}
