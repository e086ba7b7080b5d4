//! Browsers' view: CORS preflights answered as `HTTP_CORS_*` configure them, no CORS headers
//! for another origin, the security headers on every response, and none of it without
//! configuration.

mod common;

use common::Api;
use reqwest::{Client, Method, StatusCode};

const ALLOWED: &str = "https://app.example.com";

fn header<'a>(response: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    response.headers().get(name).map(|v| v.to_str().unwrap())
}

async fn preflight(api: &Api, origin: &str) -> reqwest::Response {
    Client::new()
        .request(Method::OPTIONS, api.app.url("/api/v1/articles"))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type, x-api-key")
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn preflights_are_answered_as_configured_and_other_origins_get_nothing() {
    let api = Api::sqlite(&[
        // As a browser sends it: `https://app.example.com`.
        (
            "HTTP_CORS_ALLOWED_ORIGINS",
            "HTTPS://App.Example.com:443, http://localhost:5173",
        ),
        ("HTTP_CORS_MAX_AGE_SECS", "120"),
    ])
    .await;

    let allowed = preflight(&api, ALLOWED).await;
    assert_eq!(allowed.status(), StatusCode::OK);
    assert_eq!(
        header(&allowed, "access-control-allow-origin"),
        Some(ALLOWED)
    );
    let methods = header(&allowed, "access-control-allow-methods").unwrap();
    assert!(
        methods.contains("POST") && methods.contains("DELETE"),
        "{methods}"
    );
    let headers = header(&allowed, "access-control-allow-headers").unwrap();
    assert!(
        headers.contains("x-api-key") && headers.contains("authorization"),
        "{headers}"
    );
    assert_eq!(header(&allowed, "access-control-max-age"), Some("120"));

    let other = preflight(&api, "https://evil.example").await;
    for name in [
        "access-control-allow-origin",
        "access-control-allow-methods",
        "access-control-allow-headers",
        "access-control-allow-credentials",
    ] {
        assert_eq!(header(&other, name), None, "{name} for another origin");
    }
    // A cache keeps answers apart by origin.
    let listed = api.send(Method::GET, "/api/v1/articles", None).await;
    let vary: Vec<_> = listed.headers().get_all("vary").iter().collect();
    assert!(
        vary.iter().any(|v| v.to_str().unwrap().contains("origin")),
        "{vary:?}"
    );

    // A refusal to an allowed origin is readable by its page: CORS headers, and the
    // headers it needs exposed.
    let refused = Client::new()
        .post(api.app.url("/api/v1/articles"))
        .header("origin", ALLOWED)
        .json(&serde_json::json!({"name": "Cors", "description": "from a page"}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        header(&refused, "access-control-allow-origin"),
        Some(ALLOWED)
    );
    let exposed = header(&refused, "access-control-expose-headers").unwrap();
    assert!(
        exposed.contains("www-authenticate") && exposed.contains("x-request-id"),
        "{exposed}"
    );
    api.app.shutdown().await.unwrap();

    // `*`: every answer says so, with or without an `Origin`, and no credentials.
    let api = Api::sqlite(&[("HTTP_CORS_ALLOWED_ORIGINS", "*")]).await;
    let any = preflight(&api, "https://anywhere.example").await;
    assert_eq!(header(&any, "access-control-allow-origin"), Some("*"));
    let plain = api.send(Method::GET, "/api/v1/articles", None).await;
    assert_eq!(header(&plain, "access-control-allow-origin"), Some("*"));
    assert_eq!(header(&plain, "access-control-allow-credentials"), None);
    api.app.shutdown().await.unwrap();
}

#[tokio::test]
async fn without_configuration_no_cors_but_the_security_headers() {
    let api = Api::sqlite(&[]).await;
    let preflight = preflight(&api, ALLOWED).await;
    assert_eq!(header(&preflight, "access-control-allow-origin"), None);
    for path in ["/api/v1/articles", "/api/v1/nowhere", "/health"] {
        let response = api.send(Method::GET, path, None).await;
        assert_eq!(
            header(&response, "x-content-type-options"),
            Some("nosniff"),
            "{path}"
        );
        assert_eq!(header(&response, "x-frame-options"), Some("DENY"), "{path}");
        assert_eq!(
            header(&response, "referrer-policy"),
            Some("no-referrer"),
            "{path}"
        );
        assert_eq!(
            header(&response, "content-security-policy"),
            Some("default-src 'none'; frame-ancestors 'none'"),
            "{path}"
        );
        assert_eq!(
            header(&response, "strict-transport-security"),
            None,
            "{path}"
        );
    }
    api.app.shutdown().await.unwrap();

    let api = Api::sqlite(&[("HTTP_HSTS_MAX_AGE_SECS", "31536000")]).await;
    let response = api.send(Method::GET, "/health", None).await;
    assert_eq!(
        header(&response, "strict-transport-security"),
        Some("max-age=31536000")
    );
    api.app.shutdown().await.unwrap();
}
