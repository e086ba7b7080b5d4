//! The error model: every `#[derive(DomainError)]` variant has a kind and a stable code
//! clients see. The kinds name no protocol: each delivery maps them to its own (HTTP to a
//! status, `framework::http::status_of`; gRPC to a code; Kafka to retry or dead-letter).

pub(crate) mod record;
pub mod transient;

pub use crate::validation::{FieldError, field_errors};
pub(crate) use record::ErrorCodeRecord;

/// The kinds of failure; each delivery maps them to its protocol (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// Input failed validation: 400.
    Validation,
    /// A malformed request: 400.
    BadRequest,
    /// A business rule refused the request: 400.
    Domain,
    /// 404.
    NotFound,
    /// A conflict with existing state (a duplicate): 409.
    Conflict,
    /// 401.
    Unauthorized,
    /// 403.
    Forbidden,
    /// Data that could not be encoded or decoded: 500.
    Marshaling,
    /// A failure of the application's own logic: 500, retried by consumers.
    Application,
    /// A failure of infrastructure: 500, retried by consumers.
    Internal,
    /// A dependency (a database, a broker, a remote service) is down, and the work was not
    /// done: 503 with `Retry-After`, gRPC `UNAVAILABLE`; retried by consumers.
    Unavailable,
    /// A dependency did not answer in time, and whether the work was done is unknown: 504,
    /// gRPC `DEADLINE_EXCEEDED`; retried by consumers.
    Timeout,
}

impl ErrorKind {
    /// Every kind, in table order.
    pub const ALL: [ErrorKind; 12] = [
        ErrorKind::Validation,
        ErrorKind::BadRequest,
        ErrorKind::Domain,
        ErrorKind::NotFound,
        ErrorKind::Conflict,
        ErrorKind::Unauthorized,
        ErrorKind::Forbidden,
        ErrorKind::Marshaling,
        ErrorKind::Application,
        ErrorKind::Internal,
        ErrorKind::Unavailable,
        ErrorKind::Timeout,
    ];

    /// Whether the failure is the service's or a dependency's rather than the caller's: its
    /// message is then never shown to clients (HTTP answers it with a 5xx status, gRPC with
    /// `INTERNAL`, `UNAVAILABLE` or `DEADLINE_EXCEEDED`), only logged.
    pub fn is_server_side(self) -> bool {
        matches!(
            self,
            ErrorKind::Marshaling
                | ErrorKind::Application
                | ErrorKind::Internal
                | ErrorKind::Unavailable
                | ErrorKind::Timeout
        )
    }

    /// The kinds an error declared with this kind may answer as: an `internal` one also as
    /// `unavailable` or `timeout`, when a dependency's transient failure is among its sources
    /// ([`transient`]); any other only as itself.
    pub fn answered_as(self) -> &'static [ErrorKind] {
        match self {
            ErrorKind::Internal => &[
                ErrorKind::Internal,
                ErrorKind::Unavailable,
                ErrorKind::Timeout,
            ],
            _ => std::slice::from_ref(&ErrorKind::ALL[self as usize]),
        }
    }

    /// Whether a consumer should retry a message that failed with this kind.
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            ErrorKind::Application
                | ErrorKind::Internal
                | ErrorKind::Unavailable
                | ErrorKind::Timeout
        )
    }
}

/// An error of the service's domain; implement it with `#[derive(DomainError)]`.
///
/// ```
/// use framework::DomainError;
///
/// #[derive(Debug, thiserror::Error, DomainError)]
/// pub enum ArticleError {
///     #[error("article {0} not found")]
///     #[domain(not_found, code = "ARTICLE_NOT_FOUND")]
///     NotFound(uuid::Uuid),
///     #[error("storage failure")]
///     #[domain(internal)]
///     Storage(#[source] std::io::Error),
/// }
///
/// let e = ArticleError::NotFound(uuid::Uuid::nil());
/// assert_eq!(framework::error::DomainError::code(&e), "ARTICLE_NOT_FOUND");
/// ```
pub trait DomainError: std::error::Error + Send + Sync + 'static {
    /// The kind, which fixes the status mappings.
    fn kind(&self) -> ErrorKind;
    /// The stable code clients see.
    fn code(&self) -> &'static str;
    /// Who defines the code (`google.rpc.ErrorInfo.domain`): the crate, by default.
    fn domain(&self) -> &'static str {
        "framework"
    }
    /// Field errors, for validation errors.
    fn field_errors(&self) -> Vec<FieldError> {
        Vec::new()
    }
    /// Every code of the type with its kind (`#[derive(DomainError)]` lists each variant's):
    /// the error responses of the OpenAPI document.
    fn catalog() -> &'static [(&'static str, ErrorKind)]
    where
        Self: Sized,
    {
        &[]
    }
}

/// `error: source: source-of-source`, for logs (never for clients).
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut chain = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        chain.push_str(": ");
        chain.push_str(&e.to_string());
        source = e.source();
    }
    chain
}

/// A Kafka handler's or a job's error, as the runtime needs it.
#[derive(Debug, Clone)]
pub struct Failure {
    /// Its kind, which decides retry or dead-letter.
    pub kind: ErrorKind,
    /// Its stable code.
    pub code: &'static str,
    /// The error chain, for logs and the dead-letter headers (never for clients).
    pub message: String,
    /// When a circuit breaker refused the work (its dependency is known to be down): how
    /// long it stays open. A consumer waits that long and tries again without spending a
    /// retry, rather than dead-lettering what a dependency's outage refused.
    pub refused_for: Option<std::time::Duration>,
}

impl Failure {
    /// The failure of a domain error.
    pub fn of<E: DomainError>(error: &E) -> Failure {
        Failure {
            kind: error.kind(),
            code: error.code(),
            message: error_chain(error),
            refused_for: transient::refused_for(error),
        }
    }

    /// The failure with its message cut to 4 KiB, with a marker: it may quote the record or
    /// input at fault (a serde message quotes the value it refused), and it goes to the logs,
    /// to Sentry and into a dead letter's header.
    pub fn bounded(self) -> Failure {
        use crate::telemetry::bounded::{MAX_CHAIN, truncated};
        match truncated(&self.message, MAX_CHAIN) {
            std::borrow::Cow::Borrowed(_) => self,
            std::borrow::Cow::Owned(message) => Failure { message, ..self },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ErrorKind;

    #[test]
    fn each_kind_answers_as_itself_and_internal_as_a_dependency_failure_too() {
        for kind in ErrorKind::ALL {
            assert_eq!(kind.answered_as()[0], kind);
        }
        assert_eq!(
            ErrorKind::Internal.answered_as(),
            [
                ErrorKind::Internal,
                ErrorKind::Unavailable,
                ErrorKind::Timeout
            ]
        );
        assert_eq!(ErrorKind::NotFound.answered_as().len(), 1);
    }
}
