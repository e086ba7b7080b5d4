//! Authentication as a client sees it: the service verifies bearer tokens against a real JWKS
//! endpoint this test serves on 127.0.0.1 (counting its fetches), over HTTP and gRPC; writes
//! need `articles:write`, reads are public; the local API key works; and `check` names every
//! route that needs a scheme when none is configured.

mod common;

use std::time::Duration;

use common::{API_KEY, Api, problem};
use example_service::proto::article::v1 as pb;
use example_service::proto::article::v1::article_service_client::ArticleServiceClient;
use framework_test_support::issuer::{self, Issuer, SigningKey, now};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use tonic::Code;
use tonic::metadata::MetadataValue;
use tonic_types::StatusExt;

const ISSUER: &str = "https://issuer.test";
const AUDIENCE: &str = "example-service";
/// The least time between two fetches for unknown key ids in this test.
const REFETCH: Duration = Duration::from_secs(1);

/// Valid claims with `scope`, changed by `edit`.
fn claims(scope: &str, edit: impl FnOnce(&mut Value)) -> Value {
    let mut claims = issuer::claims(ISSUER, AUDIENCE, scope);
    edit(&mut claims);
    claims
}

async fn start(issuer: &Issuer) -> Api {
    let url = issuer.serve().await;
    let refetch = REFETCH.as_secs().to_string();
    Api::sqlite(&[
        ("AUTH_JWKS_URL", &url),
        ("AUTH_ISSUER", ISSUER),
        ("AUTH_AUDIENCE", AUDIENCE),
        // Two families: a token of either verifies.
        ("AUTH_ALGORITHMS", "RS256,ES256"),
        ("AUTH_LEEWAY_SECS", "5"),
        ("AUTH_JWKS_REFETCH_SECS", &refetch),
    ])
    .await
}

/// `POST /api/v1/articles` with `authorization`, from a client that sends no API key.
async fn create(api: &Api, authorization: Option<&str>) -> reqwest::Response {
    let mut request = Client::new().post(api.app.url("/api/v1/articles")).json(
        &json!({"name": format!("auth-{}", uuid::Uuid::new_v4()), "description": "a description"}),
    );
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    request.send().await.expect("the request reaches the app")
}

/// A 401 with a bearer challenge carrying `error` (RFC 6750 §3), or none for a request
/// without credentials.
async fn refused(response: reqwest::Response, code: &str, error: Option<&str>) {
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned())
        .expect("a 401 carries WWW-Authenticate");
    assert!(
        challenge.starts_with("Bearer realm=\"example-service\""),
        "{challenge}"
    );
    match error {
        Some(error) => assert!(
            challenge.contains(&format!("error=\"{error}\"")),
            "{challenge}"
        ),
        None => assert!(!challenge.contains("error="), "{challenge}"),
    }
    problem(response, 401, code).await;
}

