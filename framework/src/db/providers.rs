//! The pools as framework-provided components: registered like any `#[module]`, but built
//! only when an active component injects them.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

#[cfg(feature = "postgres")]
use sqlx::Postgres;
#[cfg(feature = "sqlite")]
use sqlx::Sqlite;
use sqlx::pool::PoolOptions;
#[cfg(feature = "postgres")]
use sqlx::postgres::PgConnectOptions;
#[cfg(feature = "sqlite")]
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode};
use sqlx::{Connection, Database, Pool};

#[cfg(feature = "postgres")]
use super::pool::PgPool;
#[cfg(feature = "sqlite")]
use super::pool::SqlitePool;

use super::DatabaseConfig;
use super::idempotency::PoolIdempotency;
#[cfg(feature = "postgres")]
use super::is_postgres;
#[cfg(feature = "sqlite")]
use super::is_sqlite;
use super::migrate::EmbeddedMigration;
use super::outbox::{OutboxRelay, Relay};
use super::schema::Migrate;
use super::transaction::PoolSource;
use super::{MigrationsRecord, run_migrations};
use crate::config::{ConfigSection, redact_url};
use crate::di::{
    BuildContext, BuildError, BuildFuture, Condition, Location, ProviderKind, ProviderRecord,
};
use crate::di::{Container, Dependency, Injectable, Instance, Key, ResolveError};
use crate::health::Probe;
use crate::transaction::{IdempotencyStore, Transactions};

macro_rules! pool_provider {
    ($pool:ty, $db:ty, $condition:ident, $hint:literal, $build:ident) => {
        impl Injectable for $pool {
            fn dependency() -> Dependency {
                Dependency::Component(Key::of::<$pool>())
            }
            fn resolve(container: &Container) -> Result<Self, ResolveError> {
                container
                    .get::<$pool>()
                    .map(|pool| (*pool).clone())
                    .ok_or(ResolveError::Missing(stringify!($pool)))
            }
        }

        inventory::submit! {
            ProviderRecord {
                name: concat!("sqlx::", stringify!($pool)),
                provides: || vec![
                    Key::of::<$pool>(),
                    Key::of::<Transactions>(),
                    Key::of::<OutboxRelay>(),
                    Key::of::<dyn IdempotencyStore>(),
                ],
                fields: Vec::new,
                condition: Some(Condition {
                    name: concat!("framework::db::", stringify!($condition)),
                    check: $condition,
                    hint: Some($hint),
                }),
                build: |ctx| -> BuildFuture<'_> {
                    Box::pin(async move {
                        let config = DatabaseConfig::load(ctx.settings())?;
                        build::<$db>(ctx, $build(&config)?, config.migrate).await
                    })
                },
                kind: ProviderKind::Framework,
                location: Location { file: file!(), line: line!() },
            }
        }
    };
}

#[cfg(feature = "postgres")]
pool_provider!(
    PgPool,
    Postgres,
    is_postgres,
    "DATABASE_URL=postgres://...",
    postgres_options
);
#[cfg(feature = "sqlite")]
pool_provider!(
    SqlitePool,
    Sqlite,
    is_sqlite,
    "DATABASE_URL=sqlite://...",
    sqlite_options
);

/// What differs between the backends.
/// How often the pool gauges are refreshed.
const POOL_SAMPLE_EVERY: Duration = Duration::from_secs(1);

trait Backend: Relay + Migrate {
    fn migrations(record: &MigrationsRecord) -> &'static [EmbeddedMigration];
}

#[cfg(feature = "postgres")]
impl Backend for Postgres {
    fn migrations(record: &MigrationsRecord) -> &'static [EmbeddedMigration] {
        record.postgres
    }
}

#[cfg(feature = "sqlite")]
impl Backend for Sqlite {
    fn migrations(record: &MigrationsRecord) -> &'static [EmbeddedMigration] {
        record.sqlite
    }
}

