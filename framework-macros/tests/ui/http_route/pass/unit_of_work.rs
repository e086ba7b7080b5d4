//! Handlers of every delivery that take the unit of work's `Tx`, an idempotent route and an
//! idempotent consumer: they compile, and the wiring check asks for the database.

use framework::axum::http::StatusCode;
use framework::config::Settings;
use framework::cron::JobContext;
use framework::kafka::Payload;
use framework::{Tx, cron_job, http_route, kafka_consumer};

#[derive(Debug, thiserror::Error, framework::DomainError)]
pub enum NoteError {
    #[error("storage failed")]
    #[domain(internal, code = "NOTE_STORAGE")]
    Storage(#[from] framework::transaction::TxError),
}

#[http_route(POST, "/notes", idempotency)]
async fn create(tx: Tx, body: String) -> Result<(StatusCode, String), NoteError> {
    tx.publish_json("notes", "key", &body).await?;
    Ok((StatusCode::CREATED, body))
}

#[http_route(PATCH, "/notes/{id}", idempotency = false)]
async fn patch(_tx: Tx) -> StatusCode {
    StatusCode::NO_CONTENT
}

#[kafka_consumer(topic = "notes", group = "note-counter", idempotent)]
async fn count(_tx: Tx, _payload: Payload) -> Result<(), NoteError> {
    Ok(())
}

#[cron_job(schedule = "0 0 * * * *")]
async fn sweep(_tx: Tx, _context: JobContext) -> Result<(), NoteError> {
    Ok(())
}

fn main() {
    let with = |database: &str| {
        framework::App::from_settings(Settings::from_pairs([
            ("DATABASE_URL", database),
            ("KAFKA_BROKERS", "memory"),
        ]))
        .expect("settings are valid")
        .check()
    };
    with("sqlite::memory:").expect("the wiring is valid with a database");
    let error = with("").expect_err("a `Tx` needs a database").to_string();
    for needer in ["handler `", "consumer `", "job `"] {
        assert!(error.contains(needer), "{needer} not in:\n{error}");
    }
    assert!(error.contains("nothing provides `Transactions`"), "{error}");
    assert!(error.contains("nothing provides `dyn IdempotencyStore`"), "{error}");
}
