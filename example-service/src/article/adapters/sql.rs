//! The repository once for every sqlx backend: the SQL is portable (`$N` placeholders,
//! `RETURNING` and `ON CONFLICT` work in PostgreSQL and SQLite), and the schema differences
//! live in the migrations.
//!
//! Every write starts with the statement that writes, so that in SQLite the transaction takes
//! the write lock first (waiting for it under the busy timeout) rather than upgrading a read
//! lock, which fails at once when another writer got there first.

use chrono::{DateTime, Utc};
use framework::Tx;
use framework::db::{Pool, SqlBackend, SqlTx};
use framework::sqlx::{self, Decode, Encode, Executor, IntoArguments, Type};
use uuid::Uuid;

use crate::article::activity::{Activity, ActivityRepository, Summary};
use crate::article::domain::{Article, ArticleInput};
use crate::article::error::ArticleError;
use crate::article::events::ArticleEvent;
use crate::article::repository::ArticleRepository;

/// An adapter backed by the framework's pool (sqlx's, behind the database's circuit breaker).
pub trait SqlArticles: Send + Sync {
    type Db: SqlBackend;
    fn pool(&self) -> &Pool<Self::Db>;
}

type Row = (Uuid, String, String, DateTime<Utc>, DateTime<Utc>, i64);

const COLUMNS: &str = "id, name, description, created_at, updated_at, version";

fn article((id, name, description, created_at, updated_at, version): Row) -> Article {
    Article {
        id,
        name,
        description,
        created_at,
        updated_at,
        version,
    }
}

fn storage(name: &str) -> impl FnOnce(sqlx::Error) -> ArticleError + '_ {
    move |error| match error.as_database_error() {
        Some(db) if db.is_unique_violation() => ArticleError::NameTaken(name.to_owned()),
        _ => ArticleError::Storage(error),
    }
}

