//! The outbound gRPC client: an HTTP endpoint that reads the article back over gRPC from the
//! service's own listener, and maps the remote's errors.

mod common;

use common::{Api, json, problem};
use reqwest::Method;
use serde_json::json;

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

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

#[tokio::test]
async fn an_unreachable_remote_is_a_503_with_retry_after_and_without_internals() {
    let closed = format!("http://127.0.0.1:{}", free_port());
    let api = Api::sqlite(&[
        ("ARTICLES_REMOTE_URL", closed.as_str()),
        ("ARTICLES_REMOTE_CONNECT_TIMEOUT_MS", "300"),
    ])
    .await;
    let started = std::time::Instant::now();
    let response = api
        .send(
            Method::GET,
            &format!("/api/v1/remote/articles/{}", uuid::Uuid::new_v4()),
            None,
        )
        .await;
    assert!(
        response.headers().contains_key("retry-after"),
        "{:?}",
        response.headers()
    );
    let body = problem(response, 503, "REMOTE_UNAVAILABLE").await;
    assert!(
        !body["detail"].as_str().unwrap().contains("127.0.0.1"),
        "{body}"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    api.app.shutdown().await.unwrap();
}
