use std::future::Future;
use std::pin::Pin;

use sqlx::error::BoxDynError;
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};

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