struct Options<DB: Database> {
    url: String,
    connect: <DB::Connection as Connection>::Options,
    pool: PoolOptions<DB>,
}

fn url(config: &DatabaseConfig) -> Result<String, BuildError> {
    Ok(config.url.clone().ok_or("DATABASE_URL is empty")?)
}

#[cfg(feature = "postgres")]
fn postgres_options(config: &DatabaseConfig) -> Result<Options<Postgres>, BuildError> {
    let url = url(config)?;
    let connect = PgConnectOptions::from_str(&url).map_err(|e| invalid_url(&url, e))?;
    Ok(Options {
        url,
        connect,
        pool: pool_options(config),
    })
}

/// The pool's size and acquire timeout, as configured.
fn pool_options<DB: Database>(config: &DatabaseConfig) -> PoolOptions<DB> {
    PoolOptions::new()
        .max_connections(config.max_connections)
        .acquire_timeout(Duration::from_millis(config.acquire_timeout_ms))
}

#[cfg(feature = "sqlite")]
fn sqlite_options(config: &DatabaseConfig) -> Result<Options<Sqlite>, BuildError> {
    let url = url(config)?;
    let connect = SqliteConnectOptions::from_str(&url)
        .map_err(|e| invalid_url(&url, e))?
        .create_if_missing(true)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(5));
    let in_memory = connect.get_filename() == std::path::Path::new(":memory:");
    let pool = if in_memory {
        // Every connection to `:memory:` is a new, empty database: keep exactly one.
        pool_options(config)
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
    } else {
        if let Some(dir) = connect
            .get_filename()
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
        {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        pool_options(config)
    };
    Ok(Options {
        url,
        connect: connect.journal_mode(SqliteJournalMode::Wal),
        pool,
    })
}

fn invalid_url(url: &str, error: sqlx::Error) -> BuildError {
    format!("invalid DATABASE_URL {}: {error}", redact_url(url)).into()
}

/// How long startup (and the `migrate` command) waits for the database to take a
/// connection, retrying while it is unavailable: one started beside the service may still be
/// coming up. A query waits only `DATABASE_ACQUIRE_TIMEOUT_MS`.
const STARTUP_CONNECT: Duration = Duration::from_secs(10);

