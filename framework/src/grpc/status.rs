//! Domain errors as `tonic::Status`: the code from the kind table, the stable error code as
//! `google.rpc.ErrorInfo`, field violations as `google.rpc.BadRequest`.

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};
use validator::Validate;

use crate::error::{DomainError, ErrorKind, FieldError, field_errors};
use crate::telemetry::bounded::{MAX_MESSAGE, truncated};

/// What an internal error says to the client: nothing internal.
const INTERNAL_MESSAGE: &str = "the server failed to handle the call";

fn code_of(kind: ErrorKind) -> Code {
    match kind {
        ErrorKind::Validation | ErrorKind::BadRequest | ErrorKind::Domain => Code::InvalidArgument,
        ErrorKind::NotFound => Code::NotFound,
        ErrorKind::Conflict => Code::AlreadyExists,
        ErrorKind::Unauthorized => Code::Unauthenticated,
        ErrorKind::Forbidden => Code::PermissionDenied,
        ErrorKind::Marshaling | ErrorKind::Application | ErrorKind::Internal => Code::Internal,
        ErrorKind::Unavailable => Code::Unavailable,
        ErrorKind::Timeout => Code::DeadlineExceeded,
    }
}

inventory::submit!(crate::error::transient::Classifier {
    classify: remote_failure
});

/// A remote gRPC service's answer or channel failure, for [`crate::error::transient`]: a
/// remote that is down (`UNAVAILABLE`, which tonic also answers when it cannot connect) or
/// did not answer in time (`DEADLINE_EXCEEDED`; tonic's own per-call timeout, which it
/// reports as `CANCELLED` with a `TimeoutExpired` source).
fn remote_failure(error: &(dyn std::error::Error + 'static)) -> Option<ErrorKind> {
    if let Some(status) = error.downcast_ref::<Status>() {
        return match status.code() {
            Code::Unavailable => Some(ErrorKind::Unavailable),
            Code::DeadlineExceeded => Some(ErrorKind::Timeout),
            _ => None,
        };
    }
    if error.is::<tonic::TimeoutExpired>() {
        return Some(ErrorKind::Timeout);
    }
    // A `tonic::transport::Error` may be a bad URI: only its connect failure says the
    // remote is down, found as its source.
    error
        .is::<tonic::ConnectError>()
        .then_some(ErrorKind::Unavailable)
}

fn status(
    code: Code,
    message: String,
    error_code: &str,
    domain: &str,
    fields: &[FieldError],
    retry: Option<std::time::Duration>,
) -> Status {
    let mut details =
        ErrorDetails::with_error_info(error_code, domain, std::collections::HashMap::new());
    // `google.rpc.RetryInfo`: when an unavailable dependency may be back, or a client over
    // its rate limit may call again.
    if let Some(delay) = retry {
        details.set_retry_info(Some(delay));
    }
    for field in fields {
        for message in &field.messages {
            details.add_bad_request_violation(field.field.clone(), truncated(message, MAX_MESSAGE));
        }
    }
    // It may quote the request; it travels as the `grpc-message` header.
    let message = truncated(&message, MAX_MESSAGE).into_owned();
    Status::with_error_details(code, message, details)
}

/// `RESOURCE_EXHAUSTED` for a client over its rate limit, with `RATE_LIMITED` and when to
/// call again.
pub(crate) fn rate_limited(message: String, retry_after: std::time::Duration) -> Status {
    status(
        Code::ResourceExhausted,
        message,
        "RATE_LIMITED",
        "framework",
        &[],
        Some(retry_after),
    )
}

/// The status of a domain error; an internal one is logged and reported to Sentry with its
/// chain, and shows only its code.
pub fn status_from_domain_error<E: DomainError>(error: &E) -> Status {
    // Once: an internal error's kind walks its source chain.
    let kind = error.kind();
    let code = code_of(kind);
    // Server-side kinds (internal, a dependency down or late) say nothing internal.
    let message = if kind.is_server_side() {
        crate::work::report_server_failure(error, error.code(), "call failed");
        INTERNAL_MESSAGE.to_owned()
    } else {
        let message = error.to_string();
        let refused = truncated(&message, MAX_MESSAGE);
        tracing::info!(code = error.code(), error = %refused, "call refused");
        message
    };
    status(
        code,
        message,
        error.code(),
        error.domain(),
        &error.field_errors(),
        (code == Code::Unavailable).then(|| crate::breaker::retry_after(error)),
    )
}

/// Runs `value`'s `validator` rules, the same as HTTP's `Valid<T>`: a failure is
/// `InvalidArgument` with each field violation.
pub fn validate<T: Validate>(value: &T) -> Result<(), Status> {
    value.validate().map_err(|errors| {
        status(
            Code::InvalidArgument,
            "the request failed validation".to_owned(),
            "VALIDATION_FAILED",
            "framework",
            &field_errors(&errors),
            None,
        )
    })
}

/// `InvalidArgument` for one malformed field (an id that is not a UUID, say), with the same
/// `BadRequest` detail as a validation failure.
pub fn invalid_argument(field: &str, message: &str) -> Status {
    let fields = [FieldError {
        field: field.to_owned(),
        messages: vec![message.to_owned()],
    }];
    status(
        Code::InvalidArgument,
        format!("invalid `{field}`: {message}"),
        "INVALID_ARGUMENT",
        "framework",
        &fields,
        None,
    )
}

#[cfg(test)]
mod tests {
    use tonic::Code;

    use crate::error::{DomainError, ErrorKind};

    #[derive(Debug, thiserror::Error)]
    #[error("the broker at 10.0.0.7 is down")]
    struct Down(ErrorKind);

    impl DomainError for Down {
        fn kind(&self) -> ErrorKind {
            self.0
        }
        fn code(&self) -> &'static str {
            "BROKER_DOWN"
        }
    }

    #[test]
    fn a_dependency_down_or_late_has_its_code_and_says_nothing_internal() {
        for (kind, code) in [
            (ErrorKind::Unavailable, Code::Unavailable),
            (ErrorKind::Timeout, Code::DeadlineExceeded),
        ] {
            let status = super::status_from_domain_error(&Down(kind));
            assert_eq!(status.code(), code);
            assert!(
                !status.message().contains("10.0.0.7"),
                "{}",
                status.message()
            );
        }
    }

    #[derive(Debug, thiserror::Error)]
    #[error("the remote failed")]
    struct Remote(#[source] tonic::Status);

    #[test]
    fn a_remote_down_or_late_is_a_dependency_failure() {
        use crate::error::transient::classified;
        let kind = |status| classified(&Remote(status), ErrorKind::Internal);
        assert_eq!(
            kind(tonic::Status::unavailable("connect")),
            ErrorKind::Unavailable
        );
        assert_eq!(
            kind(tonic::Status::deadline_exceeded("late")),
            ErrorKind::Timeout
        );
        // tonic's own per-call timeout.
        let expired: Box<dyn std::error::Error + Send + Sync> = Box::new(tonic::TimeoutExpired(()));
        let status = tonic::Status::from_error(expired);
        assert_eq!(status.code(), Code::Cancelled);
        assert_eq!(kind(status), ErrorKind::Timeout);
        assert_eq!(kind(tonic::Status::internal("bug")), ErrorKind::Internal);
    }
}
