//! The database's transient failures, for [`crate::error::transient`]: a variant declared
//! `internal` over one of these answers as unavailable (503) or timeout (504).

use std::error::Error;

use crate::error::ErrorKind;
use crate::error::transient::Classifier;

inventory::submit!(Classifier { classify });

/// A pool that timed out or closed, and the server's own refusals of a connection or of a
/// statement that ran out of time. Any other `Io` error is left to its source, the
/// `io::Error`.
fn classify(error: &(dyn Error + 'static)) -> Option<ErrorKind> {
    match error.downcast_ref::<sqlx::Error>()? {
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::WorkerCrashed => {
            Some(ErrorKind::Unavailable)
        }
        sqlx::Error::Database(error) => server(error.as_ref()),
        // The server closed the connection under a statement (it stopped, say); the core
        // leaves an end of file alone, which elsewhere is a truncated input.
        sqlx::Error::Io(error) if error.kind() == std::io::ErrorKind::UnexpectedEof => {
            Some(ErrorKind::Unavailable)
        }
        _ => None,
    }
}

fn server(error: &dyn sqlx::error::DatabaseError) -> Option<ErrorKind> {
    #[cfg(feature = "postgres")]
    if let Some(error) = error.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
        return sqlstate(error.code());
    }
    #[cfg(feature = "sqlite")]
    if let Some(error) = error.try_downcast_ref::<sqlx::sqlite::SqliteError>() {
        use sqlx::error::DatabaseError;
        // SQLITE_BUSY (5) and SQLITE_BUSY_TIMEOUT (773), once `busy_timeout` ran out:
        // another writer held the database for longer. Not SQLITE_BUSY_SNAPSHOT (517), which
        // comes at once, nor SQLITE_LOCKED (6), a conflict within one connection.
        return matches!(error.code().as_deref(), Some("5" | "773")).then_some(ErrorKind::Timeout);
    }
    let _ = error;
    None
}

/// PostgreSQL's SQLSTATE (Appendix A, "PostgreSQL Error Codes"): class 08 (connection
/// exception), the server shutting down or starting (57P01-57P03), no connection slot
/// left (53300); a statement cancelled by `statement_timeout` (57014) did not answer in
/// time.
#[cfg(feature = "postgres")]
fn sqlstate(code: &str) -> Option<ErrorKind> {
    match code {
        "57014" => Some(ErrorKind::Timeout),
        "57P01" | "57P02" | "57P03" | "53300" => Some(ErrorKind::Unavailable),
        code if code.starts_with("08") => Some(ErrorKind::Unavailable),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::transient::classified;

    #[derive(Debug, thiserror::Error)]
    #[error("storage failed")]
    struct Storage(#[source] sqlx::Error);

    #[test]
    fn a_pool_that_timed_out_is_unavailable() {
        let error = Storage(sqlx::Error::PoolTimedOut);
        assert_eq!(
            classified(&error, ErrorKind::Internal),
            ErrorKind::Unavailable
        );
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        let error = Storage(sqlx::Error::Io(refused));
        assert_eq!(
            classified(&error, ErrorKind::Internal),
            ErrorKind::Unavailable
        );
        let error = Storage(sqlx::Error::RowNotFound);
        assert_eq!(classified(&error, ErrorKind::Internal), ErrorKind::Internal);
    }

    #[cfg(feature = "postgres")]
    #[test]
    fn sqlstates_of_a_server_going_away_or_a_statement_timing_out() {
        assert_eq!(sqlstate("08006"), Some(ErrorKind::Unavailable));
        assert_eq!(sqlstate("57P01"), Some(ErrorKind::Unavailable));
        assert_eq!(sqlstate("57014"), Some(ErrorKind::Timeout));
        assert_eq!(sqlstate("23505"), None);
    }
}
