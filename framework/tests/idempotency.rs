//! `Idempotency-Key` on real stores: SQLite, and PostgreSQL (`DATABASE_URL`; scripts/test
//! starts it). A replay gets the first status, headers and body and runs nothing; another
//! request under the key gets 422; a retry while the first runs gets 409; a 5xx gives the key
//! up; keys expire; a malformed key gets 400; on a route with a `Tx` the kept response commits
//! with the handler's writes.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use framework::axum::Json;
use framework::axum::http::StatusCode;
use framework::sqlx;
use framework::testing::TestApp;
use framework::transaction::{Transactions, TxError};
use framework::{DomainError, Inject, Tx, http_route, module};
use framework_test_support::{Database, on_connection};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Note {
    run: String,
    text: String,
    /// `"hold"`: wait until the test opens the gate; `"fail"`: answer 500 after the writes;
    /// `"refuse"`: answer 400.
    #[serde(default)]
    mode: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct Created {
    id: String,
    text: String,
}

#[derive(Debug, thiserror::Error, DomainError)]
pub enum NoteError {
    #[error("note refused")]
    #[domain(bad_request, code = "NOTE_REFUSED")]
    Refused,
    #[error("note failed")]
    #[domain(internal, code = "NOTE_FAILED")]
    Failed,
    #[error("storage failed")]
    #[domain(internal, code = "NOTE_STORAGE")]
    Storage(#[from] sqlx::Error),
    #[error("transaction failed")]
    #[domain(internal, code = "NOTE_TRANSACTION")]
    Transaction(#[from] TxError),
}

/// How often each handler ran, and a gate `"hold"` requests wait at.
#[module]
pub struct Runs {
    #[state]
    stored: AtomicU32,
    #[state]
    plain: AtomicU32,
    #[state]
    gate: tokio::sync::Notify,
}

async fn behave(note: &Note, runs: &Runs) -> Result<(), NoteError> {
    match note.mode.as_deref() {
        Some("hold") => runs.gate.notified().await,
        Some("fail") => return Err(NoteError::Failed),
        Some("refuse") => return Err(NoteError::Refused),
        _ => {}
    }
    Ok(())
}

/// Writes a row in the request's transaction; the kept response commits with it.
#[http_route(POST, "/stored", idempotency)]
async fn create_stored(
    tx: Tx,
    runs: Inject<Runs>,
    Json(note): Json<Note>,
) -> Result<(StatusCode, Json<Created>), NoteError> {
    runs.stored.fetch_add(1, Ordering::SeqCst);
    let id = uuid::Uuid::new_v4().to_string();
    let sql = "INSERT INTO idem_notes (run, id) VALUES ($1, $2)";
    on_connection!(tx, |conn| {
        sqlx::query(sql)
            .bind(&note.run)
            .bind(&id)
            .execute(&mut *conn)
            .await?;
    });
    behave(&note, &runs).await?;
    Ok((
        StatusCode::CREATED,
        Json(Created {
            id,
            text: note.text,
        }),
    ))
}

/// No transaction: the kept response is written after the handler.
#[http_route(POST, "/plain", idempotency)]
async fn create_plain(
    runs: Inject<Runs>,
    Json(note): Json<Note>,
) -> Result<(StatusCode, Json<Created>), NoteError> {
    runs.plain.fetch_add(1, Ordering::SeqCst);
    behave(&note, &runs).await?;
    let id = uuid::Uuid::new_v4().to_string();
    Ok((
        StatusCode::CREATED,
        Json(Created {
            id,
            text: note.text,
        }),
    ))
}

/// Where a scenario runs.
struct Backend {
    database: Database,
}

impl Backend {
    fn sqlite(name: &str) -> Backend {
        Backend {
            database: Database::sqlite(name),
        }
    }

    fn postgres(_: &str) -> Backend {
        Backend {
            database: Database::postgres(),
        }
    }

    async fn start(&self, ttl_secs: &str) -> Setup {
        let app = TestApp::start(&[
            ("DATABASE_URL", self.database.url.as_str()),
            ("DATABASE_MIGRATE", "true"),
            ("KAFKA_BROKERS", ""),
            ("HTTP_BASE_PATH", ""),
            ("HTTP_IDEMPOTENCY_TTL_SECS", ttl_secs),
            // A held request is given up on this soon.
            ("HTTP_REQUEST_TIMEOUT_SECS", "2"),
        ])
        .await
        .expect("the app starts");
        let transactions = app
            .running()
            .component::<Transactions>()
            .expect("transactions");
        let table = "CREATE TABLE IF NOT EXISTS idem_notes (run TEXT NOT NULL, id TEXT NOT NULL)";
        // One scenario at a time: PostgreSQL's `IF NOT EXISTS` does not hold against a
        // concurrent create.
        static CREATING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
        let _creating = CREATING.lock().await;
        transactions
            .run(|tx| async move {
                on_connection!(tx, |conn| {
                    sqlx::query(table).execute(&mut *conn).await?;
                });
                Ok::<(), NoteError>(())
            })
            .await
            .expect("the table");
        Setup {
            app,
            run: uuid::Uuid::new_v4().simple().to_string(),
            client: reqwest::Client::new(),
        }
    }
}

struct Setup {
    app: TestApp,
    run: String,
    client: reqwest::Client,
}

impl Setup {
    fn note(&self, text: &str, mode: Option<&str>) -> Note {
        Note {
            run: self.run.clone(),
            text: text.into(),
            mode: mode.map(str::to_owned),
        }
    }

    async fn post(&self, path: &str, key: Option<&str>, note: &Note) -> reqwest::Response {
        let mut request = self.client.post(self.app.url(path)).json(note);
        if let Some(key) = key {
            request = request.header("idempotency-key", key);
        }
        request.send().await.expect("answered")
    }

    fn runs(&self) -> std::sync::Arc<Runs> {
        self.app.running().component::<Runs>().expect("runs")
    }

    async fn rows(&self) -> i64 {
        let transactions = self.app.running().component::<Transactions>().unwrap();
        let run = self.run.clone();
        let sql = "SELECT COUNT(*) FROM idem_notes WHERE run = $1";
        transactions
            .run(|tx| async move {
                let n: i64 = on_connection!(tx, |conn| {
                    sqlx::query_scalar(sql)
                        .bind(&run)
                        .fetch_one(&mut *conn)
                        .await?
                });
                Ok::<i64, NoteError>(n)
            })
            .await
            .expect("counted")
    }
}

framework_test_support::on_backends!(Backend: sqlite, postgres; [
    a_replay_returns_the_first_response_and_runs_nothing,
    another_request_under_a_key_is_refused_and_a_running_one_conflicts,
    failures_give_the_key_up_and_keys_expire,
    expired_keys_and_old_inbox_ids_are_pruned,
]);

async fn a_replay_returns_the_first_response_and_runs_nothing(backend: Backend) {
    let setup = backend.start("86400").await;
    for path in ["/stored", "/plain"] {
        let note = setup.note("first", None);
        let key = format!("{path}-{}", setup.run);
        let first = setup.post(path, Some(&key), &note).await;
        assert_eq!(first.status(), 201, "{path}");
        assert!(first.headers().get("idempotent-replayed").is_none());
        let first: Created = first.json().await.unwrap();
        // Quoted as the draft's structured-field string, it is the same key.
        let replay = setup.post(path, Some(&format!("\"{key}\"")), &note).await;
        assert_eq!(replay.status(), 201, "{path}");
        assert_eq!(replay.headers()["idempotent-replayed"], "true");
        assert_eq!(replay.headers()["content-type"], "application/json");
        assert_eq!(replay.json::<Created>().await.unwrap(), first, "{path}");
        // Without a key, every request runs.
        assert_eq!(setup.post(path, None, &note).await.status(), 201);
    }
    let runs = setup.runs();
    assert_eq!(
        runs.stored.load(Ordering::SeqCst),
        2,
        "the replay ran the handler"
    );
    assert_eq!(
        runs.plain.load(Ordering::SeqCst),
        2,
        "the replay ran the handler"
    );
    assert_eq!(setup.rows().await, 2, "one row per key, one without");
    // A refusal is kept too: its retry gets it again without running.
    let refused = setup.note("refused", Some("refuse"));
    let key = format!("refused-{}", setup.run);
    assert_eq!(
        setup.post("/stored", Some(&key), &refused).await.status(),
        400
    );
    let again = setup.post("/stored", Some(&key), &refused).await;
    assert_eq!(again.status(), 400);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(runs.stored.load(Ordering::SeqCst), 3);
    assert_eq!(
        setup.rows().await,
        2,
        "the refused request's row was rolled back"
    );
    // Malformed keys.
    for bad in ["", "a b", &"k".repeat(256), "\"unterminated"] {
        let response = setup
            .post("/plain", Some(bad), &setup.note("x", None))
            .await;
        assert_eq!(response.status(), 400, "{bad:?}");
        let problem: serde_json::Value = response.json().await.unwrap();
        assert_eq!(problem["code"], "IDEMPOTENCY_KEY_INVALID");
    }
    setup.app.shutdown().await.unwrap();
}

async fn another_request_under_a_key_is_refused_and_a_running_one_conflicts(backend: Backend) {
    let setup = backend.start("86400").await;
    let backend = &backend;
    let key = format!("conflict-{}", setup.run);
    assert_eq!(
        setup
            .post("/stored", Some(&key), &setup.note("one", None))
            .await
            .status(),
        201
    );
    let other = setup
        .post("/stored", Some(&key), &setup.note("two", None))
        .await;
    assert_eq!(other.status(), 422);
    let problem: serde_json::Value = other.json().await.unwrap();
    assert_eq!(problem["code"], "IDEMPOTENCY_KEY_REUSED");

    // Two at once under one key: the first holds it until the gate opens. (On SQLite a
    // request's open transaction holds the database's only write lock, so a second claim
    // waits for it: there only the route without a transaction can be held open.)
    let runs = setup.runs();
    let routes: &[(&str, &AtomicU32)] = if backend.database.url.starts_with("sqlite") {
        &[("/plain", &runs.plain)]
    } else {
        &[("/stored", &runs.stored), ("/plain", &runs.plain)]
    };
    for &(path, count) in routes {
        let held_key = format!("held-{path}-{}", setup.run);
        let held = setup.note("held", Some("hold"));
        let before = count.load(Ordering::SeqCst);
        let first = setup.post(path, Some(&held_key), &held);
        let second = async {
            // The first has claimed the key once it runs.
            while count.load(Ordering::SeqCst) == before {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            let second = setup.post(path, Some(&held_key), &held).await;
            runs.gate.notify_one();
            second
        };
        let (first, second) = tokio::join!(first, second);
        assert_eq!(first.status(), 201, "{path}");
        assert_eq!(second.status(), 409, "{path}");
        assert_eq!(second.headers()["retry-after"], "1");
        let problem: serde_json::Value = second.json().await.unwrap();
        assert_eq!(problem["code"], "IDEMPOTENCY_KEY_IN_USE");
        assert_eq!(count.load(Ordering::SeqCst), before + 1, "{path}");
        // Done: the retry is a replay now.
        let replay = setup.post(path, Some(&held_key), &held).await;
        assert_eq!(replay.headers()["idempotent-replayed"], "true");
    }
    let expected = if routes.len() == 2 { 2 } else { 1 };
    assert_eq!(setup.rows().await, expected);
    setup.app.shutdown().await.unwrap();
}

async fn failures_give_the_key_up_and_keys_expire(backend: Backend) {
    let setup = backend.start("1").await;
    let runs = setup.runs();
    let key = format!("failing-{}", setup.run);
    let failing = setup.note("failing", Some("fail"));
    assert_eq!(
        setup.post("/stored", Some(&key), &failing).await.status(),
        500
    );
    // Given up, and rolled back: the retry runs again.
    assert_eq!(
        setup.post("/stored", Some(&key), &failing).await.status(),
        500
    );
    assert_eq!(runs.stored.load(Ordering::SeqCst), 2);
    assert_eq!(setup.rows().await, 0);
    let ok = setup.note("ok", None);
    assert_eq!(setup.post("/stored", Some(&key), &ok).await.status(), 201);
    assert_eq!(setup.rows().await, 1);
    // `HTTP_IDEMPOTENCY_TTL_SECS=1`: once it passed, the key is new again.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let again = setup.post("/stored", Some(&key), &ok).await;
    assert_eq!(again.status(), 201);
    assert!(again.headers().get("idempotent-replayed").is_none());
    assert_eq!(setup.rows().await, 2);

    // A request given up on (its timeout) gives its key up too: a retry runs again.
    let key = format!("timed-out-{}", setup.run);
    let held = setup.note("held", Some("hold"));
    assert_eq!(setup.post("/plain", Some(&key), &held).await.status(), 408);
    runs.gate.notify_one();
    let mut retry = setup.post("/plain", Some(&key), &held).await;
    // The key is released by a task of its own once the request is dropped.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    while retry.status() == 409 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
        retry = setup.post("/plain", Some(&key), &held).await;
    }
    assert_eq!(retry.status(), 201);
    assert_eq!(runs.plain.load(Ordering::SeqCst), 2);
    setup.app.shutdown().await.unwrap();
}

/// The pruned tables, and the column that names a row.
const PRUNED: [(&str, &str); 2] = [
    ("framework_idempotency", "key"),
    ("framework_inbox", "message_id"),
];

async fn expired_keys_and_old_inbox_ids_are_pruned(backend: Backend) {
    let first = backend.start("86400").await;
    let transactions = first.app.running().component::<Transactions>().unwrap();
    let now = chrono::Utc::now();
    let old = now - chrono::Duration::hours(200);
    let run = first.run.clone();
    transactions
        .run(|tx| async move {
            for (id, at) in [
                (format!("old-{run}"), old),
                (format!("new-{run}"), now + chrono::Duration::hours(1)),
            ] {
                on_connection!(tx, |conn| {
                    sqlx::query(
                        "INSERT INTO framework_idempotency \
                         (scope, key, fingerprint, locked_until, expires_at) \
                         VALUES ('prune', $1, 'f', $2, $2)",
                    )
                    .bind(&id)
                    .bind(at)
                    .execute(&mut *conn)
                    .await?;
                });
                let received = if id.starts_with("old") { old } else { now };
                on_connection!(tx, |conn| {
                    sqlx::query(
                        "INSERT INTO framework_inbox (inbox, message_id, received_at) \
                         VALUES ('prune', $1, $2)",
                    )
                    .bind(&id)
                    .bind(received)
                    .execute(&mut *conn)
                    .await?;
                });
            }
            Ok::<(), NoteError>(())
        })
        .await
        .expect("the rows");
    // A replica starting on the database prunes at once (then hourly): the key expired and
    // the id older than `OUTBOX_INBOX_RETENTION_HOURS` (168) go, the others stay.
    let second = backend.start("86400").await;
    let count = |id: String| {
        let transactions = transactions.clone();
        async move {
            let mut counts = Vec::new();
            for (table, column) in PRUNED {
                let sql = format!("SELECT COUNT(*) FROM {table} WHERE {column} = $1");
                let id = id.clone();
                let n = transactions
                    .run(|tx| async move {
                        let n: i64 = on_connection!(tx, |conn| {
                            sqlx::query_scalar(&sql)
                                .bind(&id)
                                .fetch_one(&mut *conn)
                                .await?
                        });
                        Ok::<i64, NoteError>(n)
                    })
                    .await
                    .expect("counted");
                counts.push(n);
            }
            counts
        }
    };
    framework_test_support::eventually(
        "the old rows are pruned",
        Duration::from_secs(10),
        async || count(format!("old-{}", first.run)).await == [0, 0],
    )
    .await;
    assert_eq!(count(format!("new-{}", first.run)).await, [1, 1]);
    second.app.shutdown().await.unwrap();
    first.app.shutdown().await.unwrap();
}
