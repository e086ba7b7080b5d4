//! The cache on the in-process store (`memory://<name>`) and on the real Redis named by
//! `REDIS_URL` (scripts/test starts redis-server): hits and misses under the service prefix,
//! TTL expiry, invalidation (also while a load is in progress), one load for many concurrent
//! misses, failed loads. Then, on a
//! redis-server of its own that the test stops and starts again: the API answers while Redis
//! is down, health shows it, and the cache is used again once Redis is back; and the same
//! under load, with a freeze (SIGSTOP) that opens the `redis` circuit breaker: no request
//! fails, and none waits for Redis's command timeout once the breaker is open.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use framework::axum::Json;
use framework::axum::extract::Path;
use framework::breaker::{Breaker, BreakerConfig};
use framework::cache::{Cache, MemoryStore, RedisStore, Store};
use framework::testing::TestApp;
use framework::{DomainError, Inject, http_route, module};
use framework_test_support::eventually;
use serde::{Deserialize, Serialize};

const TTL: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Item {
    id: u32,
    name: String,
}

#[derive(Debug, thiserror::Error, DomainError)]
pub enum ItemError {
    #[error("item {0} does not exist")]
    #[domain(not_found, code = "ITEM_UNKNOWN")]
    Unknown(u32),
}

/// Items behind the cache; `loads` counts the trips to the "database".
#[module]
pub struct Catalog {
    cache: Cache,
    #[state]
    loads: AtomicUsize,
}

impl Catalog {
    async fn item(&self, id: u32) -> Result<Item, ItemError> {
        self.cache
            .get_or_load(&format!("item:{id}"), TTL, || async {
                self.loads.fetch_add(1, Ordering::SeqCst);
                // Slow enough for concurrent misses to overlap.
                tokio::time::sleep(Duration::from_millis(50)).await;
                match id {
                    0 => Err(ItemError::Unknown(id)),
                    _ => Ok(Item {
                        id,
                        name: format!("item {id}"),
                    }),
                }
            })
            .await
    }

    fn loads(&self) -> usize {
        self.loads.load(Ordering::SeqCst)
    }
}

#[http_route(GET, "/items/{id}")]
async fn get_item(Path(id): Path<u32>, catalog: Inject<Catalog>) -> Result<Json<Item>, ItemError> {
    Ok(Json(catalog.item(id).await?))
}

/// Where the scenario runs.
struct Backend {
    url: String,
    /// Unique per test: the service name, hence the key prefix.
    service: String,
}

impl Backend {
    fn memory(name: &str) -> Backend {
        Backend {
            url: format!("memory://{name}"),
            service: name.to_owned(),
        }
    }

    /// The Redis of `REDIS_URL`, under a service name no earlier run used.
    fn redis(name: &str) -> Backend {
        let url = std::env::var("REDIS_URL").unwrap_or_default();
        assert!(
            url.starts_with("redis://"),
            "the Redis tests need REDIS_URL=redis://host:port of a running Redis \
             (scripts/test starts redis-server); got {url:?}"
        );
        Backend {
            url,
            service: format!("{name}-{}", uuid::Uuid::new_v4().simple()),
        }
    }

    async fn start(&self) -> TestApp {
        self.start_with(&[]).await
    }

    async fn start_with(&self, overrides: &[(&str, &str)]) -> TestApp {
        let mut env = vec![
            ("DATABASE_URL", ""),
            ("HTTP_BASE_PATH", ""),
            ("KAFKA_BROKERS", ""),
            ("REDIS_URL", self.url.as_str()),
            ("APP_NAME", self.service.as_str()),
        ];
        env.extend_from_slice(overrides);
        TestApp::start(&env).await.expect("the app starts")
    }

    /// The store itself, to look at keys as they are stored.
    async fn raw(&self) -> Arc<dyn Store> {
        match self.url.strip_prefix("memory://") {
            Some(name) => MemoryStore::named(name),
            None => {
                let breaker = Breaker::new("redis", BreakerConfig::default());
                let store = Arc::new(RedisStore::connect(&self.url, breaker).await.unwrap());
                eventually("a connection to Redis", STORE_WAIT, || {
                    let store = store.clone();
                    async move { store.ping().await.is_ok() }
                })
                .await;
                store
            }
        }
    }
}

fn catalog(app: &TestApp) -> Arc<Catalog> {
    app.running().component::<Catalog>().expect("the catalog")
}

/// How long the store gets to come (back) up.
const STORE_WAIT: Duration = Duration::from_secs(10);

framework_test_support::on_backends!(Backend: memory, redis; [
    values_are_stored_under_the_service_prefix,
    entries_expire_with_their_ttl,
    invalidated_entries_are_loaded_again,
    concurrent_misses_share_one_load,
    a_failed_load_is_returned_and_not_cached,
    an_invalidation_during_a_load_wins,
    a_value_that_does_not_decode_is_replaced_by_the_next_load,
]);

