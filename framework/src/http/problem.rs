//! RFC 9457 problem details, the body of every HTTP error.

use std::borrow::Cow;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use validator::ValidationErrors;

use crate::error::{DomainError, ErrorKind, FieldError, field_errors};
use crate::telemetry::bounded::{MAX_MESSAGE, truncated};

/// The HTTP status of an error `kind`: 400 for validation, bad request and domain, 404, 409,
/// 401, 403, 500 for marshaling, application and internal, 503 for unavailable (with
/// `Retry-After`, see [`Problem`]) and 504 for timeout.
pub fn status_of(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::Validation | ErrorKind::BadRequest | ErrorKind::Domain => {
            StatusCode::BAD_REQUEST
        }
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::Conflict => StatusCode::CONFLICT,
        ErrorKind::Unauthorized => StatusCode::UNAUTHORIZED,
        ErrorKind::Forbidden => StatusCode::FORBIDDEN,
        ErrorKind::Marshaling | ErrorKind::Application | ErrorKind::Internal => {
            StatusCode::INTERNAL_SERVER_ERROR
        }
        ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::Timeout => StatusCode::GATEWAY_TIMEOUT,
    }
}

/// The media type of problem bodies.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// What a 5xx says: nothing internal.
const INTERNAL_DETAIL: &str =
    "The server failed to handle the request; quote the request id when reporting it.";

/// A problem details body. The framework's middleware adds the `request_id`.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    /// Always `about:blank`: `code` identifies the problem.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The status's reason phrase.
    pub title: Cow<'static, str>,
    /// The HTTP status.
    pub status: u16,
    /// A stable, machine-readable code.
    pub code: Cow<'static, str>,
    /// A human-readable explanation (generic for 5xx).
    pub detail: String,
    /// The request id, also in the `x-request-id` header.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// Field errors of a validation failure.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// For a 503, when to try again (`Retry-After`, in whole seconds rounded up):
    /// [`crate::breaker::retry_after`]; `None` for [`crate::breaker::DEFAULT_RETRY_AFTER`].
    #[serde(skip)]
    pub retry_after: Option<std::time::Duration>,
}

impl Problem {
    /// A problem with `status`, `code` and `detail`; a 5xx detail is replaced by a generic one,
    /// and a longer detail is cut to 1 KiB (it may quote the request: a serde message quotes
    /// the value it refused).
    pub fn new(
        status: StatusCode,
        code: impl Into<Cow<'static, str>>,
        detail: impl Into<String>,
    ) -> Problem {
        let detail = if status.is_server_error() {
            INTERNAL_DETAIL.to_owned()
        } else {
            bounded_message(detail.into())
        };
        Problem {
            kind: "about:blank",
            title: Cow::Borrowed(status.canonical_reason().unwrap_or("Error")),
            status: status.as_u16(),
            code: code.into(),
            detail,
            request_id: None,
            errors: Vec::new(),
            retry_after: None,
        }
    }

    /// A problem for a bare status, with the code derived from its reason (`PAYLOAD_TOO_LARGE`).
    pub fn from_status(status: StatusCode, detail: impl Into<String>) -> Problem {
        let code = status
            .canonical_reason()
            .unwrap_or("ERROR")
            .to_ascii_uppercase()
            .replace([' ', '-'], "_")
            .replace('\'', "");
        Problem::new(status, code, detail)
    }

    /// The generic 500.
    pub fn internal() -> Problem {
        Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL", "")
    }

    /// A 400 listing each failing field.
    pub fn validation(errors: &ValidationErrors) -> Problem {
        Problem {
            errors: field_errors(errors),
            ..Problem::new(
                StatusCode::BAD_REQUEST,
                "VALIDATION_FAILED",
                "The request failed validation.",
            )
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// The response for a domain error; a 5xx is logged and reported to Sentry with its whole
    /// chain, and the client sees only the code.
    pub fn from_domain_error<E: DomainError>(error: &E) -> Problem {
        let status = status_of(error.kind());
        let message = error.to_string();
        if status.is_server_error() {
            crate::work::report_server_failure(error, error.code(), "request failed");
        } else {
            // Its message may quote the request.
            let refused = truncated(&message, MAX_MESSAGE);
            tracing::info!(code = error.code(), error = %refused, "request refused");
        }
        Problem {
            errors: error.field_errors(),
            retry_after: (status == StatusCode::SERVICE_UNAVAILABLE)
                .then(|| crate::breaker::retry_after(error)),
            ..Problem::new(status, error.code(), message)
        }
    }

    /// The JSON body (never fails: every field is a plain string or number).
    pub(crate) fn to_body(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let mut response = (self.status(), self.to_body()).into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        // A dependency is down (RFC 9110 §10.2.3): when to try again, in seconds.
        if self.status == StatusCode::SERVICE_UNAVAILABLE.as_u16() {
            let left = self
                .retry_after
                .unwrap_or(crate::breaker::DEFAULT_RETRY_AFTER);
            let seconds = left.as_millis().div_ceil(1000).max(1) as u64;
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        // The problem middleware finds it here to add the request id.
        response.extensions_mut().insert(self);
        response
    }
}

/// `detail`, cut to [`MAX_MESSAGE`] bytes with a marker.
fn bounded_message(detail: String) -> String {
    match truncated(&detail, MAX_MESSAGE) {
        Cow::Borrowed(_) => detail,
        Cow::Owned(cut) => cut,
    }
}

#[cfg(test)]
mod tests {
    use axum::http::{StatusCode, header};
    use axum::response::IntoResponse;

    use super::Problem;

    #[test]
    fn a_dependency_down_says_when_to_retry() {
        let unavailable =
            Problem::new(StatusCode::SERVICE_UNAVAILABLE, "X", "down").into_response();
        assert_eq!(unavailable.headers()[header::RETRY_AFTER], "5");
        let timeout = Problem::new(StatusCode::GATEWAY_TIMEOUT, "X", "late").into_response();
        assert!(!timeout.headers().contains_key(header::RETRY_AFTER));
    }
}
