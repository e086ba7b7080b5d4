//! `POST /articles` with an `Idempotency-Key`, on SQLite and on PostgreSQL (`DATABASE_URL`):
//! a retry gets the same article and creates nothing, another body under the key gets 422,
//! and of concurrent requests under one key exactly one creates the article.

mod common;

use common::Api;
use reqwest::Method;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_create_makes_one_article_on_sqlite() {
    exercise(Api::sqlite(&[]).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_create_makes_one_article_on_postgres() {
    exercise(Api::postgres(&[]).await).await;
}

async fn post(api: &Api, key: &str, body: &Value) -> reqwest::Response {
    api.client
        .post(api.app.url("/api/v1/articles"))
        .header("idempotency-key", key)
        .json(body)
        .send()
        .await
        .expect("answered")
}

async fn total(api: &Api) -> i64 {
    let page: Value = api
        .send(Method::GET, "/api/v1/articles?limit=1", None)
        .await
        .json()
        .await
        .unwrap();
    page["total"].as_i64().expect("a total")
}

async fn exercise(api: Api) {
    let key = uuid::Uuid::new_v4().to_string();
    let body = json!({ "name": format!("idem-{key}"), "description": "only once" });
    let first = post(&api, &key, &body).await;
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();
    let retry = post(&api, &key, &body).await;
    assert_eq!(retry.status(), 201);
    assert_eq!(retry.headers()["idempotent-replayed"], "true");
    let retry: Value = retry.json().await.unwrap();
    assert_eq!(retry, first, "the retry got another article");
    assert_eq!(total(&api).await, 1);

    // The key with another body.
    let other = json!({ "name": format!("other-{key}"), "description": "twice over" });
    let refused = post(&api, &key, &other).await;
    assert_eq!(refused.status(), 422);
    let problem: Value = refused.json().await.unwrap();
    assert_eq!(problem["code"], "IDEMPOTENCY_KEY_REUSED");
    assert_eq!(total(&api).await, 1);

    // Eight at once under a new key: one creates, the others wait their turn (409) or, once
    // it finished, get its article.
    let key = uuid::Uuid::new_v4().to_string();
    let body = json!({ "name": format!("race-{key}"), "description": "at once" });
    let answers = futures_util::future::join_all((0..8).map(|_| post(&api, &key, &body))).await;
    let mut created = Vec::new();
    for answer in answers {
        match answer.status().as_u16() {
            201 => {
                let replayed = answer.headers().contains_key("idempotent-replayed");
                let article: Value = answer.json().await.unwrap();
                created.push((replayed, article["id"].clone()));
            }
            409 => {
                let problem: Value = answer.json().await.unwrap();
                assert_eq!(problem["code"], "IDEMPOTENCY_KEY_IN_USE");
            }
            other => panic!("unexpected status {other}"),
        }
    }
    let originals = created.iter().filter(|(replayed, _)| !replayed).count();
    assert_eq!(originals, 1, "{created:?}");
    assert!(
        created.iter().all(|(_, id)| *id == created[0].1),
        "{created:?}"
    );
    assert_eq!(total(&api).await, 2);
    api.app.shutdown().await.unwrap();
}
