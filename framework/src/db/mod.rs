//! The SQL database: a PostgreSQL or SQLite pool chosen by the scheme of `DATABASE_URL`,
//! built only when a component needs it, with embedded migrations.
//!
//! A `#[module]` field of type `PgPool` or `SqlitePool` injects the pool, behind the
//! database's circuit breaker ([`Pool`]); adapters pick their backend with
//! `#[module(when = framework::db::is_postgres)]`.

mod config;
mod idempotency;
pub(crate) mod migrate;
mod outbox;
mod plugin;
mod pool;
mod providers;
mod schema;
mod transaction;
mod transient;

use crate::config::Settings;

pub use config::DatabaseConfig;
pub(crate) use migrate::{MigrationsRecord, run_migrations};
pub use outbox::OutboxConfig;
#[cfg(feature = "postgres")]
pub use pool::PgPool;
pub use pool::Pool;
#[cfg(feature = "sqlite")]
pub use pool::SqlitePool;
pub use transaction::{SqlBackend, SqlTransaction, SqlTx};

/// The database backend named by a URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// `postgres://` or `postgresql://`.
    Postgres,
    /// `sqlite:`.
    Sqlite,
}

impl Backend {
    /// Whether this build has the backend (its feature, `postgres` or `sqlite`, is on).
    pub fn is_built(self) -> bool {
        match self {
            Backend::Postgres => cfg!(feature = "postgres"),
            Backend::Sqlite => cfg!(feature = "sqlite"),
        }
    }

    /// The feature that builds the backend.
    pub fn feature(self) -> &'static str {
        match self {
            Backend::Postgres => "postgres",
            Backend::Sqlite => "sqlite",
        }
    }

    /// The backend of `url`, if it is one of ours.
    pub fn of_url(url: &str) -> Option<Backend> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Backend::Postgres)
        } else if url.starts_with("sqlite:") {
            Some(Backend::Sqlite)
        } else {
            None
        }
    }

    /// The backend `settings` select, if `DATABASE_URL` is set.
    pub fn of(settings: &Settings) -> Option<Backend> {
        settings
            .get("DATABASE_URL")
            .and_then(|url| Backend::of_url(url.trim()))
    }
}

/// `when` predicate: `DATABASE_URL` is a PostgreSQL URL.
pub fn is_postgres(settings: &Settings) -> bool {
    Backend::of(settings) == Some(Backend::Postgres)
}

/// `when` predicate: `DATABASE_URL` is an SQLite URL.
pub fn is_sqlite(settings: &Settings) -> bool {
    Backend::of(settings) == Some(Backend::Sqlite)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_from_scheme() {
        assert_eq!(
            Backend::of_url("postgresql://h/db"),
            Some(Backend::Postgres)
        );
        assert_eq!(Backend::of_url("sqlite::memory:"), Some(Backend::Sqlite));
        assert_eq!(Backend::of_url("mysql://h/db"), None);
    }
}
