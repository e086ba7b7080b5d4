//! Boots the real example-service app (every registration of the crate) for tests.

#![allow(dead_code)]

use framework::sqlx::{Connection, PgConnection};
use framework::testing::TestApp;
use reqwest::{Client, Method, Response};
use serde_json::Value;

// Links the service's registrations into the test binary.
use example_service as _;
use example_service::proto::article::v1::article_service_client::ArticleServiceClient;

/// The local API key of `envs/.env`, which holds `articles:write`: writes need it.
pub const API_KEY: &str = "local-dev-key-not-a-secret";

/// An article client whose calls carry [`API_KEY`].
pub type ArticleClient = ArticleServiceClient<
    tonic::service::interceptor::InterceptedService<
        tonic::transport::Channel,
        fn(tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status>,
    >,
>;

/// An article client on `channel` whose calls carry [`API_KEY`].
pub fn authorized(channel: tonic::transport::Channel) -> ArticleClient {
    fn with_key(mut request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        request.metadata_mut().insert(
            "x-api-key",
            tonic::metadata::MetadataValue::from_static(API_KEY),
        );
        Ok(request)
    }
    ArticleServiceClient::with_interceptor(channel, with_key as fn(_) -> _)
}

/// [`authorized`] on a new connection to `url`.
pub async fn connect_authorized(url: String) -> ArticleClient {
    let channel = tonic::transport::Channel::from_shared(url)
        .expect("a gRPC URL")
        .connect()
        .await
        .expect("connect to gRPC");
    authorized(channel)
}

/// The app and a client for it.
pub struct Api {
    pub app: TestApp,
    pub client: Client,
    /// Its database, for tests that look behind the service's back.
    pub database_url: String,
    /// Its Kafka brokers (an in-process one unless the test named one).
    pub brokers: String,
    /// Dropped with the test: an SQLite file, removed afterwards.
    _file: Option<TempFile>,
}

pub struct TempFile(std::path::PathBuf);

impl TempFile {
    /// Removes `path` (and SQLite's `-wal` and `-shm` beside it) when dropped.
    pub fn new(path: std::path::PathBuf) -> TempFile {
        TempFile(path)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.0.display()));
        }
    }
}

impl Api {
    /// The service on a new SQLite file.
    pub async fn sqlite(overrides: &[(&str, &str)]) -> Api {
        let path =
            std::env::temp_dir().join(format!("example-service-{}.db", uuid::Uuid::new_v4()));
        let url = format!("sqlite://{}", path.display());
        Api::start(&url, Some(TempFile(path)), overrides).await
    }

    /// The service on a new database of the PostgreSQL server named by `DATABASE_URL`.
    pub async fn postgres(overrides: &[(&str, &str)]) -> Api {
        Api::start(&fresh_postgres_database().await, None, overrides).await
    }

    /// The service on the database at `url` (a server of the test's own, say).
    pub async fn at(url: &str, overrides: &[(&str, &str)]) -> Api {
        Api::start(url, None, overrides).await
    }

    /// A second replica of `first`: the same database and in-process broker.
    pub async fn on(first: &Api, overrides: &[(&str, &str)]) -> Api {
        let mut all = vec![("KAFKA_BROKERS", first.brokers.as_str())];
        all.extend_from_slice(overrides);
        Api::start(&first.database_url, None, &all).await
    }

    async fn start(url: &str, file: Option<TempFile>, overrides: &[(&str, &str)]) -> Api {
        // Its own in-process broker, unless the test names one.
        let brokers = format!("memory://{}", uuid::Uuid::new_v4());
        let mut all = vec![
            ("DATABASE_URL", url),
            ("DATABASE_MIGRATE", "true"),
            ("KAFKA_BROKERS", brokers.as_str()),
        ];
        all.extend_from_slice(overrides);
        let app = TestApp::start(&all)
            .await
            .unwrap_or_else(|e| panic!("the app starts on {url}: {e}"));
        let brokers = overrides
            .iter()
            .rev()
            .find(|(key, _)| *key == "KAFKA_BROKERS")
            .map_or(brokers.clone(), |(_, value)| (*value).to_owned());
        Api {
            app,
            client: authorized_http(),
            database_url: url.to_owned(),
            brokers,
            _file: file,
        }
    }

    /// Creates an article (a new name) with `headers` on the request; returns its id.
    pub async fn create_article(&self, headers: &[(&str, &str)]) -> String {
        let mut request = self.client.post(self.app.url("/api/v1/articles"));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let name = format!("article-{}", uuid::Uuid::new_v4().simple());
        let body = serde_json::json!({"name": name, "description": "a description"});
        let created = request
            .json(&body)
            .send()
            .await
            .expect("the request reaches the app");
        assert_eq!(created.status(), 201);
        json(created, "application/json").await["id"]
            .as_str()
            .expect("the article's id")
            .to_owned()
    }

    pub async fn send(&self, method: Method, path: &str, body: Option<Value>) -> Response {
        let mut request = self.client.request(method, self.app.url(path));
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.expect("the request reaches the app")
    }
}

/// An HTTP client whose requests carry [`API_KEY`].
pub fn authorized_http() -> Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        "x-api-key",
        reqwest::header::HeaderValue::from_static(API_KEY),
    );
    Client::builder()
        .default_headers(headers)
        .build()
        .expect("an HTTP client")
}

