//! An HTTP-only service on SQLite: `framework` with only its `http` and `sqlite` features, so
//! the build has no librdkafka, tonic, fred, Sentry or PostgreSQL driver.
//!
//! ```text
//! cargo run -p framework --example notes --no-default-features --features http,sqlite
//! curl -si -X POST localhost:4100/notes -H 'content-type: application/json' -d '{"text":"hi"}'
//! curl -si localhost:4100/notes/1
//! ```
//!
//! Its config is `examples/notes/envs/.env` (the environment wins, as for any service): an
//! in-memory database, migrated at startup, and routes at the root (`HTTP_BASE_PATH` empty).

use framework::axum::Json;
use framework::axum::extract::Path;
use framework::axum::http::StatusCode;
use framework::config::Settings;
use framework::db::SqlitePool;
use framework::{DomainError, Inject, Valid, http_route, module};
use serde::{Deserialize, Serialize};
use validator::Validate;

framework::migrations!("examples/notes/migrations");

/// A stored note.
#[derive(Debug, Serialize)]
pub struct Note {
    id: i64,
    text: String,
}

/// What `POST /notes` takes.
#[derive(Debug, Deserialize, Validate)]
pub struct NoteInput {
    #[validate(length(min = 1, max = 1000), custom(function = framework::validation::not_blank))]
    text: String,
}

/// What can go wrong with notes; each variant's kind picks the HTTP status.
#[derive(Debug, thiserror::Error, DomainError)]
pub enum NoteError {
    #[error("note {0} not found")]
    #[domain(not_found)]
    NotFound(i64),
    #[error("the notes could not be stored")]
    #[domain(internal)]
    Storage(#[from] framework::sqlx::Error),
}

/// The notes, in the SQLite pool the framework builds from `DATABASE_URL`.
#[module]
pub struct Notes {
    pool: SqlitePool,
}

impl Notes {
    async fn create(&self, text: &str) -> Result<Note, NoteError> {
        let (id,): (i64,) =
            framework::sqlx::query_as("INSERT INTO notes (text) VALUES (?) RETURNING id")
                .bind(text)
                .fetch_one(&self.pool)
                .await?;
        Ok(Note {
            id,
            text: text.to_owned(),
        })
    }

    async fn get(&self, id: i64) -> Result<Note, NoteError> {
        let row: Option<(String,)> =
            framework::sqlx::query_as("SELECT text FROM notes WHERE id = ?")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
        let (text,) = row.ok_or(NoteError::NotFound(id))?;
        Ok(Note { id, text })
    }
}

#[http_route(POST, "/notes")]
async fn create(
    notes: Inject<Notes>,
    Valid(Json(input)): Valid<Json<NoteInput>>,
) -> Result<(StatusCode, Json<Note>), NoteError> {
    Ok((StatusCode::CREATED, Json(notes.create(&input.text).await?)))
}

#[http_route(GET, "/notes/{id}")]
async fn get(notes: Inject<Notes>, Path(id): Path<i64>) -> Result<Json<Note>, NoteError> {
    Ok(Json(notes.get(id).await?))
}

#[tokio::main]
async fn main() -> framework::Result<()> {
    let envs = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/notes/envs");
    let settings = Settings::load_with([("ENVS_DIR", envs)])?;
    framework::App::from_settings(settings)?.run().await
}
