//! The article API end to end, through the real app, on SQLite and on PostgreSQL.

mod common;

use common::{Api, json, problem};
use reqwest::Method;
use serde_json::{Value, json};

/// A small body limit so the 413 case stays small.
const OVERRIDES: &[(&str, &str)] = &[("HTTP_BODY_LIMIT_BYTES", "4096")];

#[tokio::test]
async fn article_api_on_sqlite() {
    let api = Api::sqlite(OVERRIDES).await;
    exercise(&api).await;
    api.app.shutdown().await.expect("graceful shutdown");
}

#[tokio::test]
async fn article_api_on_postgres() {
    let api = Api::postgres(OVERRIDES).await;
    exercise(&api).await;
    api.app.shutdown().await.expect("graceful shutdown");
}

async fn exercise(api: &Api) {
    let created = crud(api).await;
    validation(api).await;
    malformed_requests(api).await;
    listing(api, &created).await;
    request_id(api).await;
    compressed_bodies(api).await;
    made_up_methods(api).await;
    schema_matches_validation(api).await;
    health(api).await;
}

async fn create(api: &Api, name: &str, description: &str) -> Value {
    let response = api
        .send(
            Method::POST,
            "/api/v1/articles",
            Some(json!({ "name": name, "description": description })),
        )
        .await;
    assert_eq!(response.status(), 201);
    json(response, "application/json").await
}

/// Create, read, update, delete, with the 404 and 409 problems on the way; returns the
/// articles it leaves behind.
async fn crud(api: &Api) -> Vec<Value> {
    let first = create(api, "First article", "The first one").await;
    let id = first["id"].as_str().expect("an id").to_owned();
    assert_eq!(first["name"], "First article");
    assert_eq!(first["created_at"], first["updated_at"]);

    let fetched = json(
        api.send(Method::GET, &format!("/api/v1/articles/{id}"), None)
            .await,
        "application/json",
    )
    .await;
    assert_eq!(fetched, first);

    let duplicate = api
        .send(
            Method::POST,
            "/api/v1/articles",
            Some(json!({ "name": "First article", "description": "Again" })),
        )
        .await;
    let body = problem(duplicate, 409, "ARTICLE_NAME_TAKEN").await;
    assert!(body["detail"].as_str().unwrap().contains("First article"));

    let second = create(api, "Second article", "The second one").await;
    let updated = api
        .send(
            Method::PUT,
            &format!("/api/v1/articles/{id}"),
            Some(json!({ "name": "First, renamed", "description": "Renamed text" })),
        )
        .await;
    assert_eq!(updated.status(), 200);
    let updated = json(updated, "application/json").await;
    assert_eq!(updated["name"], "First, renamed");
    assert_eq!(updated["created_at"], first["created_at"]);
    assert_ne!(updated["updated_at"], first["updated_at"]);

    // Renaming onto a taken name is a conflict too.
    let clash = api
        .send(
            Method::PUT,
            &format!("/api/v1/articles/{id}"),
            Some(json!({ "name": "Second article", "description": "Clash" })),
        )
        .await;
    problem(clash, 409, "ARTICLE_NAME_TAKEN").await;

    let missing = uuid::Uuid::new_v4();
    let body = problem(
        api.send(Method::GET, &format!("/api/v1/articles/{missing}"), None)
            .await,
        404,
        "ARTICLE_NOT_FOUND",
    )
    .await;
    assert_eq!(body["detail"], format!("article {missing} not found"));
    let put_missing = api
        .send(
            Method::PUT,
            &format!("/api/v1/articles/{missing}"),
            Some(json!({ "name": "Nobody", "description": "Nothing here" })),
        )
        .await;
    problem(put_missing, 404, "ARTICLE_NOT_FOUND").await;

    let third = create(api, "Third article", "To be deleted").await;
    let third_path = format!("/api/v1/articles/{}", third["id"].as_str().unwrap());
    let deleted = api.send(Method::DELETE, &third_path, None).await;
    assert_eq!(deleted.status(), 204);
    problem(
        api.send(Method::DELETE, &third_path, None).await,
        404,
        "ARTICLE_NOT_FOUND",
    )
    .await;
    problem(
        api.send(Method::GET, &third_path, None).await,
        404,
        "ARTICLE_NOT_FOUND",
    )
    .await;

    vec![updated, second]
}

