//! What a write promises, under contention, timeouts and odd input, on SQLite and on the
//! PostgreSQL of `DATABASE_URL` (scripts/test starts one), with the events on the in-process
//! broker and on the real broker of `KAFKA_BROKERS`:
//! - concurrent updates of one article each get their own version, decided by the database;
//!   `updated_at` never goes back; the activity projection counts every acknowledged change
//!   once, whatever order the events arrive in;
//! - a request the server gave up on (timeout, gRPC deadline, client gone) while its write
//!   waited for a lock commits nothing afterwards, and its retry is not a conflict;
//! - text the database cannot store (NUL) is refused by validation on every backend, over
//!   HTTP and gRPC, before anything is written.

mod common;

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use common::{Api, json, problem};
use example_service::proto::article::v1 as pb;
use framework::sqlx::{Connection, PgConnection, SqliteConnection};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tonic::Code;
use tonic_types::StatusExt;

fn real_brokers() -> String {
    let brokers = std::env::var("KAFKA_BROKERS").unwrap_or_default();
    assert!(
        !brokers.is_empty() && !brokers.starts_with("memory"),
        "this test needs KAFKA_BROKERS=host:port of a running Kafka-protocol broker (scripts/test starts tansu)"
    );
    brokers
}

// ---- concurrent updates --------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_updates_on_sqlite_and_the_in_process_broker() {
    let api = Api::sqlite(&[]).await;
    concurrent_updates(&api).await;
    api.app.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_updates_on_postgres_and_the_broker() {
    let topic = format!("article.events.{}", uuid::Uuid::new_v4().simple());
    let api = Api::postgres(&[
        ("KAFKA_BROKERS", real_brokers().as_str()),
        ("ARTICLES_EVENTS_TOPIC", topic.as_str()),
    ])
    .await;
    concurrent_updates(&api).await;
    api.app.shutdown().await.unwrap();
}

