use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use validator::Validate;

use crate::error::Problem;

/// Extracts `T` (a `Json<_>` or `Query<_>`) and runs its `validator` rules; a failure is a 400
/// problem listing each failing field.
///
/// ```ignore
/// #[http_route(POST, "/articles")]
/// async fn create(Valid(Json(req)): Valid<Json<CreateArticle>>) -> ... { .. }
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Valid<T>(pub T);

impl<T, S> FromRequest<S> for Valid<Json<T>>
where
    T: DeserializeOwned + Validate,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request(request: Request, state: &S) -> Result<Self, Problem> {
        let Json(value) = Json::<T>::from_request(request, state)
            .await
            .map_err(json_problem)?;
        value
            .validate()
            .map_err(|errors| Problem::validation(&errors))?;
        Ok(Valid(Json(value)))
    }
}

impl<T, S> FromRequestParts<S> for Valid<Query<T>>
where
    T: DeserializeOwned + Validate,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        let Query(value) = Query::<T>::from_request_parts(parts, state)
            .await
            .map_err(|r| Problem::new(StatusCode::BAD_REQUEST, "INVALID_QUERY", r.body_text()))?;
        value
            .validate()
            .map_err(|errors| Problem::validation(&errors))?;
        Ok(Valid(Query(value)))
    }
}

fn json_problem(rejection: JsonRejection) -> Problem {
    let (status, code) = match &rejection {
        JsonRejection::JsonSyntaxError(_) => (StatusCode::BAD_REQUEST, "MALFORMED_JSON"),
        JsonRejection::JsonDataError(_) => (StatusCode::BAD_REQUEST, "INVALID_BODY"),
        JsonRejection::MissingJsonContentType(_) => {
            (StatusCode::UNSUPPORTED_MEDIA_TYPE, "UNSUPPORTED_MEDIA_TYPE")
        }
        other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            (StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE")
        }
        _ => (rejection.status(), "INVALID_BODY"),
    };
    Problem::new(status, code, rejection.body_text())
}
