//! Article reads go through the cache: a row changed behind the service's back is not seen
//! until the TTL ends, while updates and deletes through the service invalidate at once. On
//! SQLite with the in-process cache, and on PostgreSQL with the Redis of `REDIS_URL`.

mod common;

use common::{Api, json, problem};
use framework::sqlx::{Connection, PgConnection, SqliteConnection};
use reqwest::Method;
use serde_json::json;
use uuid::Uuid;

async fn reads_are_cached_and_writes_invalidate(api: Api) {
    let created = api
        .send(
            Method::POST,
            "/api/v1/articles",
            Some(json!({ "name": "Cached", "description": "first" })),
        )
        .await;
    let id = json(created, "application/json").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/api/v1/articles/{id}");
    let read = json(api.send(Method::GET, &path, None).await, "application/json").await;
    assert_eq!(read["name"], "Cached");

    // Changed behind the service's back: the cached article is still served.
    rename_behind_the_back(&api.database_url, id.parse().unwrap(), "Sneaky").await;
    let read = json(api.send(Method::GET, &path, None).await, "application/json").await;
    assert_eq!(read["name"], "Cached", "served from the cache");

    // An update through the service invalidates it.
    let updated = api
        .send(
            Method::PUT,
            &path,
            Some(json!({ "name": "Renamed", "description": "second" })),
        )
        .await;
    assert_eq!(updated.status(), 200);
    let read = json(api.send(Method::GET, &path, None).await, "application/json").await;
    assert_eq!(read["name"], "Renamed");

    // So does a delete: no stale article after it.
    assert_eq!(api.send(Method::DELETE, &path, None).await.status(), 204);
    problem(
        api.send(Method::GET, &path, None).await,
        404,
        "ARTICLE_NOT_FOUND",
    )
    .await;
    api.app.shutdown().await.unwrap();
}

/// Renames the article in the database directly, as another program would.
async fn rename_behind_the_back(url: &str, id: Uuid, name: &str) {
    let sql = "UPDATE articles SET name = $1 WHERE id = $2";
    // One statement, on whichever connection type the URL names.
    macro_rules! rename {
        ($connection:ty) => {{
            let mut conn = <$connection>::connect(url).await.expect("connect");
            let query = framework::sqlx::query(sql).bind(name).bind(id);
            let done = query.execute(&mut conn).await.expect("renamed");
            done.rows_affected()
        }};
    }
    let changed = if url.starts_with("postgres") {
        rename!(PgConnection)
    } else {
        rename!(SqliteConnection)
    };
    assert_eq!(changed, 1);
}

#[tokio::test]
async fn on_sqlite_with_the_in_process_cache() {
    reads_are_cached_and_writes_invalidate(Api::sqlite(&[("REDIS_URL", "memory")]).await).await;
}

#[tokio::test]
async fn on_postgres_with_redis() {
    let redis = common::redis_url();
    reads_are_cached_and_writes_invalidate(Api::postgres(&[("REDIS_URL", redis.as_str())]).await)
        .await;
}