async fn validation(api: &Api) {
    let response = api
        .send(
            Method::POST,
            "/api/v1/articles",
            Some(json!({ "name": "ab", "description": "    " })),
        )
        .await;
    let body = problem(response, 400, "VALIDATION_FAILED").await;
    assert_eq!(
        body["errors"],
        json!([
            { "field": "description", "messages": ["must be between 5 and 100 characters", "must not be blank"] },
            { "field": "name", "messages": ["must be between 3 and 50 characters"] },
        ])
    );

    let long_name = "n".repeat(51);
    let response = api
        .send(
            Method::POST,
            "/api/v1/articles",
            Some(json!({ "name": long_name, "description": "fine text" })),
        )
        .await;
    let body = problem(response, 400, "VALIDATION_FAILED").await;
    assert_eq!(body["errors"][0]["field"], "name");

    let response = api
        .send(Method::GET, "/api/v1/articles?limit=0", None)
        .await;
    let body = problem(response, 400, "VALIDATION_FAILED").await;
    assert_eq!(body["errors"][0]["field"], "limit");
}

/// The OpenAPI document's `pattern` for the article's text is the framework's, and the
/// server accepts exactly the names it matches: a client (or fuzzer) that follows the schema
/// is never refused, one that breaks it always is. The inputs are the characters on which
/// regular-expression dialects and Rust disagree about whitespace, blank text and NUL.
async fn schema_matches_validation(api: &Api) {
    let document = json(
        api.send(Method::GET, "/openapi.json", None).await,
        "application/json",
    )
    .await;
    for (path, method) in [
        ("/api/v1/articles", "post"),
        ("/api/v1/articles/{id}", "put"),
    ] {
        let body = &document["paths"][path][method]["requestBody"]["content"]["application/json"];
        for field in ["name", "description"] {
            assert_eq!(
                body["schema"]["properties"][field]["pattern"],
                framework::validation::NON_BLANK_TEXT_PATTERN,
                "{method} {path} {field}"
            );
        }
    }
    let pattern = regex::Regex::new(framework::validation::NON_BLANK_TEXT_PATTERN).unwrap();
    for name in [
        "Plain name",
        "   ",
        "\u{85}\u{85}\u{85}",
        "\u{3000}\u{2028}\t",
        "\u{1c}\u{1d}\u{1f}",
        "\u{feff}\u{feff}\u{feff}",
        " \u{180e} ",
        "Nul\u{0}byte",
        "\u{0}  ",
    ] {
        let response = api
            .send(
                Method::POST,
                "/api/v1/articles",
                Some(json!({ "name": name, "description": "fine text" })),
            )
            .await;
        if pattern.is_match(name) {
            assert_eq!(response.status(), 201, "{name:?}");
            let article = json(response, "application/json").await;
            let id = article["id"].as_str().expect("an id");
            let gone = api
                .send(Method::DELETE, &format!("/api/v1/articles/{id}"), None)
                .await;
            assert_eq!(gone.status(), 204, "{name:?}");
        } else {
            let body = problem(response, 400, "VALIDATION_FAILED").await;
            assert_eq!(body["errors"][0]["field"], "name", "{name:?}");
        }
    }
}

