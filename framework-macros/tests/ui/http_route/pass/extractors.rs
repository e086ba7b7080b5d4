//! Handlers with the usual extractors: an injected component, a path parameter, a validated
//! query and JSON body, and a `DomainError` as the error type.

use framework::axum::Json;
use framework::axum::extract::{Path, Query};
use framework::axum::http::StatusCode;
use framework::config::Settings;
use framework::{DomainError, Inject, Valid, http_route, module};

#[derive(Debug, thiserror::Error, DomainError)]
pub enum NoteError {
    #[error("note {0} not found")]
    #[domain(not_found)]
    NotFound(u32),
}

#[module]
pub struct Notes;

impl Notes {
    fn get(&self, id: u32) -> Result<String, NoteError> {
        if id == 1 {
            Ok("first".to_owned())
        } else {
            Err(NoteError::NotFound(id))
        }
    }
}

#[derive(serde::Deserialize, validator::Validate)]
pub struct ListQuery {
    #[validate(range(min = 1, max = 100))]
    pub limit: Option<u32>,
}

#[derive(serde::Deserialize, validator::Validate)]
pub struct NoteInput {
    #[validate(length(min = 1))]
    pub text: String,
}

#[http_route(GET, "/notes/{id}")]
async fn get(notes: Inject<Notes>, Path(id): Path<u32>) -> Result<Json<String>, NoteError> {
    Ok(Json(notes.get(id)?))
}

#[http_route(GET, "/notes")]
async fn list(Valid(Query(query)): Valid<Query<ListQuery>>) -> Json<Vec<u32>> {
    Json((1..=query.limit.unwrap_or(1)).collect())
}

#[http_route(POST, "/notes")]
async fn create(
    _notes: Inject<Notes>,
    Valid(Json(input)): Valid<Json<NoteInput>>,
) -> (StatusCode, String) {
    (StatusCode::CREATED, input.text)
}

#[http_route(PUT, "/notes/{id}")]
async fn replace(Path(id): Path<u32>, body: String) -> String {
    format!("{id}: {body}")
}

#[http_route(DELETE, "/files/{*rest}")]
async fn delete(Path(rest): Path<String>) -> StatusCode {
    if rest.is_empty() {
        StatusCode::NOT_FOUND
    } else {
        StatusCode::NO_CONTENT
    }
}

fn main() {
    let app = framework::App::from_settings(Settings::from_pairs([("DATABASE_URL", "")]))
        .expect("settings are valid");
    app.check().expect("the wiring is valid");
    let wiring = app.wiring();
    for route in ["/notes/{id}", "/notes", "/files/{*rest}"] {
        assert!(wiring.contains(route), "{route} missing from:\n{wiring}");
    }
    assert!(Notes.get(1).is_ok());
}