#[tokio::test]
async fn bearer_tokens_over_http_and_grpc() {
    let issuer = Issuer::default();
    let signer = SigningKey::new("k1");
    issuer.publish(&signer);
    let api = start(&issuer).await;
    let writer = signer.token(&claims("articles:read articles:write", |_| {}));

    // A valid token with the scope: created. Reads need nothing.
    let response = create(&api, Some(&format!("Bearer {writer}"))).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let listed = Client::new()
        .get(api.app.url("/api/v1/articles"))
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), StatusCode::OK);

    // No credentials, and every kind of bad token: 401.
    refused(create(&api, None).await, "AUTHENTICATION_REQUIRED", None).await;
    let rogue = SigningKey::new("k1");
    let hmac_with_public_key = {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some("k1".into());
        let public = serde_json::to_vec(&signer.jwk()).unwrap();
        jsonwebtoken::encode(
            &header,
            &claims("articles:write", |_| {}),
            &EncodingKey::from_secret(&public).unwrap(),
        )
        .unwrap()
    };
    // `{"alg":"none","typ":"JWT"}`, the claims of a valid token, no signature.
    let unsigned = format!(
        "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{}.",
        writer.split('.').nth(1).unwrap()
    );
    let bad = [
        (
            "expired",
            signer.token(&claims("articles:write", |c| c["exp"] = json!(now() - 60))),
        ),
        (
            "not yet valid",
            signer.token(&claims("articles:write", |c| c["nbf"] = json!(now() + 60))),
        ),
        (
            "wrong issuer",
            signer.token(&claims("articles:write", |c| {
                c["iss"] = json!("https://other.test")
            })),
        ),
        (
            "wrong audience",
            signer.token(&claims("articles:write", |c| {
                c["aud"] = json!("another-service")
            })),
        ),
        (
            "no subject",
            signer.token(&claims("articles:write", |c| {
                c.as_object_mut().unwrap().remove("sub");
            })),
        ),
        (
            "bad signature",
            rogue.token(&claims("articles:write", |_| {})),
        ),
        ("alg none", unsigned),
        ("HS256 with the public key", hmac_with_public_key),
        (
            "unknown kid",
            signer.sign("k-unknown", &claims("articles:write", |_| {})),
        ),
        ("not a JWT", "abc.def".to_owned()),
    ];
    for (case, token) in &bad {
        let response = create(&api, Some(&format!("Bearer {token}"))).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{case}");
        refused(response, "INVALID_CREDENTIALS", Some("invalid_token")).await;
    }
    // Another scheme: 401 without an error code (no bearer credentials); no token: 400
    // `invalid_request` (RFC 6750 §3.1).
    refused(
        create(&api, Some("Basic dXNlcjpwYXNz")).await,
        "SCHEME_NOT_ACCEPTED",
        None,
    )
    .await;
    let empty = create(&api, Some("Bearer ")).await;
    let challenge = empty.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        challenge.contains(r#"error="invalid_request""#),
        "{challenge}"
    );
    problem(empty, 400, "MALFORMED_CREDENTIALS").await;
    let spaced = create(&api, Some("Bearer a b")).await;
    assert_eq!(spaced.status(), StatusCode::UNAUTHORIZED);

    // Authenticated without the scope: 403, with the scope it lacks.
    let reader = signer.token(&claims("articles:read", |_| {}));
    let response = create(&api, Some(&format!("Bearer {reader}"))).await;
    let challenge = response.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        challenge.contains(r#"error="insufficient_scope", scope="articles:write""#),
        "{challenge}"
    );
    problem(response, 403, "INSUFFICIENT_SCOPE").await;

    // Two callers with the same Idempotency-Key and request: the second's runs (and finds the
    // name taken) instead of replaying the first's answer; the first's retry replays.
    let other = signer.token(&claims("articles:write", |c| c["sub"] = json!("user-2")));
    let send = |token: String| {
        Client::new()
            .post(api.app.url("/api/v1/articles"))
            .header("authorization", format!("Bearer {token}"))
            .header("idempotency-key", "shared-key-1")
            .json(&json!({"name": "Same request", "description": "a description"}))
            .send()
    };
    let first = send(writer.clone()).await.unwrap();
    assert_eq!(first.status(), StatusCode::CREATED);
    let first: Value = first.json().await.unwrap();
    let second = send(other).await.unwrap();
    assert!(!second.headers().contains_key("idempotent-replayed"));
    problem(second, 409, "ARTICLE_NAME_TAKEN").await;
    let retry = send(writer.clone()).await.unwrap();
    assert_eq!(retry.headers()["idempotent-replayed"], "true");
    let retry: Value = retry.json().await.unwrap();
    assert_eq!(
        retry["id"], first["id"],
        "the same caller's retry is a replay"
    );

    grpc(&api, &signer, &writer, &reader).await;
    api.app.shutdown().await.unwrap();
}

/// The same over gRPC, in metadata: `UNAUTHENTICATED` and `PERMISSION_DENIED`, with the
/// code as `google.rpc.ErrorInfo`.
async fn grpc(api: &Api, signer: &SigningKey, writer: &str, reader: &str) {
    let url = api.app.grpc_url().unwrap();
    let mut client = ArticleServiceClient::connect(url).await.unwrap();
    let request = |token: Option<&str>| {
        let mut request = tonic::Request::new(pb::CreateArticleRequest {
            name: format!("grpc-{}", uuid::Uuid::new_v4()),
            description: "a description".into(),
        });
        if let Some(token) = token {
            let value: MetadataValue<_> = format!("Bearer {token}").parse().unwrap();
            request.metadata_mut().insert("authorization", value);
        }
        request
    };
    client
        .create_article(request(Some(writer)))
        .await
        .expect("a valid token creates");
    client
        .list_articles(pb::ListArticlesRequest::default())
        .await
        .expect("reads are public");
    let expired = signer.token(&claims("articles:write", |c| c["exp"] = json!(now() - 60)));
    let rogue = SigningKey::new("k1").token(&claims("articles:write", |_| {}));
    for (case, token, code, reason) in [
        (
            "none",
            None,
            Code::Unauthenticated,
            "AUTHENTICATION_REQUIRED",
        ),
        (
            "expired",
            Some(expired.as_str()),
            Code::Unauthenticated,
            "INVALID_CREDENTIALS",
        ),
        (
            "bad signature",
            Some(rogue.as_str()),
            Code::Unauthenticated,
            "INVALID_CREDENTIALS",
        ),
        (
            "no scope",
            Some(reader),
            Code::PermissionDenied,
            "INSUFFICIENT_SCOPE",
        ),
    ] {
        let status = client.create_article(request(token)).await.expect_err(case);
        assert_eq!(status.code(), code, "{case}: {status:?}");
        let info = status.get_details_error_info().expect("ErrorInfo");
        assert_eq!(info.reason, reason, "{case}");
    }
}

