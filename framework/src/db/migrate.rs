use std::future::Future;
use std::pin::Pin;

use sqlx::error::BoxDynError;
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};

use crate::di::Location;

/// The migrations embedded by `framework::migrations!`.
pub struct MigrationsRecord {
    /// Migrations for PostgreSQL.
    pub postgres: &'static [EmbeddedMigration],
    /// Migrations for SQLite.
    pub sqlite: &'static [EmbeddedMigration],
    /// Where they were embedded.
    pub location: Location,
}

inventory::collect!(MigrationsRecord);

/// Every `framework::migrations!` of the program (the wiring check allows one), in order.
pub(crate) fn embedded() -> Vec<&'static MigrationsRecord> {
    let mut records: Vec<_> = inventory::iter::<MigrationsRecord>.into_iter().collect();
    records.sort_by_key(|m| m.location);
    records
}

/// One migration embedded at compile time by `framework::migrations!`.
#[derive(Debug)]
pub struct EmbeddedMigration {
    /// The version: the file name's leading number.
    pub version: i64,
    /// The rest of the file name.
    pub description: &'static str,
    /// The SQL.
    pub sql: &'static str,
}

#[derive(Debug)]
struct Embedded(&'static [EmbeddedMigration]);

impl<'s> MigrationSource<'s> for Embedded {
    fn resolve(
        self,
    ) -> Pin<Box<dyn Future<Output = Result<Vec<Migration>, BoxDynError>> + Send + 's>> {
        Box::pin(async move {
            Ok(self
                .0
                .iter()
                .map(|m| {
                    Migration::new(
                        m.version,
                        m.description.into(),
                        MigrationType::Simple,
                        m.sql.into(),
                        false,
                    )
                })
                .collect())
        })
    }
}

/// Applies the pending `migrations` to the database behind `executor`.
pub async fn run_migrations<'a, A>(
    migrations: &'static [EmbeddedMigration],
    executor: A,
) -> Result<(), sqlx::migrate::MigrateError>
where
    A: sqlx::Acquire<'a>,
    <A::Connection as std::ops::Deref>::Target: sqlx::migrate::Migrate,
{
    let migrator = Migrator::new(Embedded(migrations)).await?;
    migrator.run(executor).await
}