/// A pool of `options`, once a first connection was made.
async fn connect<DB: Backend>(options: Options<DB>) -> Result<Pool<DB>, BuildError> {
    let redacted = redact_url(&options.url);
    let pool: Pool<DB> = options.pool.connect_lazy_with(options.connect);
    let deadline = tokio::time::Instant::now() + STARTUP_CONNECT;
    loop {
        match pool.acquire().await {
            Ok(_) => break,
            Err(error)
                if tokio::time::Instant::now() < deadline
                    && crate::error::transient::is_dependency_failure(&error) =>
            {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(error) => {
                return Err(
                    format!("cannot connect to the database at {redacted}: {error}").into(),
                );
            }
        }
    }
    tracing::info!(url = %redacted, "database connected");
    Ok(pool)
}

/// Connects, migrates when `migrate` (`DATABASE_MIGRATE=true`), and registers the `database`
/// health unit and the pool's close at shutdown.
async fn build<DB: Backend>(
    ctx: &BuildContext,
    options: Options<DB>,
    migrate: bool,
) -> Result<Vec<Instance>, BuildError>
where
    DB::Connection: sqlx::migrate::Migrate,
{
    let pool = connect(options).await?;
    if migrate {
        self::migrate(&pool).await?;
    }
    let breaker = crate::breaker::Breaker::new(
        DB::NAME,
        crate::breaker::BreakerConfig::load(ctx.settings())?,
    );
    let guarded = super::pool::Pool::new(pool.clone(), breaker.clone());
    // The check goes past the breaker: it says whether the database answers now.
    let checked = pool.clone();
    ctx.health().add_probed_unit("database", false, move || {
        let (pool, breaker) = (checked.clone(), breaker.clone());
        async move {
            let result = async {
                let mut conn = pool.acquire().await.map_err(|e| e.to_string())?;
                conn.ping().await.map_err(|e| e.to_string())
            }
            .await;
            Probe {
                result,
                details: Some(breaker.health_details()),
            }
        }
    });
    tokio::spawn(sample_pool(pool.clone(), DB::NAME));
    let outbox = super::OutboxConfig::load(ctx.settings())?;
    tokio::spawn(super::outbox::prune(
        pool.clone(),
        outbox.inbox_retention_hours,
    ));
    let closed = pool.clone();
    ctx.on_stop(Box::new(move || {
        Box::pin(async move {
            // The units of work have ended: what they stored after this replica's relay
            // stopped is for the other replicas'.
            super::outbox::Relay::hand_over(&closed).await;
            closed.close().await
        })
    }));
    // Woken by each commit that stored events, so the relay publishes them at once.
    let wake = super::outbox::Wake::new(outbox.workers);
    let source = PoolSource {
        pool: guarded.clone(),
        relay: wake.clone(),
    };
    let idempotency: Arc<dyn IdempotencyStore> = Arc::new(PoolIdempotency {
        pool: guarded.clone(),
    });
    Ok(vec![
        Instance::of::<dyn IdempotencyStore>(idempotency),
        Instance::of::<Transactions>(Arc::new(Transactions::new(Arc::new(source)))),
        Instance::of::<OutboxRelay>(Arc::new(OutboxRelay::new(pool, wake))),
        Instance::of::<super::pool::Pool<DB>>(Arc::new(guarded)),
    ])
}

/// Keeps `db_pool_connections{backend, state = idle | in_use}` current until the pool closes.
async fn sample_pool<DB: Database>(pool: Pool<DB>, backend: &'static str) {
    let idle = metrics::gauge!("db_pool_connections", "backend" => backend, "state" => "idle");
    let in_use = metrics::gauge!("db_pool_connections", "backend" => backend, "state" => "in_use");
    let mut every = tokio::time::interval(POOL_SAMPLE_EVERY);
    while !pool.is_closed() {
        every.tick().await;
        let idle_now = pool.num_idle();
        idle.set(idle_now as f64);
        in_use.set(pool.size().saturating_sub(idle_now as u32) as f64);
    }
}

/// Applies the framework's migrations, then the embedded ones of this backend.
async fn migrate<DB: Backend>(pool: &Pool<DB>) -> Result<(), BuildError>
where
    DB::Connection: sqlx::migrate::Migrate,
{
    super::schema::migrate(pool).await?;
    let Some(record) = super::migrate::embedded().first().copied() else {
        tracing::warn!(
            "DATABASE_MIGRATE is true but the program embeds no migrations (framework::migrations!)"
        );
        return Ok(());
    };
    let migrations = DB::migrations(record);
    run_migrations(migrations, pool)
        .await
        .map_err(|e| format!("migrations failed: {e}"))?;
    // Applied now or before: the migrator skips what the database has.
    tracing::info!(embedded = migrations.len(), "migrations up to date");
    Ok(())
}

/// The `migrate` command: connects to `DATABASE_URL`, applies the embedded migrations of its
/// backend and closes the pool.
pub(super) async fn migrate_now(config: &DatabaseConfig) -> Result<(), BuildError> {
    match config.url.as_deref().and_then(super::Backend::of_url) {
        #[cfg(feature = "postgres")]
        Some(super::Backend::Postgres) => {
            let pool = connect(postgres_options(config)?).await?;
            let migrated = migrate(&pool).await;
            pool.close().await;
            migrated
        }
        #[cfg(feature = "sqlite")]
        Some(super::Backend::Sqlite) => {
            let pool = connect(sqlite_options(config)?).await?;
            let migrated = migrate(&pool).await;
            pool.close().await;
            migrated
        }
        // `DatabaseConfig::load` refused a backend this build does not have.
        _ => Err("DATABASE_URL names no supported database; nothing to migrate".into()),
    }
}