#[tokio::test]
async fn unknown_key_ids_fetch_once_and_rotated_keys_are_picked_up() {
    let issuer = Issuer::default();
    let first = SigningKey::new("k1");
    issuer.publish(&first);
    let api = start(&issuer).await;
    let token = first.token(&claims("articles:write", |_| {}));
    assert_eq!(
        create(&api, Some(&format!("Bearer {token}")))
            .await
            .status(),
        StatusCode::CREATED
    );
    let fetched = issuer.fetches();
    assert!(fetched >= 1, "the keys were fetched");

    // Twenty tokens naming a key the issuer does not publish: one fetch, not twenty.
    tokio::time::sleep(REFETCH + Duration::from_millis(200)).await;
    let stranger = SigningKey::new("k-stranger");
    let unknown = format!(
        "Bearer {}",
        stranger.token(&claims("articles:write", |_| {}))
    );
    let answers =
        futures_util::future::join_all((0..20).map(|_| create(&api, Some(&unknown)))).await;
    assert!(
        answers
            .iter()
            .all(|r| r.status() == StatusCode::UNAUTHORIZED)
    );
    assert_eq!(
        issuer.fetches(),
        fetched + 1,
        "one fetch for 20 unknown-kid tokens"
    );
    // Within the interval, more of them fetch nothing.
    for _ in 0..5 {
        create(&api, Some(&unknown)).await;
    }
    assert_eq!(issuer.fetches(), fetched + 1);

    // The issuer rotates: a token of its new key verifies once the interval passed.
    let second = SigningKey::new("k2");
    issuer.publish(&second);
    tokio::time::sleep(REFETCH + Duration::from_millis(200)).await;
    let rotated = second.token(&claims("articles:write", |_| {}));
    assert_eq!(
        create(&api, Some(&format!("Bearer {rotated}")))
            .await
            .status(),
        StatusCode::CREATED
    );
    assert_eq!(issuer.fetches(), fetched + 2);
    // The old key still verifies from the same fetch.
    assert_eq!(
        create(&api, Some(&format!("Bearer {token}")))
            .await
            .status(),
        StatusCode::CREATED
    );
    assert_eq!(issuer.fetches(), fetched + 2);
    api.app.shutdown().await.unwrap();
}

#[tokio::test]
async fn api_keys_and_a_jwks_that_is_down() {
    // The issuer is down (nothing listens on its port): bearer tokens cannot be checked
    // (503), while the API key still works.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let url = format!("http://{closed}/jwks.json");
    let api = Api::sqlite(&[
        ("AUTH_JWKS_URL", &url),
        ("AUTH_ISSUER", ISSUER),
        ("AUTH_AUDIENCE", AUDIENCE),
        ("AUTH_ALGORITHMS", "ES256"),
    ])
    .await;
    let token = SigningKey::new("k1").token(&claims("articles:write", |_| {}));
    let response = create(&api, Some(&format!("Bearer {token}"))).await;
    assert!(response.headers().contains_key("retry-after"));
    problem(response, 503, "AUTHENTICATION_UNAVAILABLE").await;

    let with_key = |key: &str| {
        Client::new()
            .post(api.app.url("/api/v1/articles"))
            .header("x-api-key", key)
            .json(&json!({"name": format!("key-{}", uuid::Uuid::new_v4()), "description": "a description"}))
            .send()
    };
    assert_eq!(
        with_key(API_KEY).await.unwrap().status(),
        StatusCode::CREATED
    );
    let wrong = with_key("local-dev-key-not-a-secreT").await.unwrap();
    let challenge = wrong.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        challenge.contains(r#"ApiKey realm="example-service", header="x-api-key""#),
        "{challenge}"
    );
    problem(wrong, 401, "INVALID_CREDENTIALS").await;
    // A token and a key at once: which one counts would be a guess.
    let both = Client::new()
        .post(api.app.url("/api/v1/articles"))
        .header("x-api-key", API_KEY)
        .header("authorization", format!("Bearer {token}"))
        .json(&json!({"name": "both", "description": "a description"}))
        .send()
        .await
        .unwrap();
    problem(both, 400, "MALFORMED_CREDENTIALS").await;
    // Two keys: which one counts would be a guess.
    let twice = Client::new()
        .post(api.app.url("/api/v1/articles"))
        .header("x-api-key", API_KEY)
        .header("x-api-key", "another-key-0123456789")
        .json(&json!({"name": "twice", "description": "a description"}))
        .send()
        .await
        .unwrap();
    problem(twice, 400, "MALFORMED_CREDENTIALS").await;
    api.app.shutdown().await.unwrap();
}

#[test]
fn check_names_each_route_that_needs_a_scheme_none_configured() {
    let Err(framework::Error::Wiring(report)) =
        framework::testing::check(&[("AUTH_API_KEYS", ""), ("AUTH_JWKS_URL", "")])
    else {
        panic!("check passed with protected routes and no authentication");
    };
    let text = report.to_string();
    for needer in [
        "handler `example_service::article::http::create`",
        "handler `example_service::article::http::update`",
        "handler `example_service::article::http::delete`",
        "article.v1.ArticleService",
    ] {
        assert!(text.contains(needer), "{needer} not reported: {text}");
    }
    assert!(text.contains("dyn Authenticator"), "{text}");
    assert!(text.contains("AUTH_JWKS_URL"), "the fix is named: {text}");
    assert!(
        !text.contains("handler `example_service::article::http::get`"),
        "{text}"
    );
}
