//! The framework's own tables (the outbox, the inbox, idempotency keys), migrated before the service's and
//! versioned apart from them, in `framework_schema`.
//!
//! sqlx's migrator keeps every version in `_sqlx_migrations` and refuses a database holding
//! versions it does not embed, so the service's migrations and ours cannot share it; this is
//! the few lines it would take to give it a second table.

use sqlx::{Database, Executor, Pool};

use crate::di::BuildError;

/// One migration of the framework's tables, for each backend.
pub(super) struct Migration {
    version: i64,
    description: &'static str,
    // Each read only when its backend is built.
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    postgres: &'static str,
    #[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
    sqlite: &'static str,
}

/// Every migration, oldest first. Never edit one that shipped: add the next.
const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        description: "outbox and inbox",
        postgres: "
        CREATE TABLE framework_outbox (
            id BIGSERIAL PRIMARY KEY,
            event_id UUID NOT NULL,
            topic TEXT NOT NULL,
            key TEXT NOT NULL,
            bucket INTEGER NOT NULL,
            payload BYTEA NOT NULL,
            headers TEXT NOT NULL,
            created_at TIMESTAMPTZ NOT NULL
        );
        CREATE INDEX framework_outbox_bucket_id ON framework_outbox (bucket, id);
        CREATE TABLE framework_inbox (
            inbox TEXT NOT NULL,
            message_id TEXT NOT NULL,
            received_at TIMESTAMPTZ NOT NULL,
            PRIMARY KEY (inbox, message_id)
        );
        CREATE INDEX framework_inbox_received_at ON framework_inbox (received_at);",
        sqlite: "
        CREATE TABLE framework_outbox (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            event_id BLOB NOT NULL,
            topic TEXT NOT NULL,
            key TEXT NOT NULL,
            bucket INTEGER NOT NULL,
            payload BLOB NOT NULL,
            headers TEXT NOT NULL,
            created_at TEXT NOT NULL
        );
        CREATE TABLE framework_inbox (
            inbox TEXT NOT NULL,
            message_id TEXT NOT NULL,
            received_at TEXT NOT NULL,
            PRIMARY KEY (inbox, message_id)
        );
        CREATE INDEX framework_inbox_received_at ON framework_inbox (received_at);",
    },
    Migration {
        version: 2,
        description: "idempotency keys",
        postgres: "
        CREATE TABLE framework_idempotency (
            scope TEXT NOT NULL,
            key TEXT NOT NULL,
            fingerprint TEXT NOT NULL,
            status INTEGER,
            headers TEXT,
            body BYTEA,
            locked_until TIMESTAMPTZ NOT NULL,
            expires_at TIMESTAMPTZ NOT NULL,
            PRIMARY KEY (scope, key)
        );
        CREATE INDEX framework_idempotency_expires_at ON framework_idempotency (expires_at);",
        sqlite: "
        CREATE TABLE framework_idempotency (
            scope TEXT NOT NULL,
            key TEXT NOT NULL,
            fingerprint TEXT NOT NULL,
            status INTEGER,
            headers TEXT,
            body BLOB,
            locked_until TEXT NOT NULL,
            expires_at TEXT NOT NULL,
            PRIMARY KEY (scope, key)
        );
        CREATE INDEX framework_idempotency_expires_at ON framework_idempotency (expires_at);",
    },
];

/// The version the running code needs.
fn latest() -> i64 {
    MIGRATIONS.last().map_or(0, |m| m.version)
}

/// A backend's dialect of the migrator.
pub(super) trait Dialect: Database {
    /// The SQL of `migration` for this backend.
    fn sql(migration: &Migration) -> &'static str;
    /// Run first in each migration's transaction: waits for any other replica migrating.
    const LOCK: &'static str;
    /// The same before `framework_schema` exists.
    const TABLE_LOCK: &'static str;
    /// Returns a row when `framework_schema` exists.
    const HAS_TABLE: &'static str;
}

#[cfg(feature = "postgres")]
impl Dialect for sqlx::Postgres {
    fn sql(migration: &Migration) -> &'static str {
        migration.postgres
    }
    // Any fixed key; held until the migration's transaction ends.
    const LOCK: &'static str = "SELECT pg_advisory_xact_lock(7262117)";
    const TABLE_LOCK: &'static str = Self::LOCK;
    const HAS_TABLE: &'static str =
        "SELECT CAST(1 AS BIGINT) WHERE to_regclass('framework_schema') IS NOT NULL";
}