#[framework::async_trait]
impl<T, DB> ArticleRepository for T
where
    T: SqlArticles<Db = DB>,
    DB: SqlBackend,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> Uuid: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> String: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> DateTime<Utc>: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'r> Row: sqlx::FromRow<'r, DB::Row>,
    for<'r> (i64,): sqlx::FromRow<'r, DB::Row>,
    for<'r> (Uuid,): sqlx::FromRow<'r, DB::Row>,
    usize: sqlx::ColumnIndex<DB::Row>,
{
    async fn insert(&self, tx: &Tx, a: &Article) -> Result<(), ArticleError> {
        let mut conn = tx.connection::<DB>().await?;
        sqlx::query::<DB>("INSERT INTO articles (id, name, description, created_at, updated_at, version) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(a.id)
            .bind(a.name.clone())
            .bind(a.description.clone())
            .bind(a.created_at)
            .bind(a.updated_at)
            .bind(a.version)
            .execute(&mut *conn)
            .await
            .map_err(storage(&a.name))?;
        Ok(())
    }

    async fn get(&self, id: Uuid) -> Result<Option<Article>, ArticleError> {
        let sql = format!("SELECT {COLUMNS} FROM articles WHERE id = $1");
        let row = sqlx::query_as::<DB, Row>(&sql)
            .bind(id)
            .fetch_optional(self.pool())
            .await
            .map_err(ArticleError::Storage)?;
        Ok(row.map(article))
    }

    async fn list(&self, limit: u32, offset: u32) -> Result<(Vec<Article>, i64), ArticleError> {
        let sql =
            format!("SELECT {COLUMNS} FROM articles ORDER BY created_at, id LIMIT $1 OFFSET $2");
        let rows = sqlx::query_as::<DB, Row>(&sql)
            .bind(i64::from(limit))
            .bind(i64::from(offset))
            .fetch_all(self.pool())
            .await
            .map_err(ArticleError::Storage)?;
        let (total,) = sqlx::query_as::<DB, (i64,)>("SELECT COUNT(*) FROM articles")
            .fetch_one(self.pool())
            .await
            .map_err(ArticleError::Storage)?;
        Ok((rows.into_iter().map(article).collect(), total))
    }

    async fn update(
        &self,
        tx: &Tx,
        id: Uuid,
        input: &ArticleInput,
        at: DateTime<Utc>,
    ) -> Result<Option<Article>, ArticleError> {
        // The version and the latest `updated_at` are taken from the row as this statement
        // finds it, after any concurrent update of it committed: concurrent writes cannot
        // reuse a version or move `updated_at` back. In SQLite timestamps are RFC 3339 text
        // with a `+00:00` offset, which compares as the times do.
        let sql = format!(
            "UPDATE articles SET name = $2, description = $3, \
             updated_at = CASE WHEN updated_at > $4 THEN updated_at ELSE $4 END, \
             version = version + 1 WHERE id = $1 RETURNING {COLUMNS}"
        );
        let mut conn = tx.connection::<DB>().await?;
        let row = sqlx::query_as::<DB, Row>(&sql)
            .bind(id)
            .bind(input.name.clone())
            .bind(input.description.clone())
            .bind(at)
            .fetch_optional(&mut *conn)
            .await
            .map_err(storage(&input.name))?;
        Ok(row.map(article))
    }

    async fn delete(&self, tx: &Tx, id: Uuid) -> Result<Option<i64>, ArticleError> {
        let mut conn = tx.connection::<DB>().await?;
        let deleted = sqlx::query_as::<DB, (i64,)>(
            "DELETE FROM articles WHERE id = $1 RETURNING version + 1",
        )
        .bind(id)
        .fetch_optional(&mut *conn)
        .await
        .map_err(ArticleError::Storage)?;
        Ok(deleted.map(|(version,)| version))
    }
}

#[framework::async_trait]
impl<T, DB> ActivityRepository for T
where
    T: SqlArticles<Db = DB>,
    DB: SqlBackend,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> Uuid: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> String: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> DateTime<Utc>: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'r> Row: sqlx::FromRow<'r, DB::Row>,
    for<'r> (i64,): sqlx::FromRow<'r, DB::Row>,
    for<'r> (Uuid,): sqlx::FromRow<'r, DB::Row>,
    usize: sqlx::ColumnIndex<DB::Row>,
{
    async fn record(&self, tx: &Tx, event: &ArticleEvent) -> Result<(), ArticleError> {
        // Counted once per (article, version), in whatever order the events come: a
        // redelivered event changes nothing, and an older one is counted but does not replace
        // the last event. (The consumer's inbox already skips a redelivered event; this also
        // holds for the same change published twice, under two event ids.)
        let mut tx = tx.connection::<DB>().await?;
        let new = sqlx::query_as::<DB, (i64,)>(
            "INSERT INTO article_changes (article_id, version) VALUES ($1, $2) \
             ON CONFLICT DO NOTHING RETURNING version",
        )
        .bind(event.id())
        .bind(event.version())
        .fetch_optional(&mut *tx)
        .await
        .map_err(ArticleError::Storage)?;
        if new.is_none() {
            return Ok(());
        }
        let sql = "INSERT INTO article_activity (article_id, changes, last_event, last_version) \
                   VALUES ($1, 1, $2, $3) \
                   ON CONFLICT (article_id) DO UPDATE SET changes = article_activity.changes + 1, \
                   last_event = CASE WHEN excluded.last_version > article_activity.last_version \
                   THEN excluded.last_event ELSE article_activity.last_event END, \
                   last_version = CASE WHEN excluded.last_version > article_activity.last_version \
                   THEN excluded.last_version ELSE article_activity.last_version END";
        sqlx::query::<DB>(sql)
            .bind(event.id())
            .bind(event.name().to_owned())
            .bind(event.version())
            .execute(&mut *tx)
            .await
            .map_err(ArticleError::Storage)?;
        Ok(())
    }

    async fn get(&self, id: Uuid) -> Result<Option<Activity>, ArticleError> {
        let row = sqlx::query_as::<DB, (i64, String, i64)>(
            "SELECT changes, last_event, last_version FROM article_activity WHERE article_id = $1",
        )
        .bind(id)
        .fetch_optional(self.pool())
        .await
        .map_err(ArticleError::Storage)?;
        Ok(row.map(|(changes, last_event, last_version)| Activity {
            article_id: id,
            changes,
            last_event,
            last_version,
        }))
    }

    async fn summarize(&self, tx: &Tx, taken_at: DateTime<Utc>) -> Result<(), ArticleError> {
        // SUM of BIGINT is NUMERIC in PostgreSQL: cast back.
        let sql = "INSERT INTO activity_summaries (taken_at, articles, changes) \
                   SELECT $1, (SELECT COUNT(*) FROM articles), \
                   (SELECT CAST(COALESCE(SUM(changes), 0) AS BIGINT) FROM article_activity) \
                   ON CONFLICT (taken_at) DO NOTHING";
        // In the run's transaction, so that a run abandoned at its timeout (while the
        // statement waits for a lock, say) stores nothing afterwards.
        let mut conn = tx.connection::<DB>().await?;
        sqlx::query::<DB>(sql)
            .bind(taken_at)
            .execute(&mut *conn)
            .await
            .map_err(ArticleError::Storage)?;
        Ok(())
    }

    async fn latest_summary(&self) -> Result<Option<Summary>, ArticleError> {
        let latest = sqlx::query_as::<DB, (DateTime<Utc>, i64, i64)>(
            "SELECT taken_at, articles, changes FROM activity_summaries \
             ORDER BY taken_at DESC LIMIT 1",
        )
        .fetch_optional(self.pool())
        .await
        .map_err(ArticleError::Storage)?;
        let (runs,) = sqlx::query_as::<DB, (i64,)>("SELECT COUNT(*) FROM activity_summaries")
            .fetch_one(self.pool())
            .await
            .map_err(ArticleError::Storage)?;
        Ok(latest.map(|(taken_at, articles, changes)| Summary {
            taken_at,
            articles,
            changes,
            runs,
        }))
    }
}
