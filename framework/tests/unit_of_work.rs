//! The unit of work end to end, on SQLite with the in-process broker and on PostgreSQL
//! (`DATABASE_URL`) with the real Kafka-protocol broker (`KAFKA_BROKERS`; scripts/test starts
//! both): a route that takes a `Tx` commits its row and its outbox event together, a failing
//! or panicking one stores and publishes nothing, the relay publishes each event with a
//! `ce_id`, and an idempotent consumer applies a redelivered event once.

use std::time::Duration;

use framework::axum::Json;
use framework::axum::http::StatusCode;
use framework::kafka::{Header, Headers, Outgoing, Transport};
use framework::sqlx;
use framework::testing::TestApp;
use framework::transaction::{Transactions, TxError};
use framework::{DomainError, Tx, http_route, kafka_consumer};
use framework_test_support::{Database, eventually, on_connection};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Note {
    run: String,
    id: String,
    /// `"refuse"` (the handler returns an error after its writes), `"panic"`, `"slow"` (it
    /// outlives the request timeout), `"retry"` (its consumer fails its first attempt after
    /// its writes), or absent.
    #[serde(default)]
    fail: Option<String>,
}

#[derive(Debug, thiserror::Error, DomainError)]
pub enum NoteError {
    #[error("note refused")]
    #[domain(bad_request, code = "NOTE_REFUSED")]
    Refused,
    #[error("storage failed")]
    #[domain(internal, code = "NOTE_STORAGE")]
    Storage(#[from] sqlx::Error),
    #[error("transaction failed")]
    #[domain(internal, code = "NOTE_TRANSACTION")]
    Transaction(#[from] TxError),
}

/// Runs `sql` with the note's run and id in the unit's transaction, on whichever backend it is.
async fn write(tx: &Tx, sql: &str, note: &Note) -> Result<(), NoteError> {
    on_connection!(tx, |conn| {
        sqlx::query(sql)
            .bind(&note.run)
            .bind(&note.id)
            .execute(&mut *conn)
            .await?;
    });
    Ok(())
}

#[http_route(POST, "/notes")]
async fn create_note(tx: Tx, Json(note): Json<Note>) -> Result<StatusCode, NoteError> {
    write(
        &tx,
        "INSERT INTO uow_notes (run, id) VALUES ($1, $2)",
        &note,
    )
    .await?;
    tx.publish_json(&format!("uow-{}", note.run), &note.id, &note)
        .await?;
    match note.fail.as_deref() {
        Some("refuse") => Err(NoteError::Refused),
        Some("panic") => panic!("the handler panicked after its writes"),
        Some("slow") => {
            tokio::time::sleep(Duration::from_secs(30)).await;
            Ok(StatusCode::CREATED)
        }
        _ => Ok(StatusCode::CREATED),
    }
}

/// The consumer's attempts at each run's `"retry"` note.
static RETRY_ATTEMPTS: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

/// Counts an attempt at `run`'s `"retry"` note; whether it is the first.
fn first_attempt(run: &str) -> bool {
    let mut attempts = RETRY_ATTEMPTS.lock().unwrap();
    attempts.push(run.to_owned());
    attempts.iter().filter(|r| *r == run).count() == 1
}

fn attempts(run: &str) -> usize {
    RETRY_ATTEMPTS
        .lock()
        .unwrap()
        .iter()
        .filter(|r| *r == run)
        .count()
}

/// Counts each note it is handed: without the inbox a redelivery would count twice.
#[kafka_consumer(
    topic = "${UOW_TOPIC}",
    group = "${UOW_GROUP}",
    idempotent,
    backoff_ms = 10
)]
async fn count_note(tx: Tx, Json(note): Json<Note>) -> Result<(), NoteError> {
    write(
        &tx,
        "INSERT INTO uow_counts (run, id, n) VALUES ($1, $2, 1) \
         ON CONFLICT (run, id) DO UPDATE SET n = uow_counts.n + 1",
        &note,
    )
    .await?;
    // A retryable failure after the write: the attempt's transaction (the count and the inbox
    // row) rolls back, and the retry counts it once.
    if note.fail.as_deref() == Some("retry") && first_attempt(&note.run) {
        return Err(NoteError::Transaction(TxError::OutsideUnit));
    }
    Ok(())
}

const TABLES: &str = "CREATE TABLE IF NOT EXISTS uow_notes (run TEXT NOT NULL, id TEXT NOT NULL, PRIMARY KEY (run, id));
CREATE TABLE IF NOT EXISTS uow_counts (run TEXT NOT NULL, id TEXT NOT NULL, n BIGINT NOT NULL, PRIMARY KEY (run, id));";

/// Where the scenario runs: SQLite and the in-process broker, or PostgreSQL and the broker.
struct Backend {
    kafka: framework_test_support::KafkaBackend,
    database: Database,
}

impl Backend {
    fn memory(name: &str) -> Backend {
        Backend {
            kafka: framework_test_support::KafkaBackend::memory(name),
            database: Database::sqlite(name),
        }
    }

    fn broker(name: &str) -> Backend {
        Backend {
            kafka: framework_test_support::KafkaBackend::broker(name),
            database: Database::postgres(),
        }
    }
}

framework_test_support::on_backends!(Backend: memory, broker; [
    commits_publish_once_and_failures_leave_nothing,
]);