#[cfg(feature = "sqlite")]
impl Dialect for sqlx::Sqlite {
    fn sql(migration: &Migration) -> &'static str {
        migration.sqlite
    }
    // A write that takes SQLite's database lock at once, so two processes migrate in turn.
    const LOCK: &'static str = "DELETE FROM framework_schema WHERE version < 0";
    // SQLite's `CREATE TABLE` takes the database's write lock itself.
    const TABLE_LOCK: &'static str = "SELECT 1";
    const HAS_TABLE: &'static str =
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'framework_schema'";
}

const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS framework_schema (
    version BIGINT PRIMARY KEY,
    description TEXT NOT NULL
)";

macro_rules! migrator {
    ($db:ty) => {
        impl Migrate for $db {
            async fn migrate(pool: &Pool<$db>) -> Result<(), sqlx::Error> {
                // Under the lock: replicas starting together on a new database would race to
                // create the table (PostgreSQL's `IF NOT EXISTS` is not safe against that).
                let mut tx = pool.begin().await?;
                tx.execute(sqlx::raw_sql(<$db as Dialect>::TABLE_LOCK))
                    .await?;
                tx.execute(sqlx::raw_sql(CREATE_TABLE)).await?;
                tx.commit().await?;
                for migration in MIGRATIONS {
                    let mut tx = pool.begin().await?;
                    tx.execute(sqlx::raw_sql(<$db as Dialect>::LOCK)).await?;
                    let applied: Option<(i64,)> =
                        sqlx::query_as("SELECT version FROM framework_schema WHERE version = $1")
                            .bind(migration.version)
                            .fetch_optional(&mut *tx)
                            .await?;
                    if applied.is_some() {
                        continue;
                    }
                    tx.execute(sqlx::raw_sql(<$db as Dialect>::sql(migration)))
                        .await?;
                    sqlx::query(
                        "INSERT INTO framework_schema (version, description) VALUES ($1, $2)",
                    )
                    .bind(migration.version)
                    .bind(migration.description)
                    .execute(&mut *tx)
                    .await?;
                    tx.commit().await?;
                    tracing::info!(
                        version = migration.version,
                        description = migration.description,
                        "framework migration applied"
                    );
                }
                Ok(())
            }

            async fn version(pool: &Pool<$db>) -> Result<i64, sqlx::Error> {
                let exists: Option<(i64,)> = sqlx::query_as(<$db as Dialect>::HAS_TABLE)
                    .fetch_optional(pool)
                    .await?;
                if exists.is_none() {
                    return Ok(0);
                }
                let (version,): (Option<i64>,) =
                    sqlx::query_as("SELECT MAX(version) FROM framework_schema")
                        .fetch_one(pool)
                        .await?;
                Ok(version.unwrap_or(0))
            }
        }
    };
}

/// The migrator over one backend.
pub(super) trait Migrate: Dialect {
    /// Applies the framework's pending migrations, each in a transaction of its own.
    fn migrate(pool: &Pool<Self>) -> impl Future<Output = Result<(), sqlx::Error>> + Send;
    /// The newest version applied, 0 for none.
    fn version(pool: &Pool<Self>) -> impl Future<Output = Result<i64, sqlx::Error>> + Send;
}

#[cfg(feature = "postgres")]
migrator!(sqlx::Postgres);
#[cfg(feature = "sqlite")]
migrator!(sqlx::Sqlite);

/// Applies the framework's migrations to `pool`.
pub(super) async fn migrate<DB: Migrate>(pool: &Pool<DB>) -> Result<(), BuildError> {
    DB::migrate(pool)
        .await
        .map_err(|e| format!("framework migrations failed: {e}").into())
}

/// Checks the framework's tables are at the version this build needs, before anything uses
/// them; the error says how to get there.
pub(super) async fn require<DB: Migrate>(pool: &Pool<DB>) -> Result<(), BuildError> {
    let version = DB::version(pool)
        .await
        .map_err(|e| format!("cannot read the framework's schema version: {e}"))?;
    if version < latest() {
        return Err(format!(
            "the framework's tables (outbox, inbox, idempotency keys) are at version {version}, this build needs {}: \
             run the service's `migrate` command or set DATABASE_MIGRATE=true",
            latest()
        )
        .into());
    }
    Ok(())
}
