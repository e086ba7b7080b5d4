//! A dependency that goes down, as a client sees it: PostgreSQL stopped under the running
//! service answers 503 problem+json with `Retry-After` (gRPC `UNAVAILABLE`), at once once the
//! database's circuit breaker is open, and the service serves again by itself when
//! PostgreSQL is back.

mod common;

use std::time::{Duration, Instant};

use common::{Api, problem};
use example_service::proto::article::v1 as pb;
use framework_test_support::OwnPostgres;
use reqwest::Method;
use serde_json::json;
use tonic::Code;

const LIST: &str = "/api/v1/articles";

/// Once the breaker is open, every answer comes within this (the issue: under 1 s).
const FAST: Duration = Duration::from_secs(1);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_stopped_answers_503_at_once_and_the_service_recovers_when_it_returns() {
    let postgres = OwnPostgres::start();
    // The breaker stays open 3 s (2 by default): room for the checks below on a slow machine
    // before a trial call, which waits out the 2 s acquire timeout, comes due.
    let api = Api::at(&postgres.url(), &[("BREAKER_OPEN_MS", "3000")]).await;
    let created = api
        .send(
            Method::POST,
            LIST,
            Some(json!({"name": "kept", "description": "through the outage"})),
        )
        .await;
    assert_eq!(created.status(), 201);
    assert_eq!(api.send(Method::GET, LIST, None).await.status(), 200);

    postgres.stop();
    let stopped = Instant::now();
    // The first requests each wait out the pool's acquire timeout (DATABASE_ACQUIRE_TIMEOUT_MS,
    // 2 s) and fail as unavailable; BREAKER_FAILURES (5) of them open the breaker. Sent side
    // by side, as a loaded service sees them.
    let first: Vec<_> =
        futures_util::future::join_all((0..5).map(|_| api.send(Method::GET, LIST, None))).await;
    for response in first {
        assert_eq!(response.status(), 503, "{:?}", response.headers());
        assert!(response.headers().contains_key("retry-after"));
        let body = problem(response, 503, "ARTICLE_STORAGE").await;
        assert!(
            !body["detail"].as_str().unwrap().contains("127.0.0.1"),
            "{body}"
        );
    }
    println!(
        "the first 5 requests answered 503 within {:?}",
        stopped.elapsed()
    );

    // Now the breaker is open: each answer is immediate, with the time it stays open.
    let mut slowest = Duration::ZERO;
    for _ in 0..20 {
        let sent = Instant::now();
        let response = api.send(Method::GET, LIST, None).await;
        let took = sent.elapsed();
        slowest = slowest.max(took);
        let retry_after: u64 = response.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=3).contains(&retry_after), "Retry-After {retry_after}");
        problem(response, 503, "ARTICLE_STORAGE").await;
        assert!(took < FAST, "a 503 took {took:?} with the breaker open");
    }
    println!("20 requests with the breaker open: 503 each, the slowest in {slowest:?}");
    // gRPC says the same in its own words.
    let url = api.app.grpc_url().expect("the service has a gRPC port");
    let mut client = common::connect_authorized(url).await;
    let sent = Instant::now();
    let status = client
        .list_articles(pb::ListArticlesRequest::default())
        .await
        .expect_err("the database is down");
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(sent.elapsed() < FAST, "{:?}", sent.elapsed());

    let health: serde_json::Value = api
        .send(Method::GET, "/health", None)
        .await
        .json()
        .await
        .unwrap();
    let database = health["units"]
        .as_array()
        .unwrap()
        .iter()
        .find(|unit| unit["name"] == "database")
        .expect("the database unit");
    assert_eq!(database["status"], "down", "{health}");
    assert_ne!(database["circuit"], "closed", "{health}");

    postgres.restart();
    let restarted = Instant::now();
    loop {
        let response = api.send(Method::GET, LIST, None).await;
        if response.status() == 200 {
            let body: serde_json::Value = response.json().await.unwrap();
            assert_eq!(body["total"], 1, "{body}");
            break;
        }
        assert_eq!(response.status(), 503);
        assert!(
            restarted.elapsed() < Duration::from_secs(5),
            "still 503 {:?} after PostgreSQL came back",
            restarted.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    println!(
        "200 again {:?} after PostgreSQL restarted",
        restarted.elapsed()
    );
    let response = client
        .list_articles(pb::ListArticlesRequest::default())
        .await
        .expect("gRPC lists again");
    assert_eq!(response.into_inner().total, 1);
    api.app.shutdown().await.expect("graceful shutdown");
}