async fn values_are_stored_under_the_service_prefix(backend: Backend) {
    let app = backend.start().await;
    let cache = &catalog(&app).cache;
    assert_eq!(cache.get::<Item>("absent").await, None);
    let item = Item {
        id: 1,
        name: "one".into(),
    };
    cache.set("one", &item, TTL).await;
    assert_eq!(cache.get::<Item>("one").await, Some(item));

    let raw = backend.raw().await;
    let stored = raw.get(&format!("{}:one", backend.service)).await.unwrap();
    assert_eq!(stored.as_deref(), Some(&br#"{"id":1,"name":"one"}"#[..]));
    assert_eq!(raw.get("one").await.unwrap(), None, "keys carry the prefix");
    app.shutdown().await.unwrap();
}

async fn entries_expire_with_their_ttl(backend: Backend) {
    let app = backend.start().await;
    let cache = &catalog(&app).cache;
    cache.set("brief", &7u32, Duration::from_millis(200)).await;
    assert_eq!(cache.get::<u32>("brief").await, Some(7));
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(cache.get::<u32>("brief").await, None);
    app.shutdown().await.unwrap();
}

async fn invalidated_entries_are_loaded_again(backend: Backend) {
    let app = backend.start().await;
    let catalog = catalog(&app);
    let url = app.url("/items/3");
    let first: Item = reqwest::get(&url).await.unwrap().json().await.unwrap();
    let second: Item = reqwest::get(&url).await.unwrap().json().await.unwrap();
    assert_eq!(first, second);
    assert_eq!(catalog.loads(), 1, "the second read was a hit");

    catalog.cache.delete("item:3").await;
    assert_eq!(catalog.cache.get::<Item>("item:3").await, None);
    let third: Item = reqwest::get(&url).await.unwrap().json().await.unwrap();
    assert_eq!(third, first);
    assert_eq!(catalog.loads(), 2, "loaded again after the invalidation");
    app.shutdown().await.unwrap();
}

async fn concurrent_misses_share_one_load(backend: Backend) {
    let app = backend.start().await;
    let catalog = catalog(&app);
    let reads = (0..50).map(|_| {
        let catalog = catalog.clone();
        tokio::spawn(async move { catalog.item(9).await.unwrap() })
    });
    let items = futures_util::future::join_all(reads).await;
    assert!(items.iter().all(|i| i.as_ref().unwrap().name == "item 9"));
    assert_eq!(catalog.loads(), 1, "50 concurrent misses, one load");
    catalog.item(9).await.unwrap();
    assert_eq!(catalog.loads(), 1);
    app.shutdown().await.unwrap();
}

async fn a_failed_load_is_returned_and_not_cached(backend: Backend) {
    let app = backend.start().await;
    let response = reqwest::get(app.url("/items/0")).await.unwrap();
    assert_eq!(response.status(), 404);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["code"], "ITEM_UNKNOWN");
    let catalog = catalog(&app);
    assert!(catalog.item(0).await.is_err());
    assert_eq!(catalog.loads(), 2, "a failure is not cached");
    app.shutdown().await.unwrap();
}

/// A read that loaded the old value, overtaken by an update that committed and invalidated
/// the key before the read stored it: the old value must not be stored (it would be served
/// until its TTL ends).
async fn an_invalidation_during_a_load_wins(backend: Backend) {
    let app = backend.start().await;
    let cache = catalog(&app).cache.clone();
    let (started, load_started) = tokio::sync::oneshot::channel();
    let (finish, may_finish) = tokio::sync::oneshot::channel::<()>();
    let reader = tokio::spawn({
        let cache = cache.clone();
        async move {
            cache
                .get_or_load("raced", TTL, || async {
                    started.send(()).unwrap();
                    may_finish.await.unwrap();
                    Ok::<_, ItemError>(Item {
                        id: 1,
                        name: "as read before the update".into(),
                    })
                })
                .await
                .unwrap()
        }
    });
    load_started.await.unwrap();
    assert_eq!(
        cache.get::<Item>("raced").await,
        None,
        "a load in progress is a miss"
    );
    cache.delete("raced").await;
    finish.send(()).unwrap();
    let read = reader.await.unwrap();
    assert_eq!(
        read.name, "as read before the update",
        "the reader gets what it read"
    );
    assert_eq!(
        cache.get::<Item>("raced").await,
        None,
        "but it is not stored"
    );

    let fresh = cache
        .get_or_load("raced", TTL, || async {
            Ok::<_, ItemError>(Item {
                id: 1,
                name: "as read after the update".into(),
            })
        })
        .await
        .unwrap();
    assert_eq!(
        cache.get::<Item>("raced").await,
        Some(fresh),
        "the next load is stored"
    );
    app.shutdown().await.unwrap();
}

/// A value another version of the type wrote (it does not decode): a miss, replaced by what
/// the next load stores.
async fn a_value_that_does_not_decode_is_replaced_by_the_next_load(backend: Backend) {
    let app = backend.start().await;
    let catalog = catalog(&app);
    let raw = backend.raw().await;
    let key = format!("{}:item:4", backend.service);
    raw.set(&key, br#"{"id":"four"}"#.to_vec(), TTL)
        .await
        .unwrap();
    assert_eq!(catalog.cache.get::<Item>("item:4").await, None);
    let loaded = catalog.item(4).await.unwrap();
    assert_eq!(catalog.cache.get::<Item>("item:4").await, Some(loaded));
    catalog.item(4).await.unwrap();
    assert_eq!(catalog.loads(), 1, "stored by the load, then a hit");
    app.shutdown().await.unwrap();
}

/// A redis-server of the test's own, on a free port below the ephemeral range (a client
/// retrying it while it is stopped cannot end up holding it), that it can stop and start
/// again.
struct RedisServer {
    port: u16,
    child: Option<Child>,
}

impl RedisServer {
    fn start() -> RedisServer {
        let port = framework_test_support::free_low_port();
        let mut server = RedisServer { port, child: None };
        server.restart();
        server
    }

    fn restart(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server on the PATH (apt-get install redis-server)");
        let child = self.child.insert(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if let Ok(Some(exit)) = child.try_wait() {
                panic!(
                    "redis-server exited ({exit}) instead of listening on {}",
                    self.port
                );
            }
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Sends `signal` (`-STOP`, `-CONT`) to the running server.
    fn signal(&self, signal: &str) {
        let pid = self.child.as_ref().expect("running").id().to_string();
        let status = Command::new("kill").args([signal, &pid]).status().unwrap();
        assert!(status.success(), "kill {signal} {pid}");
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `/health`: its status code, its body and the body's `redis` unit.
async fn health(app: &TestApp) -> (u16, serde_json::Value, serde_json::Value) {
    let response = reqwest::get(app.url("/health")).await.unwrap();
    let status = response.status().as_u16();
    let body: serde_json::Value = response.json().await.unwrap();
    let unit = body["units"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["name"] == "redis")
        .expect("a redis unit")
        .clone();
    (status, body, unit)
}

/// The `redis` unit's circuit breaker state in `/health`.
async fn redis_circuit(app: &TestApp) -> String {
    let (_, _, unit) = health(app).await;
    unit["circuit"].as_str().unwrap_or_default().to_owned()
}

/// The response status of `/health`, the app's status and the `redis` unit's.
async fn redis_health(app: &TestApp) -> (u16, String, String) {
    let (status, body, unit) = health(app).await;
    let text = |value: &serde_json::Value| value.as_str().unwrap().to_owned();
    (status, text(&body["status"]), text(&unit["status"]))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_answers_while_redis_is_down_and_uses_the_cache_again_once_it_is_back() {
    let mut server = RedisServer::start();
    let backend = Backend {
        url: server.url(),
        service: "outage".into(),
    };
    let app = backend.start().await;
    let catalog = catalog(&app);
    let url = app.url("/items/5");
    eventually("Redis up", STORE_WAIT, || async {
        redis_health(&app).await.2 == "up"
    })
    .await;
    for _ in 0..2 {
        assert_eq!(reqwest::get(&url).await.unwrap().status(), 200);
    }
    assert_eq!(catalog.loads(), 1, "the second read was a hit");

    server.stop();
    eventually("Redis down in /health", STORE_WAIT, || async {
        redis_health(&app).await == (200, "degraded".into(), "down".into())
    })
    .await;
    for _ in 0..2 {
        let response = reqwest::get(&url).await.unwrap();
        assert_eq!(response.status(), 200, "the API answers without its cache");
        let item: Item = response.json().await.unwrap();
        assert_eq!(item.name, "item 5");
    }
    assert_eq!(catalog.loads(), 3, "every read went to the loader");

    server.restart();
    eventually("Redis up again", STORE_WAIT, || async {
        redis_health(&app).await == (200, "up".into(), "up".into())
    })
    .await;
    for _ in 0..2 {
        assert_eq!(reqwest::get(&url).await.unwrap().status(), 200);
    }
    assert_eq!(catalog.loads(), 4, "cached again without a restart");
    app.shutdown().await.unwrap();
}

/// One request of the load: when it started (since the load began), its status, how long
/// it took.
type Sample = (Duration, u16, Duration);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_load_redis_stopped_restarted_and_frozen_fails_no_request() {
    const LOOPS: usize = 8;
    let mut server = RedisServer::start();
    let backend = Backend {
        url: server.url(),
        service: format!("load-{}", uuid::Uuid::new_v4().simple()),
    };
    // Open long enough for the second the test looks at it to hold no trial.
    let app = backend.start_with(&[("BREAKER_OPEN_MS", "4000")]).await;
    eventually("Redis up", STORE_WAIT, || async {
        redis_health(&app).await.2 == "up"
    })
    .await;
    let done = Arc::new(AtomicBool::new(false));
    let began = Instant::now();
    let loads: Vec<_> = (0..LOOPS)
        .map(|k| {
            let (done, url) = (done.clone(), app.url(&format!("/items/{}", k + 1)));
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                let mut samples: Vec<Sample> = Vec::new();
                while !done.load(Ordering::Relaxed) {
                    let started = Instant::now();
                    let status = match client.get(&url).send().await {
                        Ok(response) => response.status().as_u16(),
                        Err(_) => 0,
                    };
                    samples.push((started - began, status, started.elapsed()));
                }
                samples
            })
        })
        .collect();
    let up = |circuit: &'static str| {
        let app = &app;
        move || async move { redis_health(app).await.2 == "up" && redis_circuit(app).await == circuit }
    };
    tokio::time::sleep(Duration::from_secs(1)).await;

    server.stop();
    eventually("Redis down in /health", STORE_WAIT, || async {
        redis_health(&app).await.2 == "down"
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    server.restart();
    eventually(
        "Redis up again, its breaker closed",
        STORE_WAIT,
        up("closed"),
    )
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;

    // Connected, but no answer: each command waits for its timeout until the breaker opens.
    server.signal("-STOP");
    eventually("the redis breaker open", STORE_WAIT, || async {
        redis_circuit(&app).await == "open"
    })
    .await;
    let open_from = began.elapsed();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let open_until = began.elapsed();
    server.signal("-CONT");
    eventually(
        "Redis answering again, its breaker closed",
        STORE_WAIT,
        up("closed"),
    )
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    done.store(true, Ordering::Relaxed);

    let mut samples = Vec::new();
    for load in loads {
        samples.extend(load.await.unwrap());
    }
    let failed: Vec<&Sample> = samples
        .iter()
        .filter(|(_, status, _)| *status != 200)
        .collect();
    let while_open: Vec<Duration> = samples
        .iter()
        .filter(|(at, _, _)| (open_from..open_until).contains(at))
        .map(|(_, _, took)| *took)
        .collect();
    let slowest_while_open = while_open.iter().max().copied().unwrap_or_default();
    println!(
        "{} requests from {LOOPS} loops, {} not 200; {} while the breaker was open, the slowest \
         in {slowest_while_open:?}",
        samples.len(),
        failed.len(),
        while_open.len(),
    );
    assert!(failed.is_empty(), "{failed:?}");
    assert!(
        !while_open.is_empty(),
        "the load ran while the breaker was open"
    );
    // The breaker's point: none waits for the 500 ms command timeout (a miss costs the
    // loader's 50 ms).
    assert!(
        slowest_while_open < Duration::from_millis(450),
        "{slowest_while_open:?}"
    );
    app.shutdown().await.unwrap();
}

/// `REDIS_URL` is checked when the app is created: `check` names the key and what it may be,
/// with the value's password hidden.
#[test]
fn a_redis_url_of_another_shape_fails_the_check() {
    for url in ["http://user:secret@cache:6379", "127.0.0.1:6379", "memoryx"] {
        let Err(error) = framework::testing::check(&[("DATABASE_URL", ""), ("REDIS_URL", url)])
        else {
            panic!("REDIS_URL={url} passed the check");
        };
        let text = error.to_string();
        assert!(text.contains("REDIS_URL"), "{text}");
        assert!(text.contains("`redis://"), "{text}");
        assert!(!text.contains("secret"), "{text}");
    }
    for url in ["memory", "memory://named", "redis://127.0.0.1:1"] {
        framework::testing::check(&[("DATABASE_URL", ""), ("REDIS_URL", url)])
            .unwrap_or_else(|e| panic!("REDIS_URL={url:?}: {e}"));
    }
    // Blank is no cache: the module that needs one is reported, with what to set.
    let Err(error) = framework::testing::check(&[("DATABASE_URL", ""), ("REDIS_URL", " ")]) else {
        panic!("a blank REDIS_URL built a cache");
    };
    let text = error.to_string();
    assert!(text.contains("nothing provides `Cache`"), "{text}");
    assert!(
        text.contains("help: set REDIS_URL (redis://host:port, or memory)"),
        "{text}"
    );
}