async fn count_of(app: &TestApp, table: &str, run: &str, id: &str) -> i64 {
    let transactions = app
        .running()
        .component::<Transactions>()
        .expect("transactions");
    let column = if table == "uow_counts" { "n" } else { "1" };
    let sql = format!(
        "SELECT CAST(COALESCE(SUM({column}), 0) AS BIGINT) FROM {table} WHERE run = $1 AND id = $2"
    );
    let note = Note {
        run: run.into(),
        id: id.into(),
        fail: None,
    };
    transactions
        .run(|tx| async move {
            let n: i64 = on_connection!(tx, |conn| {
                sqlx::query_scalar(&sql)
                    .bind(&note.run)
                    .bind(&note.id)
                    .fetch_one(&mut *conn)
                    .await?
            });
            Ok::<i64, NoteError>(n)
        })
        .await
        .expect("counted")
}

async fn commits_publish_once_and_failures_leave_nothing(backend: Backend) {
    let run = backend.kafka.run.clone();
    let topic = format!("uow-{run}");
    let group = backend.kafka.name("uow");
    let app = TestApp::start(&[
        ("DATABASE_URL", backend.database.url.as_str()),
        ("DATABASE_MIGRATE", "true"),
        ("KAFKA_BROKERS", backend.kafka.brokers.as_str()),
        ("KAFKA_CREATE_TOPICS", "true"),
        ("UOW_TOPIC", topic.as_str()),
        ("UOW_GROUP", group.as_str()),
        ("OUTBOX_POLL_INTERVAL_MS", "50"),
        ("HTTP_REQUEST_TIMEOUT_SECS", "1"),
        ("HTTP_BASE_PATH", ""),
    ])
    .await
    .expect("the app starts");
    let transactions = app
        .running()
        .component::<Transactions>()
        .expect("transactions");
    transactions
        .run(|tx| async move {
            on_connection!(tx, |conn| {
                sqlx::raw_sql(TABLES).execute(&mut *conn).await?;
            });
            Ok::<(), NoteError>(())
        })
        .await
        .expect("tables");

    let client = reqwest::Client::new();
    let post = |id: &str, fail: Option<&str>| {
        let note = Note {
            run: run.clone(),
            id: id.into(),
            fail: fail.map(str::to_owned),
        };
        client.post(app.url("/notes")).json(&note).send()
    };

    // A refused and a panicking handler: their rows and events are rolled back.
    assert_eq!(post("refused", Some("refuse")).await.unwrap().status(), 400);
    assert_eq!(post("panicked", Some("panic")).await.unwrap().status(), 500);
    // One given up on at its timeout: dropped with its transaction open.
    assert_eq!(post("slow", Some("slow")).await.unwrap().status(), 408);
    // A handler that succeeds: its row is stored and its event consumed, once.
    assert_eq!(post("ok", None).await.unwrap().status(), 201);
    assert_eq!(count_of(&app, "uow_notes", &run, "ok").await, 1);
    eventually(
        "the event is consumed",
        Duration::from_secs(30),
        async || count_of(&app, "uow_counts", &run, "ok").await == 1,
    )
    .await;
    for id in ["refused", "panicked", "slow"] {
        assert_eq!(
            count_of(&app, "uow_notes", &run, id).await,
            0,
            "{id} stored"
        );
        assert_eq!(
            count_of(&app, "uow_counts", &run, id).await,
            0,
            "{id} published"
        );
    }

    // The same event again (its `ce_id` kept), then a new one of the same key behind it: once
    // the second is counted, the first was handled and skipped.
    let transport = app
        .running()
        .component::<dyn Transport>()
        .expect("transport");
    let payload = serde_json::to_vec(&Note {
        run: run.clone(),
        id: "ok".into(),
        fail: None,
    })
    .unwrap();
    let event_id = seen_event_id(&transport, &topic).await;
    transport
        .send(Outgoing {
            topic: topic.clone(),
            key: Some(b"ok".to_vec()),
            payload: Some(payload),
            headers: vec![Header::new("ce_id", event_id.as_str())],
        })
        .await
        .expect("re-produced");
    assert_eq!(post("later", None).await.unwrap().status(), 201);
    eventually(
        "the later event is consumed",
        Duration::from_secs(30),
        async || count_of(&app, "uow_counts", &run, "later").await == 1,
    )
    .await;
    assert_eq!(
        count_of(&app, "uow_counts", &run, "ok").await,
        1,
        "the redelivered event was applied again"
    );

    // A consumer attempt that fails after its write is rolled back: the retry counts once.
    assert_eq!(post("retried", Some("retry")).await.unwrap().status(), 201);
    eventually(
        "the retried event is consumed",
        Duration::from_secs(30),
        async || count_of(&app, "uow_counts", &run, "retried").await >= 1,
    )
    .await;
    // Two attempts ran (the retry was not skipped as a duplicate: the failed attempt's inbox
    // row rolled back too), and the count is one.
    assert_eq!(attempts(&run), 2);
    assert_eq!(count_of(&app, "uow_counts", &run, "retried").await, 1);
    app.shutdown().await.expect("stops");
}

/// The `ce_id` of the first record on `topic`, read by a group of its own.
async fn seen_event_id(transport: &std::sync::Arc<dyn Transport>, topic: &str) -> String {
    let group = format!("reader-{}", uuid::Uuid::new_v4().simple());
    let mut subscription = transport
        .subscribe(&group, &[topic.to_owned()])
        .expect("subscribed");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no record on {topic}"
        );
        if let Some(framework::kafka::Fetched::Records(messages)) = subscription.next(10).await
            && let Some(message) = messages.first()
        {
            let headers = Headers(message.headers.clone());
            let id = headers.get("ce_id").expect("the event carries ce_id");
            return String::from_utf8(id.to_vec()).unwrap();
        }
    }
}
