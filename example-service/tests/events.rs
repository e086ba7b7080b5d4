//! Article events end to end: every write over HTTP publishes an event, the projection module
//! consumes it, and its HTTP endpoint shows the change counts. On the in-process broker and
//! on the real broker of `KAFKA_BROKERS` (scripts/test starts tansu).

mod common;

use std::time::{Duration, Instant};

use common::{Api, json, problem};
use reqwest::Method;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_feed_the_activity_projection_on_the_in_process_broker() {
    let topic = format!("article.events.{}", uuid::Uuid::new_v4().simple());
    let api = Api::sqlite(&[("ARTICLES_EVENTS_TOPIC", topic.as_str())]).await;
    exercise(&api).await;
    api.app.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_feed_the_activity_projection_on_the_broker() {
    let brokers = std::env::var("KAFKA_BROKERS").unwrap_or_default();
    assert!(
        !brokers.is_empty() && !brokers.starts_with("memory"),
        "this test needs KAFKA_BROKERS=host:port of a running Kafka-protocol broker (scripts/test starts tansu)"
    );
    let topic = format!("article.events.{}", uuid::Uuid::new_v4().simple());
    let api = Api::sqlite(&[
        ("KAFKA_BROKERS", brokers.as_str()),
        ("ARTICLES_EVENTS_TOPIC", topic.as_str()),
    ])
    .await;
    exercise(&api).await;
    api.app.shutdown().await.unwrap();
}

/// Polls the activity of `id` until it shows `changes`.
async fn activity(api: &Api, id: &str, changes: i64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut last = Value::Null;
    loop {
        let response = api
            .send(
                Method::GET,
                &format!("/api/v1/articles/{id}/activity"),
                None,
            )
            .await;
        if response.status() == 200 {
            last = json(response, "application/json").await;
            if last["changes"] == changes {
                return last;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the activity of {id} never reached {changes}; last seen: {last}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn exercise(api: &Api) {
    let missing = uuid::Uuid::new_v4();
    let response = api
        .send(
            Method::GET,
            &format!("/api/v1/articles/{missing}/activity"),
            None,
        )
        .await;
    problem(response, 404, "ARTICLE_ACTIVITY_NOT_FOUND").await;

    let created = api
        .send(
            Method::POST,
            "/api/v1/articles",
            Some(json!({ "name": "Eventful", "description": "Watch me change" })),
        )
        .await;
    assert_eq!(created.status(), 201);
    let id = json(created, "application/json").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let body = activity(api, &id, 1).await;
    assert_eq!(
        body,
        json!({ "article_id": id, "changes": 1, "last_event": "ArticleCreated", "last_version": 1 })
    );

    let updated = api
        .send(
            Method::PUT,
            &format!("/api/v1/articles/{id}"),
            Some(json!({ "name": "Eventful, renamed", "description": "Changed once" })),
        )
        .await;
    assert_eq!(updated.status(), 200);
    assert_eq!(activity(api, &id, 2).await["last_event"], "ArticleUpdated");

    let deleted = api
        .send(Method::DELETE, &format!("/api/v1/articles/{id}"), None)
        .await;
    assert_eq!(deleted.status(), 204);
    assert_eq!(activity(api, &id, 3).await["last_event"], "ArticleDeleted");
}