/// Six rounds of: create an article, then 8 concurrent PUTs with distinct names.
async fn concurrent_updates(api: &Api) {
    for round in 0..6 {
        let id = create(api, &format!("Contended {round}")).await["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let mut puts = tokio::task::JoinSet::new();
        for writer in 0..8 {
            let request = api
                .client
                .put(api.app.url(&format!("/api/v1/articles/{id}")))
                .json(&json!({
                    "name": format!("Contended {round}.{writer}"),
                    "description": "One of eight at once",
                }));
            puts.spawn(async move { request.send().await.expect("the PUT reaches the app") });
        }
        // Readers meanwhile fill the cache, racing the writers' invalidations.
        let reading = api.client.clone();
        let url = api.app.url(&format!("/api/v1/articles/{id}"));
        let readers = tokio::spawn(async move {
            for _ in 0..200 {
                let response = reading.get(&url).send().await.unwrap();
                assert_eq!(response.status(), 200);
            }
        });
        let mut acknowledged = Vec::new();
        while let Some(response) = puts.join_next().await {
            let response = response.unwrap();
            assert_eq!(response.status(), 200, "every concurrent PUT succeeds");
            acknowledged.push(json(response, "application/json").await);
        }
        readers.await.unwrap();
        acknowledged.sort_by_key(|article| article["version"].as_i64());
        let versions: Vec<i64> = acknowledged
            .iter()
            .map(|a| a["version"].as_i64().unwrap())
            .collect();
        assert_eq!(
            versions,
            (2..=9).collect::<Vec<_>>(),
            "each update has a version of its own"
        );
        let times: Vec<DateTime<Utc>> = acknowledged.iter().map(updated_at).collect();
        assert!(
            times.windows(2).all(|pair| pair[0] <= pair[1]),
            "updated_at never goes back from one version to the next: {times:?}"
        );

        let stored = article(api, &id).await;
        assert_eq!(
            &stored,
            acknowledged.last().unwrap(),
            "the article read back (through the cache) is the last version"
        );

        let activity = activity(api, &id, 9).await;
        assert_eq!(activity["last_version"], 9, "{activity}");
        assert_eq!(activity["last_event"], "ArticleUpdated", "{activity}");
    }
}

fn updated_at(article: &Value) -> DateTime<Utc> {
    article["updated_at"].as_str().unwrap().parse().unwrap()
}

/// Polls the activity of `id` until it shows `changes`; then checks it stays there.
async fn activity(api: &Api, id: &str, changes: i64) -> Value {
    let path = format!("/api/v1/articles/{id}/activity");
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut last = Value::Null;
    while last["changes"] != changes {
        assert!(
            Instant::now() < deadline,
            "the activity of {id} never reached {changes} changes; last seen: {last}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
        let response = api.send(Method::GET, &path, None).await;
        if response.status() == 200 {
            last = json(response, "application/json").await;
        }
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let again = json(api.send(Method::GET, &path, None).await, "application/json").await;
    assert_eq!(again, last, "no change is counted twice");
    last
}

/// The article as `GET /api/v1/articles/{id}` answers it (through the cache).
async fn article(api: &Api, id: &str) -> Value {
    let path = format!("/api/v1/articles/{id}");
    json(api.send(Method::GET, &path, None).await, "application/json").await
}

async fn create(api: &Api, name: &str) -> Value {
    let response = api
        .send(
            Method::POST,
            "/api/v1/articles",
            Some(json!({ "name": name, "description": "A fine article" })),
        )
        .await;
    assert_eq!(response.status(), 201);
    json(response, "application/json").await
}

// ---- work given up on ----------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_request_given_up_on_commits_nothing_on_sqlite() {
    let api = Api::sqlite(&[("HTTP_REQUEST_TIMEOUT_SECS", "2")]).await;
    given_up(&api).await;
    api.app.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_request_given_up_on_commits_nothing_on_postgres() {
    let api = Api::postgres(&[("HTTP_REQUEST_TIMEOUT_SECS", "2")]).await;
    given_up(&api).await;
    api.app.shutdown().await.unwrap();
}

/// Another session holds a write lock for 4 s while, at once, a POST times out
/// (2 s), a gRPC create passes its 1 s deadline and an HTTP client hangs up after 1 s: each
/// write waits for the lock and is given up on before the lock is released.
async fn given_up(api: &Api) {
    const NAMES: &[&str] = &["Timed out", "Past its deadline", "Client gone"];
    let lock = hold_write_lock(&api.database_url, NAMES, Duration::from_secs(4)).await;

    let timed_out = async {
        let started = Instant::now();
        let response = api
            .send(
                Method::POST,
                "/api/v1/articles",
                Some(json!({ "name": NAMES[0], "description": "Waits for a lock" })),
            )
            .await;
        assert_eq!(response.status(), StatusCode::REQUEST_TIMEOUT);
        let waited = started.elapsed();
        assert!(
            waited < Duration::from_secs(4),
            "answered at the timeout, not after the lock: {waited:?}"
        );
    };
    let past_deadline = async {
        let mut grpc = common::connect_authorized(api.app.grpc_url().unwrap()).await;
        let mut request = tonic::Request::new(pb::CreateArticleRequest {
            name: NAMES[1].into(),
            description: "Waits for a lock".into(),
        });
        request.set_timeout(Duration::from_secs(1));
        let status = grpc.create_article(request).await.unwrap_err();
        assert!(
            matches!(status.code(), Code::DeadlineExceeded | Code::Cancelled),
            "{status:?}"
        );
    };
    let client_gone = async {
        let gone = api
            .client
            .post(api.app.url("/api/v1/articles"))
            .json(&json!({ "name": NAMES[2], "description": "Hangs up after 1 s" }))
            .timeout(Duration::from_secs(1))
            .send()
            .await;
        assert!(
            gone.is_err_and(|e| e.is_timeout()),
            "the client gave up first"
        );
    };
    tokio::join!(timed_out, past_deadline, client_gone);
    assert!(
        !lock.is_finished(),
        "every write was given up on while it waited"
    );

    lock.await.unwrap();
    // The abandoned writes ran once the lock was free; give them time to have committed.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        stored_articles(&api.database_url).await,
        0,
        "nothing given up on was committed"
    );
    let page = json(
        api.send(Method::GET, "/api/v1/articles", None).await,
        "application/json",
    )
    .await;
    assert_eq!(page["total"], 0, "{page}");

    // Each retry is a first write, not a conflict with the abandoned one.
    for name in NAMES {
        let id = create(api, name).await["id"].as_str().unwrap().to_owned();
        activity(api, &id, 1).await;
    }
}

/// Blocks the writes of articles named `names` from another session, once this returns, and
/// unblocks them after `hold`, rolling its own work back. SQLite: the database's write lock.
/// PostgreSQL: uncommitted rows of the same names, whose row locks an insert of a taken
/// unique name waits for (a table lock would block at the statement's preparation already,
/// before anything is sent to run).
async fn hold_write_lock(
    url: &str,
    names: &'static [&'static str],
    hold: Duration,
) -> tokio::task::JoinHandle<()> {
    let (locked, is_locked) = tokio::sync::oneshot::channel();
    let url = url.to_owned();
    let task = tokio::spawn(async move {
        if url.starts_with("sqlite:") {
            let mut conn = SqliteConnection::connect(&url).await.unwrap();
            framework::sqlx::query("BEGIN IMMEDIATE")
                .execute(&mut conn)
                .await
                .unwrap();
            locked.send(()).unwrap();
            tokio::time::sleep(hold).await;
            framework::sqlx::query("ROLLBACK")
                .execute(&mut conn)
                .await
                .unwrap();
        } else {
            let mut conn = PgConnection::connect(&url).await.unwrap();
            framework::sqlx::query("BEGIN")
                .execute(&mut conn)
                .await
                .unwrap();
            for name in names {
                framework::sqlx::query(
                    "INSERT INTO articles (id, name, description, created_at, updated_at) \
                     VALUES (gen_random_uuid(), $1, 'held', now(), now())",
                )
                .bind(*name)
                .execute(&mut conn)
                .await
                .unwrap();
            }
            locked.send(()).unwrap();
            tokio::time::sleep(hold).await;
            framework::sqlx::query("ROLLBACK")
                .execute(&mut conn)
                .await
                .unwrap();
        }
    });
    is_locked.await.expect("the lock is taken");
    task
}

/// The articles stored, counted behind the service's back.
async fn stored_articles(url: &str) -> i64 {
    let sql = "SELECT COUNT(*) FROM articles";
    let count: (i64,) = if url.starts_with("sqlite:") {
        let mut conn = SqliteConnection::connect(url).await.unwrap();
        framework::sqlx::query_as(sql)
            .fetch_one(&mut conn)
            .await
            .unwrap()
    } else {
        let mut conn = PgConnection::connect(url).await.unwrap();
        framework::sqlx::query_as(sql)
            .fetch_one(&mut conn)
            .await
            .unwrap()
    };
    count.0
}

// ---- text the database cannot store ---------------------------------------------------------

#[tokio::test]
async fn nul_characters_are_refused_on_sqlite() {
    let api = Api::sqlite(&[]).await;
    unstorable_text(&api).await;
    api.app.shutdown().await.unwrap();
}

#[tokio::test]
async fn nul_characters_are_refused_on_postgres() {
    let api = Api::postgres(&[]).await;
    unstorable_text(&api).await;
    api.app.shutdown().await.unwrap();
}

async fn unstorable_text(api: &Api) {
    const NUL_MESSAGE: &str = "must not contain the NUL character (U+0000)";
    let response = api
        .send(
            Method::POST,
            "/api/v1/articles",
            Some(json!({ "name": "Nul\u{0}byte", "description": "name has a NUL char" })),
        )
        .await;
    let body = problem(response, 400, "VALIDATION_FAILED").await;
    assert_eq!(
        body["errors"],
        json!([{ "field": "name", "messages": [NUL_MESSAGE] }])
    );

    let id = create(api, "Clean name").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let response = api
        .send(
            Method::PUT,
            &format!("/api/v1/articles/{id}"),
            Some(json!({ "name": "Clean name", "description": "\u{0}".repeat(6) })),
        )
        .await;
    let body = problem(response, 400, "VALIDATION_FAILED").await;
    assert_eq!(
        body["errors"],
        json!([{ "field": "description", "messages": [NUL_MESSAGE] }])
    );

    let mut grpc = common::connect_authorized(api.app.grpc_url().unwrap()).await;
    let status = grpc
        .create_article(pb::CreateArticleRequest {
            name: "Nul\u{0}byte".into(),
            description: "name has a NUL char".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    let details = status.get_error_details();
    let violations = &details
        .bad_request()
        .expect("field violations")
        .field_violations;
    assert_eq!(violations.len(), 1, "{violations:?}");
    assert_eq!(
        (
            violations[0].field.as_str(),
            violations[0].description.as_str()
        ),
        ("name", NUL_MESSAGE)
    );

    assert_eq!(
        stored_articles(&api.database_url).await,
        1,
        "only the clean article is stored"
    );
    let stored = article(api, &id).await;
    assert_eq!(stored["version"], 1, "the refused update changed nothing");
}
