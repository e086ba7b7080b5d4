//! `rate_limit` on a public route: each client address has its own allowance (IPv4 loopback
//! addresses other than 127.0.0.1 reach a listener on it), whichever limiter serves: in process
//! without a cache or with `REDIS_URL=memory`, and, with Redis down, the Redis limiter's
//! in-process fallback (the limit then holds per replica, and nothing fails).

use std::net::{IpAddr, Ipv4Addr};

use framework::http_route;
use framework::testing::TestApp;

#[http_route(GET, "/limited", rate_limit = "3/min")]
async fn limited() -> &'static str {
    "admitted"
}

#[http_route(GET, "/free")]
async fn free() -> &'static str {
    "admitted"
}

async fn start(redis: &str) -> TestApp {
    start_with(&[("REDIS_URL", redis)]).await
}

async fn start_with(overrides: &[(&str, &str)]) -> TestApp {
    let mut env = vec![("DATABASE_URL", ""), ("HTTP_BASE_PATH", "")];
    env.extend_from_slice(overrides);
    TestApp::start(&env).await.expect("the app starts")
}

/// A client whose connections come from `127.0.0.<n>`.
fn client_from(n: u8) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 0, n)))
        .build()
        .unwrap()
}

/// The statuses of `count` requests to `path` from `client`.
async fn statuses(app: &TestApp, client: &reqwest::Client, path: &str, count: usize) -> Vec<u16> {
    forwarded(app, client, path, count, None).await
}

/// The same, each request saying `X-Forwarded-For: <for>`.
async fn forwarded(
    app: &TestApp,
    client: &reqwest::Client,
    path: &str,
    count: usize,
    by: Option<&str>,
) -> Vec<u16> {
    let mut statuses = Vec::new();
    for _ in 0..count {
        let mut request = client.get(app.url(path));
        if let Some(by) = by {
            request = request.header("x-forwarded-for", by);
        }
        statuses.push(request.send().await.unwrap().status().as_u16());
    }
    statuses
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_counts_apart() {
    let app = start_with(&[
        ("REDIS_URL", "memory"),
        ("HTTP_TRUSTED_PROXIES", "127.0.0.1"),
    ])
    .await;
    let proxy = client_from(1);
    let first = Some("198.51.100.1");
    assert_eq!(
        forwarded(&app, &proxy, "/limited", 4, first).await,
        [200, 200, 200, 429]
    );
    // What a client wrote before the proxy appended its peer is not believed.
    let second = Some("198.51.100.1, 198.51.100.2");
    assert_eq!(
        forwarded(&app, &proxy, "/limited", 4, second).await,
        [200, 200, 200, 429]
    );
    // From an address that is not a trusted proxy, the header is ignored: each spoofed
    // value still counts as the one peer.
    let direct = client_from(5);
    assert_eq!(
        forwarded(&app, &direct, "/limited", 2, Some("203.0.113.1")).await,
        [200, 200]
    );
    assert_eq!(
        forwarded(&app, &direct, "/limited", 2, Some("203.0.113.2")).await,
        [200, 429]
    );
    app.shutdown().await.unwrap();

    // A proxy that is not an address or a network fails the start, naming the key.
    let error = TestApp::start(&[
        ("DATABASE_URL", ""),
        ("HTTP_TRUSTED_PROXIES", "lb.internal"),
    ])
    .await
    .err()
    .expect("an invalid proxy list fails");
    assert!(
        error.to_string().contains("HTTP_TRUSTED_PROXIES"),
        "{error}"
    );
}

#[tokio::test]
async fn each_address_has_its_own_allowance_with_each_limiter() {
    // No cache, the in-process cache, and a Redis that is down (port 1: refused).
    for redis in ["", "memory", "redis://127.0.0.1:1"] {
        let app = start(redis).await;
        let first = client_from(1);
        assert_eq!(
            statuses(&app, &first, "/limited", 5).await,
            [200, 200, 200, 429, 429],
            "REDIS_URL={redis:?}"
        );
        assert_eq!(
            statuses(&app, &client_from(2), "/limited", 4).await,
            [200, 200, 200, 429],
            "REDIS_URL={redis:?}: another address"
        );
        // A route without a limit is not counted, nor limited.
        assert_eq!(
            statuses(&app, &first, "/free", 5).await,
            [200; 5],
            "REDIS_URL={redis:?}"
        );
        app.shutdown().await.unwrap();
    }
}

#[tokio::test]
async fn answers_carry_the_ratelimit_headers_and_the_document_lists_429() {
    let app = start("memory").await;
    let client = client_from(3);
    let admitted = client.get(app.url("/limited")).send().await.unwrap();
    assert_eq!(
        admitted.headers()["ratelimit-policy"],
        r#""GET /limited";q=3;w=60"#
    );
    assert_eq!(
        admitted.headers()["ratelimit"],
        r#""GET /limited";r=2;t=20"#
    );
    statuses(&app, &client, "/limited", 2).await;
    let refused = client.get(app.url("/limited")).send().await.unwrap();
    assert_eq!(refused.status(), 429);
    let retry_after: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (19..=20).contains(&retry_after),
        "Retry-After {retry_after}"
    );
    assert_eq!(
        refused.headers()["content-type"],
        "application/problem+json"
    );
    let problem: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(problem["code"], "RATE_LIMITED", "{problem}");
    assert_eq!(problem["status"], 429, "{problem}");
    let free = client.get(app.url("/free")).send().await.unwrap();
    assert!(!free.headers().contains_key("ratelimit"));

    let document: serde_json::Value = reqwest::get(app.url("/openapi.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let responses = &document["paths"]["/limited"]["get"]["responses"];
    assert!(
        responses["429"]["headers"]["Retry-After"].is_object(),
        "{responses}"
    );
    assert!(document["paths"]["/free"]["get"]["responses"]["429"].is_null());
    app.shutdown().await.unwrap();
}