/// The Redis of `REDIS_URL`, which tests on real servers need (scripts/test starts one).
pub fn redis_url() -> String {
    let url = std::env::var("REDIS_URL").unwrap_or_default();
    assert!(
        url.starts_with("redis://"),
        "this test needs REDIS_URL=redis://host:port of a running Redis \
         (scripts/test starts redis-server); got {url:?}"
    );
    url
}

/// Creates an empty database on the server of `DATABASE_URL` and returns its URL, so each test
/// starts clean and runs can repeat.
pub async fn fresh_postgres_database() -> String {
    let admin = std::env::var("DATABASE_URL").unwrap_or_default();
    assert!(
        admin.starts_with("postgres://") || admin.starts_with("postgresql://"),
        "the PostgreSQL tests need DATABASE_URL=postgres://... of a running server \
         (scripts/test starts one); got {admin:?}"
    );
    let name = format!("test_{}", uuid::Uuid::new_v4().simple());
    let mut conn = PgConnection::connect(&admin)
        .await
        .expect("connect to DATABASE_URL");
    framework::sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .expect("create a test database");
    let (base, _) = admin
        .rsplit_once('/')
        .expect("DATABASE_URL has a database path");
    format!("{base}/{name}")
}

/// The body as JSON, asserting the content type.
pub async fn json(response: Response, content_type: &str) -> Value {
    let actual = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(actual, content_type, "content type");
    response.json().await.expect("a JSON body")
}

/// Asserts a problem+json body with `status` and `code`, and returns it.
pub async fn problem(response: Response, status: u16, code: &str) -> Value {
    assert_eq!(response.status().as_u16(), status, "status");
    let request_id = response
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .expect("every response carries x-request-id");
    let body = json(response, "application/problem+json").await;
    assert_eq!(body["status"], status, "{body}");
    assert_eq!(body["code"], code, "{body}");
    assert!(
        body["title"].as_str().is_some_and(|t| !t.is_empty()),
        "{body}"
    );
    assert!(
        body["detail"].as_str().is_some_and(|t| !t.is_empty()),
        "{body}"
    );
    assert_eq!(body["request_id"], request_id.as_str(), "{body}");
    body
}

/// The example-service binary in a child process (killed when dropped), listening on ports
/// the system picked on 127.0.0.1, logging JSON; its logs are kept for the test.
pub struct Process {
    child: tokio::process::Child,
    /// `host:port` of its HTTP and gRPC listeners.
    pub http: String,
    pub grpc: String,
    logs: tokio::task::JoinHandle<Vec<String>>,
}

impl Process {
    /// Starts it with `APP_ENV=test`, an in-memory cache, no Sentry and the `env` given (which
    /// names its database and brokers), and waits until both listeners are bound (the app
    /// may still be starting: readiness is the test's to wait for).
    pub async fn start(env: &[(&str, &str)]) -> Process {
        use tokio::io::{AsyncBufReadExt, BufReader};

        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .unwrap();
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_example-service"))
            .current_dir(root)
            .env("APP_ENV", "test")
            .env("HTTP_HOST", "127.0.0.1")
            .env("HTTP_PORT", "0")
            .env("GRPC_HOST", "127.0.0.1")
            .env("GRPC_PORT", "0")
            .env("REDIS_URL", "memory")
            .env("SENTRY_DSN", "")
            .env("LOG_FORMAT", "json")
            .env("LOG_LEVEL", "info,sqlx=warn")
            .envs(env.iter().copied())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("the example-service binary starts");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let (http, grpc) = tokio::time::timeout(std::time::Duration::from_secs(60), async {
            let (mut http, mut grpc, mut seen) = (None, None, Vec::new());
            while let Some(line) = lines.next_line().await.unwrap() {
                let parsed: Value = serde_json::from_str(&line).unwrap_or_default();
                let address = parsed["address"].as_str().map(str::to_owned);
                match parsed["message"].as_str() {
                    Some("HTTP listening") => http = address,
                    Some("gRPC listening") => grpc = address,
                    _ => seen.push(line),
                }
                if let (Some(http), Some(grpc)) = (&http, &grpc) {
                    return (http.clone(), grpc.clone());
                }
            }
            panic!("the service ended before listening: {seen:#?}");
        })
        .await
        .expect("the service listens within 60 s");
        // Its later logs are kept (for a failure's message) and never block it.
        let logs = tokio::spawn(async move {
            let mut tail = Vec::new();
            while let Ok(Some(line)) = lines.next_line().await {
                tail.push(line);
            }
            tail
        });
        Process {
            child,
            http,
            grpc,
            logs,
        }
    }

    /// Sends it SIGTERM.
    pub fn terminate(&self) {
        let pid = self.child.id().expect("running").to_string();
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap();
        assert!(status.success(), "kill -TERM {pid}");
    }

    /// Waits up to `limit` for it to exit; its exit status and logs.
    pub async fn exit(
        mut self,
        limit: std::time::Duration,
    ) -> (std::process::ExitStatus, Vec<String>) {
        let status = tokio::time::timeout(limit, self.child.wait())
            .await
            .unwrap_or_else(|_| panic!("the service exits within {limit:?}"))
            .unwrap();
        (status, self.logs.await.unwrap_or_default())
    }

    /// SIGKILL, and its logs.
    pub async fn kill(mut self) -> Vec<String> {
        self.child.kill().await.expect("SIGKILL the service");
        self.logs.await.unwrap_or_default()
    }
}
