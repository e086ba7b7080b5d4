//! The article service over gRPC, through a real tonic client on a real TCP port, on SQLite
//! and on PostgreSQL: every RPC, the error mapping with `google.rpc` details, the request id,
//! health and reflection; `WatchArticles` (changes made over HTTP and gRPC, the id filter,
//! the client's deadline, a watcher that falls behind, one that goes away, the watcher cap),
//! and shutdown with watches open, in-process and as a SIGTERM to the real binary.

mod common;

use std::time::{Duration, Instant};

use common::{Api, ArticleClient, authorized};
use example_service::article::feed::ArticleFeed;
use example_service::proto::article::v1 as pb;
use example_service::proto::article::v1::article_change::Kind;
use reqwest::Method;
use serde_json::json;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Request, Status, Streaming};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_types::StatusExt;

/// What shutdown must beat by far (the fault: the drain waited out 15 s).
const SHUTDOWN_TIMEOUT: &str = "15";
/// A generous bound for "at once".
const PROMPT: Duration = Duration::from_secs(5);

#[tokio::test]
async fn article_rpcs_on_sqlite() {
    let api = Api::sqlite(&[]).await;
    exercise(&api).await;
    api.app.shutdown().await.expect("graceful shutdown");
}

#[tokio::test]
async fn article_rpcs_on_postgres() {
    let api = Api::postgres(&[]).await;
    exercise(&api).await;
    api.app.shutdown().await.expect("graceful shutdown");
}

async fn channel(api: &Api) -> Channel {
    let url = api.app.grpc_url().expect("the service has a gRPC port");
    Channel::from_shared(url)
        .unwrap()
        .connect()
        .await
        .expect("connect to gRPC")
}

async fn exercise(api: &Api) {
    let channel = channel(api).await;
    let mut client = authorized(channel.clone());
    rpcs(&mut client).await;
    errors(&mut client).await;
    request_id(&mut client).await;
    health(channel.clone()).await;
    reflection(channel).await;
}

fn create(name: &str, description: &str) -> pb::CreateArticleRequest {
    pb::CreateArticleRequest {
        name: name.into(),
        description: description.into(),
    }
}

