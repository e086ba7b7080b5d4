//! A dependency's transient failure, recognised in an error's source chain.
//!
//! A variant declared `#[domain(internal)]` that wraps, at any depth, a failure of the
//! database, the broker, the cache or a remote service (connection refused or reset, a pool
//! that timed out, a remote `UNAVAILABLE`) answers as [`ErrorKind::Unavailable`] or
//! [`ErrorKind::Timeout`] instead: 503 with `Retry-After` or 504, gRPC `UNAVAILABLE` or
//! `DEADLINE_EXCEEDED`, a retry for a consumer. The service author writes no mapping. The
//! core knows `std::io` errors; each plugin registers a [`Classifier`] for its backend's own
//! error types.

use std::error::Error;
use std::io;

use super::{DomainError, ErrorKind};

/// A plugin's recogniser of its backend's transient failures: given one link of a source
/// chain, `Some(Unavailable | Timeout)` when it is such a failure, `None` otherwise (the
/// walk goes on to the link's source).
pub struct Classifier {
    /// Looks at one link; downcasts it to the backend's types.
    pub classify: fn(&(dyn Error + 'static)) -> Option<ErrorKind>,
}

inventory::collect!(Classifier);

/// Recognises a refusal of a dependency known to be down (a circuit breaker's, registered by
/// `framework::breaker`) and says how long until it takes calls again.
pub struct Refusal {
    /// Looks at one link.
    pub retry_after: fn(&(dyn Error + 'static)) -> Option<std::time::Duration>,
}

inventory::collect!(Refusal);

/// How long until the dependency that refused `error` (or a source of it) takes calls again;
/// `None` when nothing in its chain is such a refusal.
pub fn refused_for(error: &(dyn Error + 'static)) -> Option<std::time::Duration> {
    links(error).find_map(|link| {
        inventory::iter::<Refusal>
            .into_iter()
            .find_map(|refusal| (refusal.retry_after)(link))
    })
}

/// A [`Classifier`] for a framework error type `E` whose own kind already says the
/// dependency is down or late: such an error, wrapped in a service's `internal` variant,
/// answers as its own kind. `inventory::submit!(Classifier { classify: own_kind::<E> })`.
pub(crate) fn own_kind<E: DomainError>(error: &(dyn Error + 'static)) -> Option<ErrorKind> {
    let kind = error.downcast_ref::<E>()?.kind();
    matches!(kind, ErrorKind::Unavailable | ErrorKind::Timeout).then_some(kind)
}

/// The kind a `declared` kind answers as for `error`: for [`ErrorKind::Internal`], the kind
/// of the first transient dependency failure among `error`'s sources, if any; every other
/// declared kind is kept.
pub fn classified(error: &(dyn Error + 'static), declared: ErrorKind) -> ErrorKind {
    if declared != ErrorKind::Internal {
        return declared;
    }
    error
        .source()
        .and_then(dependency_failure)
        .unwrap_or(declared)
}

/// The kind of the first transient dependency failure in `error` or its sources:
/// [`ErrorKind::Unavailable`] or [`ErrorKind::Timeout`], or `None`.
pub fn dependency_failure(error: &(dyn Error + 'static)) -> Option<ErrorKind> {
    links(error).find_map(transient)
}

/// Whether `error` or one of its sources is a dependency's transient failure.
pub fn is_dependency_failure(error: &(dyn Error + 'static)) -> bool {
    dependency_failure(error).is_some()
}

/// `error` and its sources, with the error an `io::Error` wraps, which `io::Error::source`
/// skips (it answers the wrapped error's source).
pub fn links<'a>(
    error: &'a (dyn Error + 'static),
) -> impl Iterator<Item = &'a (dyn Error + 'static)> {
    std::iter::successors(Some(error), |&link: &&'a (dyn Error + 'static)| match link
        .downcast_ref::<io::Error>()
        .and_then(io::Error::get_ref)
    {
        Some(wrapped) => Some(wrapped as &(dyn Error + 'static)),
        None => link.source(),
    })
}

/// Whether one link is a transient failure: an I/O error that says so, or one a plugin knows.
fn transient(error: &(dyn Error + 'static)) -> Option<ErrorKind> {
    if let Some(error) = error.downcast_ref::<io::Error>() {
        return io_kind(error.kind());
    }
    inventory::iter::<Classifier>
        .into_iter()
        .find_map(|classifier| (classifier.classify)(error))
}

/// The I/O errors of a peer that is down or went away, and of one that did not answer.
fn io_kind(kind: io::ErrorKind) -> Option<ErrorKind> {
    use io::ErrorKind::*;
    match kind {
        ConnectionRefused | ConnectionReset | ConnectionAborted | NotConnected | BrokenPipe
        | HostUnreachable | NetworkUnreachable | NetworkDown | AddrNotAvailable => {
            Some(ErrorKind::Unavailable)
        }
        TimedOut => Some(ErrorKind::Timeout),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("storage failed")]
    struct Storage(#[source] io::Error);

    #[derive(Debug, thiserror::Error)]
    #[error("wrapped")]
    struct Wrapped(#[source] Storage);

    #[test]
    fn an_internal_error_over_a_refused_connection_is_unavailable() {
        let error = Wrapped(Storage(io::ErrorKind::ConnectionRefused.into()));
        assert_eq!(
            classified(&error, ErrorKind::Internal),
            ErrorKind::Unavailable
        );
        let error = Storage(io::ErrorKind::TimedOut.into());
        assert_eq!(classified(&error, ErrorKind::Internal), ErrorKind::Timeout);
    }

    #[test]
    fn other_failures_and_other_kinds_are_kept() {
        let error = Storage(io::ErrorKind::PermissionDenied.into());
        assert_eq!(classified(&error, ErrorKind::Internal), ErrorKind::Internal);
        let error = Storage(io::ErrorKind::ConnectionRefused.into());
        assert_eq!(
            classified(&error, ErrorKind::Application),
            ErrorKind::Application
        );
        assert_eq!(classified(&error, ErrorKind::NotFound), ErrorKind::NotFound);
    }

    #[test]
    fn an_error_an_io_error_wraps_is_looked_at() {
        let inner = io::Error::other(Storage(io::ErrorKind::ConnectionReset.into()));
        let error = Storage(inner);
        assert_eq!(
            classified(&error, ErrorKind::Internal),
            ErrorKind::Unavailable
        );
    }
}
