//! Rate limits as a client sees them: the article writes admit `ARTICLES_WRITE_RATE_LIMIT` per
//! caller. Two replicas sharing a real Redis (`REDIS_URL`) admit the limit in all, not each;
//! a refusal is 429 problem+json with `Retry-After` and the `RateLimit` headers, or gRPC
//! `RESOURCE_EXHAUSTED` with `RetryInfo`; another caller has an allowance of its own.

mod common;

use std::time::{Duration, Instant};

use common::{API_KEY, Api, problem};
use example_service::proto::article::v1 as pb;
use example_service::proto::article::v1::article_service_client::ArticleServiceClient;
use futures_util::StreamExt;
use reqwest::Method;
use serde_json::json;
use tonic::Code;
use tonic::metadata::MetadataValue;
use tonic_types::StatusExt;

/// The limit the shared test sets, per minute.
const N: usize = 100;
/// Requests sent: three times the limit, half to each replica.
const SENT: usize = 3 * N;

fn article() -> serde_json::Value {
    json!({"name": format!("limited-{}", uuid::Uuid::new_v4()), "description": "a description"})
}

/// A number from a `RateLimit` header's `key=value` parameter.
fn parameter(header: &str, key: &str) -> Option<u64> {
    header
        .split(';')
        .find_map(|p| p.trim().strip_prefix(key)?.strip_prefix('='))
        .and_then(|v| v.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_sharing_redis_admit_the_limit_in_all() {
    let redis = common::redis_url();
    // Its own key space: a run within a minute of another does not share its allowance.
    let service = format!("rate-limit-{}", uuid::Uuid::new_v4().simple());
    let limit = format!("{N}/min");
    let env = [
        ("REDIS_URL", redis.as_str()),
        ("APP_NAME", service.as_str()),
        ("ARTICLES_WRITE_RATE_LIMIT", limit.as_str()),
    ];
    let first = Api::postgres(&env).await;
    let second = Api::on(&first, &env).await;

    let started = Instant::now();
    let responses: Vec<reqwest::Response> = futures_util::stream::iter(0..SENT)
        .map(|i| {
            let replica = if i % 2 == 0 { &first } else { &second };
            replica.send(Method::POST, "/api/v1/articles", Some(article()))
        })
        .buffer_unordered(16)
        .collect()
        .await;
    let elapsed = started.elapsed();

    let mut admitted = 0;
    let mut refused = Vec::new();
    for response in responses {
        match response.status().as_u16() {
            201 => {
                admitted += 1;
                let state = response.headers()["ratelimit"].to_str().unwrap().to_owned();
                assert!(
                    parameter(&state, "r").is_some_and(|r| r < N as u64),
                    "{state}"
                );
            }
            429 => refused.push(response),
            other => panic!("unexpected {other}: {:?}", response.text().await),
        }
    }
    println!(
        "{SENT} writes in {elapsed:?} to two replicas under {limit}: {admitted} admitted, {} refused",
        refused.len()
    );
    // GCRA admits the burst of N, plus one per 600 ms that passed while sending.
    let replenished = (elapsed.as_millis() / 600) as usize;
    assert!(
        admitted >= N && admitted <= N + replenished,
        "{admitted} admitted in {elapsed:?}"
    );
    assert!(
        admitted.abs_diff(N) * 100 <= N * 5,
        "within 5% of {N}: {admitted} admitted in {elapsed:?}"
    );
    assert_eq!(admitted + refused.len(), SENT);

    let response = refused.pop().unwrap();
    let headers = response.headers().clone();
    let retry_after: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after), "Retry-After {retry_after}");
    assert_eq!(
        headers["ratelimit-policy"], r#""POST /articles";q=100;w=60"#,
        "RateLimit-Policy"
    );
    let state = headers["ratelimit"].to_str().unwrap();
    assert!(state.starts_with(r#""POST /articles";r=0;t="#), "{state}");
    assert!(
        parameter(state, "t").is_some_and(|t| (1..=60).contains(&t)),
        "{state}"
    );
    let body = problem(response, 429, "RATE_LIMITED").await;
    assert!(
        body["detail"].as_str().unwrap().contains("100/min"),
        "{body}"
    );

    second.app.shutdown().await.unwrap();
    first.app.shutdown().await.unwrap();
}

/// In process (`REDIS_URL=memory`): the limit counts each caller apart, and gRPC refuses with
/// `RESOURCE_EXHAUSTED`; reads are not limited.
#[tokio::test]
async fn each_caller_has_its_own_allowance_over_http_and_grpc() {
    const OTHER_KEY: &str = "another-key-not-a-secret";
    let keys = format!("local-dev={API_KEY} articles:write;other={OTHER_KEY} articles:write");
    let api = Api::sqlite(&[
        ("ARTICLES_WRITE_RATE_LIMIT", "2/min"),
        ("AUTH_API_KEYS", keys.as_str()),
    ])
    .await;
    for _ in 0..2 {
        let created = api
            .send(Method::POST, "/api/v1/articles", Some(article()))
            .await;
        assert_eq!(created.status(), 201);
    }
    let refused = api
        .send(Method::POST, "/api/v1/articles", Some(article()))
        .await;
    assert!(refused.headers().contains_key("retry-after"));
    problem(refused, 429, "RATE_LIMITED").await;
    // Reads are not limited.
    for _ in 0..5 {
        let listed = api.send(Method::GET, "/api/v1/articles", None).await;
        assert_eq!(listed.status(), 200);
    }
    // Another caller is not refused for the first one's requests.
    let other = reqwest::Client::new()
        .post(api.app.url("/api/v1/articles"))
        .header("x-api-key", OTHER_KEY)
        .json(&article())
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 201);

    // gRPC counts its own calls, under the method's policy.
    let mut client = ArticleServiceClient::connect(api.app.grpc_url().unwrap())
        .await
        .unwrap();
    let create = || {
        let mut request = tonic::Request::new(pb::CreateArticleRequest {
            name: format!("grpc-{}", uuid::Uuid::new_v4()),
            description: "a description".into(),
        });
        let key: MetadataValue<_> = API_KEY.parse().unwrap();
        request.metadata_mut().insert("x-api-key", key);
        request
    };
    for _ in 0..2 {
        client
            .create_article(create())
            .await
            .expect("within the limit");
    }
    let status = client.create_article(create()).await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    let details = status.get_error_details();
    assert_eq!(details.error_info().unwrap().reason, "RATE_LIMITED");
    let retry = details.retry_info().unwrap().retry_delay.unwrap();
    assert!(
        retry > Duration::ZERO && retry <= Duration::from_secs(30),
        "{retry:?}"
    );
    api.app.shutdown().await.unwrap();
}