async fn rpcs(client: &mut ArticleClient) {
    let created = client
        .create_article(create("Over gRPC", "Created by tonic"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(created.name, "Over gRPC");
    assert!(uuid::Uuid::parse_str(&created.id).is_ok());
    assert_eq!(created.created_at, created.updated_at);

    let fetched = client
        .get_article(pb::GetArticleRequest {
            id: created.id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(fetched, created);

    client
        .create_article(create("Second one", "Another article"))
        .await
        .unwrap();
    let page = client
        .list_articles(pb::ListArticlesRequest {
            limit: Some(1),
            offset: Some(1),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (page.total, page.limit, page.offset, page.items.len()),
        (2, 1, 1, 1)
    );
    assert_eq!(page.items[0].name, "Second one");
    let page = client
        .list_articles(pb::ListArticlesRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (page.limit, page.items.len()),
        (20, 2),
        "ARTICLES_DEFAULT_PAGE_SIZE"
    );

    let updated = client
        .update_article(pb::UpdateArticleRequest {
            id: created.id.clone(),
            name: "Renamed over gRPC".into(),
            description: "Updated by tonic".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(updated.name, "Renamed over gRPC");
    assert_eq!(updated.created_at, created.created_at);

    client
        .delete_article(pb::DeleteArticleRequest {
            id: created.id.clone(),
        })
        .await
        .unwrap();
    let gone = client
        .get_article(pb::GetArticleRequest { id: created.id })
        .await
        .unwrap_err();
    assert_eq!(gone.code(), Code::NotFound);
}

async fn errors(client: &mut ArticleClient) {
    let invalid = client
        .create_article(create("ab", "   "))
        .await
        .unwrap_err();
    assert_eq!(invalid.code(), Code::InvalidArgument);
    let details = invalid.get_error_details();
    assert_eq!(details.error_info().unwrap().reason, "VALIDATION_FAILED");
    let mut violations: Vec<(String, String)> = details
        .bad_request()
        .unwrap()
        .field_violations
        .iter()
        .map(|v| (v.field.clone(), v.description.clone()))
        .collect();
    violations.sort();
    assert_eq!(
        violations,
        [
            (
                "description".to_owned(),
                "must be between 5 and 100 characters".to_owned()
            ),
            ("description".to_owned(), "must not be blank".to_owned()),
            (
                "name".to_owned(),
                "must be between 3 and 50 characters".to_owned()
            ),
        ]
    );

    let bad_id = client
        .get_article(pb::GetArticleRequest {
            id: "not-a-uuid".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(bad_id.code(), Code::InvalidArgument);
    assert_eq!(
        bad_id
            .get_error_details()
            .bad_request()
            .unwrap()
            .field_violations[0]
            .field,
        "id"
    );

    let bad_limit = client
        .list_articles(pb::ListArticlesRequest {
            limit: Some(5000),
            offset: None,
        })
        .await
        .unwrap_err();
    assert_eq!(bad_limit.code(), Code::InvalidArgument);

    let missing = uuid::Uuid::new_v4().to_string();
    let not_found = client
        .get_article(pb::GetArticleRequest {
            id: missing.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(not_found.code(), Code::NotFound);
    assert_eq!(not_found.message(), format!("article {missing} not found"));
    let info = not_found.get_error_details().error_info().cloned().unwrap();
    assert_eq!(
        (info.reason.as_str(), info.domain.as_str()),
        ("ARTICLE_NOT_FOUND", "example-service")
    );
    let delete_missing = client
        .delete_article(pb::DeleteArticleRequest { id: missing })
        .await
        .unwrap_err();
    assert_eq!(delete_missing.code(), Code::NotFound);

    client
        .create_article(create("Taken name", "First holder"))
        .await
        .unwrap();
    let taken = client
        .create_article(create("Taken name", "Second holder"))
        .await
        .unwrap_err();
    assert_eq!(taken.code(), Code::AlreadyExists);
    assert_eq!(
        taken.get_error_details().error_info().unwrap().reason,
        "ARTICLE_NAME_TAKEN"
    );
}

async fn request_id(client: &mut ArticleClient) {
    let mut request = Request::new(pb::ListArticlesRequest::default());
    request
        .metadata_mut()
        .insert("x-request-id", "grpc-call-7".parse().unwrap());
    let response = client.list_articles(request).await.unwrap();
    assert_eq!(
        response.metadata().get("x-request-id").unwrap(),
        "grpc-call-7"
    );

    let response = client
        .list_articles(pb::ListArticlesRequest::default())
        .await
        .unwrap();
    let generated = response
        .metadata()
        .get("x-request-id")
        .unwrap()
        .to_str()
        .unwrap();
    assert!(
        uuid::Uuid::parse_str(generated).is_ok(),
        "generated: {generated}"
    );
}

async fn health(channel: Channel) {
    let mut health = HealthClient::new(channel);
    for service in ["", "database", "article.v1.ArticleService"] {
        let response = health
            .check(tonic_health::pb::HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap_or_else(|e| panic!("health of {service:?}: {e}"))
            .into_inner();
        assert_eq!(response.status(), ServingStatus::Serving, "{service:?}");
    }
    let unknown = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: "no.such.Service".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);
}

async fn reflection(channel: Channel) {
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

    let mut client = ServerReflectionClient::new(channel);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = client
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    let response = responses.message().await.unwrap().expect("one response");
    let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
        panic!("not a service list: {response:?}");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    assert!(
        names.contains(&"article.v1.ArticleService".to_owned()),
        "{names:?}"
    );
    assert!(
        names.contains(&"grpc.health.v1.Health".to_owned()),
        "{names:?}"
    );

    // A reflection client finds WatchArticles, a server stream, in the service's descriptor.
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::FileContainingSymbol(
            "article.v1.ArticleService".into(),
        )),
    };
    let mut responses = client
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    let response = responses.message().await.unwrap().expect("one response");
    let Some(MessageResponse::FileDescriptorResponse(files)) = response.message_response else {
        panic!("not a descriptor: {response:?}");
    };
    let watch = files
        .file_descriptor_proto
        .iter()
        .map(|bytes| <prost_types::FileDescriptorProto as prost::Message>::decode(&bytes[..]))
        .map(Result::unwrap)
        .flat_map(|file| file.service)
        .filter(|service| service.name() == "ArticleService")
        .flat_map(|service| service.method)
        .find(|method| method.name() == "WatchArticles")
        .expect("WatchArticles is described");
    assert_eq!(watch.output_type(), ".article.v1.ArticleChange");
    assert!(watch.server_streaming() && !watch.client_streaming());
}

fn watch_all() -> pb::WatchArticlesRequest {
    pb::WatchArticlesRequest::default()
}

/// The stream's next item, a bounded while.
async fn next<T>(stream: &mut Streaming<T>) -> Result<Option<T>, Status> {
    tokio::time::timeout(PROMPT, stream.message())
        .await
        .expect("the stream answers promptly")
}

async fn change(stream: &mut Streaming<pb::ArticleChange>) -> (Kind, String, String, i64) {
    let change = next(stream)
        .await
        .expect("a change")
        .expect("the stream goes on");
    (change.kind(), change.id, change.name, change.version)
}

#[tokio::test]
async fn watch_articles_on_sqlite() {
    let api = Api::sqlite(&[]).await;
    watching(&api).await;
    api.app.shutdown().await.expect("graceful shutdown");
}

#[tokio::test]
async fn watch_articles_on_postgres() {
    let api = Api::postgres(&[]).await;
    watching(&api).await;
    api.app.shutdown().await.expect("graceful shutdown");
}

/// Changes made over HTTP and over gRPC reach every watcher, in order; a watcher of one
/// article sees only that article's.
async fn watching(api: &Api) {
    let mut client = authorized(channel(api).await);
    let created = api
        .send(
            Method::POST,
            "/api/v1/articles",
            Some(json!({"name": "Watched", "description": "Made before the watch"})),
        )
        .await;
    assert_eq!(created.status(), 201);
    let first: serde_json::Value = created.json().await.unwrap();
    let first = first["id"].as_str().unwrap().to_owned();

    let mut request = Request::new(watch_all());
    request
        .metadata_mut()
        .insert("x-request-id", "watch-all-1".parse().unwrap());
    let response = client.watch_articles(request).await.unwrap();
    assert_eq!(
        response.metadata().get("x-request-id").unwrap(),
        "watch-all-1"
    );
    let mut all = response.into_inner();
    let mut one = client
        .watch_articles(pb::WatchArticlesRequest { id: first.clone() })
        .await
        .unwrap()
        .into_inner();

    let second = client
        .create_article(pb::CreateArticleRequest {
            name: "Second".into(),
            description: "Made over gRPC".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let renamed = api
        .send(
            Method::PUT,
            &format!("/api/v1/articles/{first}"),
            Some(json!({"name": "Renamed", "description": "Changed over HTTP"})),
        )
        .await;
    assert_eq!(renamed.status(), 200);
    let deleted = api
        .send(
            Method::DELETE,
            &format!("/api/v1/articles/{}", second.id),
            None,
        )
        .await;
    assert_eq!(deleted.status(), 204);
    client
        .delete_article(pb::DeleteArticleRequest { id: first.clone() })
        .await
        .unwrap();

    // Each with the article's version after it (a deletion's: the last plus one).
    assert_eq!(
        change(&mut all).await,
        (Kind::Created, second.id.clone(), "Second".into(), 1)
    );
    assert_eq!(
        change(&mut all).await,
        (Kind::Updated, first.clone(), "Renamed".into(), 2)
    );
    assert_eq!(
        change(&mut all).await,
        (Kind::Deleted, second.id.clone(), String::new(), 2)
    );
    assert_eq!(
        change(&mut all).await,
        (Kind::Deleted, first.clone(), String::new(), 3)
    );
    assert_eq!(
        change(&mut one).await,
        (Kind::Updated, first.clone(), "Renamed".into(), 2)
    );
    assert_eq!(
        change(&mut one).await,
        (Kind::Deleted, first.clone(), String::new(), 3)
    );

    // A change's time is the article's.
    let third = client
        .create_article(pb::CreateArticleRequest {
            name: "Third".into(),
            description: "Its time is checked".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let made = next(&mut all).await.unwrap().unwrap();
    assert_eq!(
        (made.id.as_str(), made.at),
        (third.id.as_str(), third.updated_at)
    );

    let bad = client
        .watch_articles(pb::WatchArticlesRequest {
            id: "not-a-uuid".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument);
    let violations = bad.get_error_details().bad_request().cloned().unwrap();
    assert_eq!(violations.field_violations[0].field, "id");
}

/// Waits, a bounded while, for the app's open watchers to number `count`.
async fn wait_for_watchers(api: &Api, count: usize) {
    let feed = api.app.running().component::<ArticleFeed>().unwrap();
    let deadline = Instant::now() + PROMPT;
    while feed.watchers() != count {
        assert!(
            Instant::now() < deadline,
            "{} watchers, not {count}",
            feed.watchers()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_watch_ends_with_deadline_exceeded_at_the_clients_deadline() {
    let api = Api::sqlite(&[]).await;
    let mut client = authorized(channel(&api).await);
    let mut request = Request::new(watch_all());
    request.set_timeout(Duration::from_millis(500));
    let started = Instant::now();
    let mut changes = client.watch_articles(request).await.unwrap().into_inner();
    let status = next(&mut changes).await.unwrap_err();
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(500), "{elapsed:?}");
    wait_for_watchers(&api, 0).await;
    api.app.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_watcher_that_falls_behind_is_aborted_rather_than_shown_a_gap() {
    let api = Api::sqlite(&[("ARTICLES_WATCH_BUFFER", "4")]).await;
    // A slow client: a small HTTP/2 window, and it reads nothing while the changes are made.
    let slow = Endpoint::from_shared(api.app.grpc_url().unwrap())
        .unwrap()
        .initial_stream_window_size(1024)
        .connect()
        .await
        .unwrap();
    let mut changes = authorized(slow)
        .watch_articles(watch_all())
        .await
        .unwrap()
        .into_inner();
    let mut client = authorized(channel(&api).await);
    let article = client
        .create_article(pb::CreateArticleRequest {
            name: "step 00".into(),
            description: "Changed many times".into(),
        })
        .await
        .unwrap()
        .into_inner();
    for step in 1..60 {
        client
            .update_article(pb::UpdateArticleRequest {
                id: article.id.clone(),
                name: format!("step {step:02}"),
                description: "Changed many times".into(),
            })
            .await
            .unwrap();
    }
    // What it gets is the changes in order from the first, then the error: no gap.
    let mut names = Vec::new();
    let status = loop {
        match next(&mut changes).await {
            Ok(Some(change)) => names.push(change.name),
            Ok(None) => panic!("the stream ended without saying it lost changes: {names:?}"),
            Err(status) => break status,
        }
    };
    assert_eq!(status.code(), Code::Aborted, "{status:?}");
    assert!(status.message().contains("behind"), "{status:?}");
    let expected: Vec<String> = (0..names.len()).map(|s| format!("step {s:02}")).collect();
    assert_eq!(names, expected);
    assert!(names.len() < 60, "nothing was lost: {names:?}");
    wait_for_watchers(&api, 0).await;
    api.app.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_watcher_whose_client_goes_away_is_closed_and_watchers_are_capped() {
    let api = Api::sqlite(&[("ARTICLES_MAX_WATCHERS", "1")]).await;
    let mut client = authorized(channel(&api).await);
    let first = client.watch_articles(watch_all()).await.unwrap();
    wait_for_watchers(&api, 1).await;
    let refused = client.watch_articles(watch_all()).await.unwrap_err();
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
    assert!(
        refused.message().contains("ARTICLES_MAX_WATCHERS"),
        "{refused:?}"
    );

    drop(first);
    wait_for_watchers(&api, 0).await;
    let _again = client.watch_articles(watch_all()).await.unwrap();
    wait_for_watchers(&api, 1).await;
    api.app.shutdown().await.unwrap();
}

#[tokio::test]
async fn shutdown_ends_open_watches_at_once() {
    let api = Api::sqlite(&[("SHUTDOWN_TIMEOUT_SECS", SHUTDOWN_TIMEOUT)]).await;
    let channel = channel(&api).await;
    let mut changes = authorized(channel.clone())
        .watch_articles(watch_all())
        .await
        .unwrap()
        .into_inner();
    let mut health = HealthClient::new(channel)
        .watch(tonic_health::pb::HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    // Health follows the app's readiness a moment after it.
    while next(&mut health).await.unwrap().unwrap().status() != ServingStatus::Serving {}
    wait_for_watchers(&api, 1).await;

    let started = Instant::now();
    api.app.shutdown().await.expect("graceful shutdown");
    let elapsed = started.elapsed();
    assert!(
        elapsed < PROMPT,
        "shutdown took {elapsed:?} with watches open"
    );

    let ended = next(&mut changes).await.unwrap_err();
    assert_eq!(ended.code(), Code::Unavailable, "{ended:?}");
    let status = next(&mut health).await.unwrap().unwrap().status();
    assert_eq!(status, ServingStatus::NotServing);
    let ended = next(&mut health).await.unwrap_err();
    assert_eq!(ended.code(), Code::Unavailable, "{ended:?}");
}

/// The fault as reported: the real binary, a watch open, SIGTERM with
/// `SHUTDOWN_TIMEOUT_SECS=15`.
#[cfg(unix)]
#[tokio::test]
async fn sigterm_with_watches_open_exits_at_once() {
    let database = std::env::temp_dir().join(format!("sigterm-{}.db", uuid::Uuid::new_v4()));
    let _file = common::TempFile::new(database.clone());
    let database = format!("sqlite://{}", database.display());
    let service = common::Process::start(&[
        ("DATABASE_URL", &database),
        ("KAFKA_BROKERS", "memory"),
        ("SHUTDOWN_TIMEOUT_SECS", SHUTDOWN_TIMEOUT),
    ])
    .await;
    let address = service.grpc.clone();
    let channel = Channel::from_shared(format!("http://{address}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut changes = authorized(channel.clone())
        .watch_articles(watch_all())
        .await
        .unwrap()
        .into_inner();
    let mut health = HealthClient::new(channel)
        .watch(tonic_health::pb::HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    // gRPC listens while the app is still starting: wait until it is ready.
    while next(&mut health).await.unwrap().unwrap().status() != ServingStatus::Serving {}

    let started = Instant::now();
    service.terminate();
    let (exit, logs) = service.exit(PROMPT).await;
    let elapsed = started.elapsed();
    assert!(exit.success(), "{exit:?}");
    assert!(elapsed < PROMPT, "{elapsed:?}");

    let ended = next(&mut changes).await.unwrap_err();
    assert_eq!(ended.code(), Code::Unavailable, "{ended:?}");
    let status = next(&mut health).await.unwrap().unwrap().status();
    assert_eq!(status, ServingStatus::NotServing);
    let ended = next(&mut health).await.unwrap_err();
    assert_eq!(ended.code(), Code::Unavailable, "{ended:?}");
    let logs = logs.join("\n");
    assert!(
        !logs.contains("did not drain before the deadline"),
        "{logs}"
    );
    assert!(logs.contains("gRPC drained"), "{logs}");
}
