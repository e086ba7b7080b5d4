//! The `summarize` job: once per tick, on one replica, it stores the totals of the articles
//! and their changes, served at `GET /api/v1/articles/summaries/latest`. Two replicas share
//! the database and the lease store: on SQLite with the in-process store, and on PostgreSQL
//! with the Redis of `REDIS_URL`.

mod common;

use std::time::{Duration, Instant};

use common::{Api, json};
use reqwest::Method;
use serde_json::{Value, json};

/// Every second, for the test.
const EVERY_SECOND: (&str, &str) = ("ARTICLES_SUMMARY_SCHEDULE", "* * * * * *");

async fn summaries_are_taken_once_per_tick(first: Api, second: Api) {
    for name in ["Summed", "Counted"] {
        let created = first
            .send(
                Method::POST,
                "/api/v1/articles",
                Some(json!({ "name": name, "description": "to sum up" })),
            )
            .await;
        assert_eq!(created.status(), 201);
    }
    // The events reach the projection, then a later tick sums it up.
    let deadline = Instant::now() + Duration::from_secs(20);
    let latest = loop {
        let response = second
            .send(Method::GET, "/api/v1/articles/summaries/latest", None)
            .await;
        if response.status() == 200 {
            let latest: Value = json(response, "application/json").await;
            if latest["articles"] == 2 && latest["changes"] == 2 {
                break latest;
            }
        }
        assert!(Instant::now() < deadline, "no summary of the two articles");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // A row per tick, with two replicas running the job: the lease gives each tick to one of
    // them (and the table's key would refuse a second row).
    let first_runs = latest["runs"].as_i64().unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let later: Value = json(
        second
            .send(Method::GET, "/api/v1/articles/summaries/latest", None)
            .await,
        "application/json",
    )
    .await;
    let added = later["runs"].as_i64().unwrap() - first_runs;
    assert!((2..=4).contains(&added), "{added} summaries in 3 s");
    first.app.shutdown().await.unwrap();
    second.app.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_sqlite_with_the_in_process_store() {
    let store = format!("memory://{}", uuid::Uuid::new_v4());
    let first = Api::sqlite(&[EVERY_SECOND, ("REDIS_URL", store.as_str())]).await;
    let second = Api::on(&first, &[EVERY_SECOND, ("REDIS_URL", store.as_str())]).await;
    summaries_are_taken_once_per_tick(first, second).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres_with_redis() {
    let redis = common::redis_url();
    // A service name of its own: the job's leases are not shared with other runs.
    let service = format!("summary-{}", uuid::Uuid::new_v4().simple());
    let overrides = [
        EVERY_SECOND,
        ("REDIS_URL", redis.as_str()),
        ("APP_NAME", service.as_str()),
    ];
    let first = Api::postgres(&overrides).await;
    let second = Api::on(&first, &overrides).await;
    summaries_are_taken_once_per_tick(first, second).await;
}