async fn malformed_requests(api: &Api) {
    let url = api.app.url("/api/v1/articles");
    let syntax = api
        .client
        .post(&url)
        .header("content-type", "application/json")
        .body(r#"{"name": "x""#)
        .send()
        .await
        .unwrap();
    problem(syntax, 400, "MALFORMED_JSON").await;

    let wrong_type = api
        .client
        .post(&url)
        .header("content-type", "application/json")
        .body(r#"{"name": 5, "description": "text"}"#)
        .send()
        .await
        .unwrap();
    problem(wrong_type, 400, "INVALID_BODY").await;

    let not_json = api
        .client
        .post(&url)
        .header("content-type", "text/plain")
        .body("hello")
        .send()
        .await
        .unwrap();
    problem(not_json, 415, "UNSUPPORTED_MEDIA_TYPE").await;

    let oversized = format!(
        r#"{{"name": "big", "description": "{}"}}"#,
        "x".repeat(8192)
    );
    let too_large = api
        .client
        .post(&url)
        .header("content-type", "application/json")
        .body(oversized)
        .send()
        .await
        .unwrap();
    problem(too_large, 413, "PAYLOAD_TOO_LARGE").await;

    problem(
        api.send(Method::GET, "/api/v1/articles/not-a-uuid", None)
            .await,
        400,
        "BAD_REQUEST",
    )
    .await;
    problem(
        api.send(Method::GET, "/api/v1/nothing-here", None).await,
        404,
        "ROUTE_NOT_FOUND",
    )
    .await;
    problem(
        api.send(Method::GET, "/articles", None).await,
        404,
        "ROUTE_NOT_FOUND",
    )
    .await;
    let not_allowed = api.send(Method::PATCH, "/api/v1/articles", None).await;
    assert!(not_allowed.headers().contains_key("allow"));
    problem(not_allowed, 405, "METHOD_NOT_ALLOWED").await;
}

async fn listing(api: &Api, expected: &[Value]) {
    let page = json(
        api.send(Method::GET, "/api/v1/articles", None).await,
        "application/json",
    )
    .await;
    assert_eq!(page["total"], 2);
    assert_eq!(page["limit"], 20, "ARTICLES_DEFAULT_PAGE_SIZE");
    assert_eq!(page["offset"], 0);
    assert_eq!(
        page["items"].as_array().unwrap(),
        expected,
        "ordered by creation"
    );

    let page = json(
        api.send(Method::GET, "/api/v1/articles?limit=1&offset=1", None)
            .await,
        "application/json",
    )
    .await;
    assert_eq!(page["total"], 2);
    assert_eq!(page["items"], json!([expected[1]]));

    // Above ARTICLES_MAX_PAGE_SIZE the limit is capped, not refused.
    let page = json(
        api.send(Method::GET, "/api/v1/articles?limit=500", None)
            .await,
        "application/json",
    )
    .await;
    assert_eq!(page["limit"], 100);
}

async fn request_id(api: &Api) {
    let given = api
        .client
        .get(api.app.url("/api/v1/articles"))
        .header("x-request-id", "client-chosen-42")
        .send()
        .await
        .unwrap();
    assert_eq!(given.headers()["x-request-id"], "client-chosen-42");

    let generated = api.send(Method::GET, "/api/v1/articles", None).await;
    let id = generated.headers()["x-request-id"].to_str().unwrap();
    assert!(
        uuid::Uuid::parse_str(id).is_ok(),
        "a generated id is a uuid: {id}"
    );

    let failing = api
        .client
        .get(
            api.app
                .url(&format!("/api/v1/articles/{}", uuid::Uuid::nil())),
        )
        .header("x-request-id", "trace-me")
        .send()
        .await
        .unwrap();
    assert_eq!(
        problem(failing, 404, "ARTICLE_NOT_FOUND").await["request_id"],
        "trace-me"
    );

    // Only a short id of safe characters is kept: the tester's 8,019 characters with a tab
    // and spaces, and one character over the limit, are replaced by a generated id.
    let oversized = format!("evil\tid {}", "with spaces ".repeat(700))[..8019].to_owned();
    let longest = "k".repeat(128);
    for (sent, kept) in [
        (oversized, false),
        ("x".repeat(129), false),
        (longest, true),
    ] {
        let response = api
            .client
            .get(
                api.app
                    .url(&format!("/api/v1/articles/{}", uuid::Uuid::nil())),
            )
            .header("x-request-id", &sent)
            .send()
            .await
            .unwrap();
        let echoed = response.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .to_owned();
        if kept {
            assert_eq!(echoed, sent);
        } else {
            assert!(uuid::Uuid::parse_str(&echoed).is_ok(), "{echoed}");
        }
        // `problem` checks that the body names the header's id.
        problem(response, 404, "ARTICLE_NOT_FOUND").await;
    }
}

/// A gzip body is decoded; other codings are refused with the ones accepted; the body limit
/// (4096 bytes here) holds for the decoded body.
async fn compressed_bodies(api: &Api) {
    use std::io::Write;
    let gzip = |bytes: &[u8]| {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap()
    };
    let post = |encoding: &'static str, body: Vec<u8>| {
        api.client
            .post(api.app.url("/api/v1/articles"))
            .header("content-type", "application/json")
            .header("content-encoding", encoding)
            .body(body)
            .send()
    };
    let article = json!({ "name": "Gzipped article", "description": "Sent compressed" });

    let created = post("gzip", gzip(article.to_string().as_bytes()))
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let created = json(created, "application/json").await;
    assert_eq!(created["name"], "Gzipped article");

    for coding in ["zstd", "compress"] {
        let refused = post(coding, article.to_string().into_bytes())
            .await
            .unwrap();
        assert_eq!(refused.headers()["accept-encoding"], "gzip");
        problem(refused, 415, "UNSUPPORTED_CONTENT_ENCODING").await;
    }

    let bomb = gzip(&vec![b' '; 10_000_000]);
    assert!(bomb.len() < 20_000, "{} bytes", bomb.len());
    problem(post("gzip", bomb).await.unwrap(), 413, "PAYLOAD_TOO_LARGE").await;

    let corrupt = post("gzip", b"{\"name\": \"not gzip\"}".to_vec())
        .await
        .unwrap();
    problem(corrupt, 400, "MALFORMED_CONTENT_ENCODING").await;
}

/// Made-up methods count under one `method` label, `_OTHER`, in `/metrics`.
async fn made_up_methods(api: &Api) {
    for i in 1..=25 {
        let method = Method::from_bytes(format!("ZZMETHOD{i}").as_bytes()).unwrap();
        let response = api.send(method, "/health/live", None).await;
        problem(response, 405, "METHOD_NOT_ALLOWED").await;
    }
    let metrics = api
        .send(Method::GET, "/metrics", None)
        .await
        .text()
        .await
        .unwrap();
    assert!(!metrics.contains("ZZMETHOD"), "a label per made-up method");
    let other = metrics
        .lines()
        .find(|line| {
            line.starts_with("http_requests_total{")
                && line.contains(r#"method="_OTHER""#)
                && line.contains(r#"route="/health/live""#)
                && line.contains(r#"status="405""#)
        })
        .expect("the made-up methods counted as _OTHER");
    let count: f64 = other.rsplit(' ').next().unwrap().parse().unwrap();
    // At least: the SQLite and PostgreSQL runs share the process's registry.
    assert!(count >= 25.0, "{other}");
}

async fn health(api: &Api) {
    let live = api.send(Method::GET, "/health/live", None).await;
    assert_eq!(live.status(), 200);
    let ready = api.send(Method::GET, "/health/ready", None).await;
    assert_eq!(ready.status(), 200);
    let full = json(
        api.send(Method::GET, "/health", None).await,
        "application/json",
    )
    .await;
    assert_eq!(full["status"], "up");
    // In the order the units were built.
    let mut units = full["units"].as_array().expect("units").clone();
    units.sort_by_key(|unit| unit["name"].as_str().unwrap_or_default().to_owned());
    assert_eq!(
        [&units[0], &units[1]],
        [
            &json!({ "name": "database", "status": "up", "circuit": "closed" }),
            &json!({ "name": "kafka", "status": "up", "circuit": "closed" }),
        ]
    );
    // Redis's breaker shows where the cache is a Redis (`REDIS_URL` from the environment).
    let mut redis = units[3].clone();
    let circuit = redis.as_object_mut().unwrap().remove("circuit");
    assert!(
        circuit.is_none() || circuit == Some(json!("closed")),
        "{circuit:?}"
    );
    assert_eq!(
        redis,
        json!({ "name": "redis", "status": "up", "optional": true })
    );
    // The outbox relay's unit shows its backlog, which the writes before may still hold.
    let outbox = &units[2];
    assert_eq!(
        (&outbox["name"], &outbox["status"], &outbox["optional"]),
        (&json!("outbox"), &json!("up"), &json!(true)),
        "{outbox}"
    );
    assert!(
        outbox["backlog"].as_i64().is_some_and(|n| n >= 0),
        "{outbox}"
    );
    assert!(outbox["oldest_age_seconds"].as_f64().is_some(), "{outbox}");
    assert_eq!(units.len(), 4, "{units:?}");
}
