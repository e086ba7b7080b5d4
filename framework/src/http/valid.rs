use axum::Json;
use axum::extract::rejection::{BytesRejection, FailedToBufferBody, JsonRejection};
use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use validator::Validate;

use super::GzipBody;
use super::Problem;

/// Extracts `T` (a `Json<_>` or `Query<_>`) and runs its `validator` rules; a failure is a 400
/// problem listing each failing field. A JSON body that does not parse is 400
/// `MALFORMED_JSON`, one of the wrong shape 400 `INVALID_BODY`, a gzip body that does not
/// decode 400 `MALFORMED_CONTENT_ENCODING`, a wrong content type 415 `UNSUPPORTED_MEDIA_TYPE`
/// and one past `HTTP_BODY_LIMIT_BYTES` (decoded) 413 `PAYLOAD_TOO_LARGE`.
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
        let gzip = request.extensions().get::<GzipBody>().is_some();
        let Json(value) = Json::<T>::from_request(request, state)
            .await
            .map_err(|rejection| json_problem(rejection, gzip))?;
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

/// The problem of a JSON body that was refused; `gzip` when it came gzipped, so that a body
/// that failed to read failed to decode.
fn json_problem(rejection: JsonRejection, gzip: bool) -> Problem {
    if gzip
        && let JsonRejection::BytesRejection(BytesRejection::FailedToBufferBody(
            FailedToBufferBody::UnknownBodyError(error),
        )) = &rejection
    {
        return Problem::new(
            StatusCode::BAD_REQUEST,
            "MALFORMED_CONTENT_ENCODING",
            format!("The body does not decode as gzip, as its Content-Encoding says: {error}"),
        );
    }
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
