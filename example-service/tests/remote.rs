//! The outbound gRPC client: an HTTP endpoint that reads the article back over gRPC from the
//! service's own listener, and maps the remote's errors.

mod common;

use common::{Api, json, problem};
use reqwest::Method;
use serde_json::json;

/// Without `ARTICLES_REMOTE_URL` the client calls the service's own gRPC listener wherever it
/// was bound: here an ephemeral port (`GRPC_PORT=0`), not the default 3000.
#[tokio::test]
async fn reads_articles_back_over_grpc_and_maps_remote_errors() {
    let api = Api::sqlite(&[("GRPC_PORT", "0"), ("ARTICLES_REMOTE_URL", "")]).await;
    let grpc = api
        .app
        .running()
        .grpc_addr()
        .expect("the example serves gRPC");
    assert_ne!(grpc.port(), 3000);

    let created = api
        .send(
            Method::POST,
            "/api/v1/articles",
            Some(json!({ "name": "Remote one", "description": "Read over gRPC" })),
        )
        .await;
    let created = json(created, "application/json").await;
    let id = created["id"].as_str().unwrap();

    let remote = api
        .send(Method::GET, &format!("/api/v1/remote/articles/{id}"), None)
        .await;
    assert_eq!(remote.status(), 200);
    let remote = json(remote, "application/json").await;
    assert_eq!(
        remote,
        json!({ "id": id, "name": "Remote one", "description": "Read over gRPC" })
    );

    let missing = uuid::Uuid::new_v4();
    let response = api
        .send(
            Method::GET,
            &format!("/api/v1/remote/articles/{missing}"),
            None,
        )
        .await;
    let body = problem(response, 404, "REMOTE_ARTICLE_NOT_FOUND").await;
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains(&missing.to_string()),
        "{body}"
    );
    api.app.shutdown().await.unwrap();
}

/// The `articles-remote` unit of `/health`.
async fn remote_unit(api: &Api) -> serde_json::Value {
    let health = json(
        api.send(Method::GET, "/health", None).await,
        "application/json",
    )
    .await;
    health["units"]
        .as_array()
        .unwrap()
        .iter()
        .find(|unit| unit["name"] == "articles-remote")
        .expect("the remote's unit")
        .clone()
}

/// The remote is down, then comes up on its port: every read answers 503 (never 500) with
/// `Retry-After` while it is down; once `BREAKER_FAILURES` (5) attempts failed the
/// `articles-remote` breaker is open, and says how long in `Retry-After` (at most
/// `BREAKER_OPEN_MS`, 3 s, where a 503 without a breaker says 5 s); once the remote is up the
/// trial after that time closes it and reads answer 200.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_remote_is_a_503_and_its_breaker_opens_then_closes() {
    let port = framework_test_support::free_low_port().to_string();
    let remote_url = format!("http://127.0.0.1:{port}");
    let api = Api::sqlite(&[
        ("ARTICLES_REMOTE_URL", remote_url.as_str()),
        ("ARTICLES_REMOTE_CONNECT_TIMEOUT_MS", "300"),
        ("BREAKER_OPEN_MS", "3000"),
    ])
    .await;
    let read = |id: String| {
        let api = &api;
        async move {
            let started = std::time::Instant::now();
            let response = api
                .send(Method::GET, &format!("/api/v1/remote/articles/{id}"), None)
                .await;
            let retry_after = response
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().parse::<u64>().unwrap());
            (response, retry_after, started.elapsed())
        }
    };
    let unknown = uuid::Uuid::new_v4().to_string();

    // Three attempts per read, each refused: the second read opens the breaker.
    let (response, retry_after, took) = read(unknown.clone()).await;
    assert_eq!(retry_after, Some(5), "no breaker open yet");
    let body = problem(response, 503, "REMOTE_UNAVAILABLE").await;
    assert!(
        !body["detail"].as_str().unwrap().contains("127.0.0.1"),
        "{body}"
    );
    assert!(took < std::time::Duration::from_secs(3), "{took:?}");
    read(unknown.clone()).await;
    let (response, retry_after, took) = read(unknown.clone()).await;
    problem(response, 503, "REMOTE_UNAVAILABLE").await;
    let open_for = retry_after.expect("Retry-After");
    assert!(
        (1..=3).contains(&open_for),
        "the breaker's time: {open_for}"
    );
    println!("breaker open: a read answered 503 in {took:?}, Retry-After {open_for}");
    assert_eq!(
        remote_unit(&api).await,
        json!({ "name": "articles-remote", "status": "down", "optional": true, "circuit": "open" })
    );

    // The remote comes up (an article service of its own on that port).
    let remote = Api::sqlite(&[("GRPC_HOST", "127.0.0.1"), ("GRPC_PORT", port.as_str())]).await;
    let created = remote
        .send(
            Method::POST,
            "/api/v1/articles",
            Some(json!({ "name": "Far away", "description": "On the remote" })),
        )
        .await;
    let id = json(created, "application/json").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let (response, retry_after, _) = read(id.clone()).await;
        if response.status() == 200 {
            break;
        }
        assert!(retry_after.is_some(), "a 503 says when to retry");
        problem(response, 503, "REMOTE_UNAVAILABLE").await;
        assert!(
            std::time::Instant::now() < deadline,
            "the breaker never closed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!(remote_unit(&api).await["circuit"], "closed");
    // Closed: a read that fails now is the remote's answer, not the breaker's.
    let (response, _, _) = read(unknown).await;
    problem(response, 404, "REMOTE_ARTICLE_NOT_FOUND").await;
    remote.app.shutdown().await.unwrap();
    api.app.shutdown().await.unwrap();
}
