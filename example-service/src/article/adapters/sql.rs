//! The repository once for every sqlx backend: the SQL is portable (`$N` placeholders and
//! `RETURNING` work in PostgreSQL and SQLite), and the schema differences live in the
//! migrations.

use chrono::{DateTime, Utc};
use framework::sqlx::{self, Database, Decode, Encode, Executor, IntoArguments, Pool, Type};
use uuid::Uuid;

use crate::article::activity::{Activity, ActivityRepository, Summary};
use crate::article::domain::Article;
use crate::article::error::ArticleError;
use crate::article::events::ArticleEvent;
use crate::article::repository::ArticleRepository;

/// An adapter backed by a sqlx pool.
pub trait SqlArticles: Send + Sync {
    type Db: Database;
    fn pool(&self) -> &Pool<Self::Db>;
}

type Row = (Uuid, String, String, DateTime<Utc>, DateTime<Utc>);

const COLUMNS: &str = "id, name, description, created_at, updated_at";

fn article((id, name, description, created_at, updated_at): Row) -> Article {
    Article {
        id,
        name,
        description,
        created_at,
        updated_at,
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
    DB: Database,
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
    async fn insert(&self, a: &Article) -> Result<(), ArticleError> {
        sqlx::query::<DB>("INSERT INTO articles (id, name, description, created_at, updated_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(a.id)
            .bind(a.name.clone())
            .bind(a.description.clone())
            .bind(a.created_at)
            .bind(a.updated_at)
            .execute(self.pool())
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

    async fn update(&self, a: &Article) -> Result<Option<Article>, ArticleError> {
        let sql = format!(
            "UPDATE articles SET name = $2, description = $3, updated_at = $4 WHERE id = $1 RETURNING {COLUMNS}"
        );
        let row = sqlx::query_as::<DB, Row>(&sql)
            .bind(a.id)
            .bind(a.name.clone())
            .bind(a.description.clone())
            .bind(a.updated_at)
            .fetch_optional(self.pool())
            .await
            .map_err(storage(&a.name))?;
        Ok(row.map(article))
    }

    async fn delete(&self, id: Uuid) -> Result<bool, ArticleError> {
        // `RETURNING` rather than `rows_affected`, which sqlx has no backend-generic way to read.
        let deleted =
            sqlx::query_as::<DB, (Uuid,)>("DELETE FROM articles WHERE id = $1 RETURNING id")
                .bind(id)
                .fetch_optional(self.pool())
                .await
                .map_err(ArticleError::Storage)?;
        Ok(deleted.is_some())
    }
}

#[framework::async_trait]
impl<T, DB> ActivityRepository for T
where
    T: SqlArticles<Db = DB>,
    DB: Database,
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
    async fn record(&self, event: &ArticleEvent) -> Result<(), ArticleError> {
        // Counted once per (article, time): a redelivered event changes nothing.
        let sql = "INSERT INTO article_activity (article_id, changes, last_event, last_at) VALUES ($1, 1, $2, $3) \
                   ON CONFLICT (article_id) DO UPDATE SET changes = article_activity.changes + 1, \
                   last_event = excluded.last_event, last_at = excluded.last_at \
                   WHERE article_activity.last_at < excluded.last_at";
        sqlx::query::<DB>(sql)
            .bind(event.id())
            .bind(event.name().to_owned())
            .bind(event.at().timestamp_micros())
            .execute(self.pool())
            .await
            .map_err(ArticleError::Storage)?;
        Ok(())
    }

    async fn get(&self, id: Uuid) -> Result<Option<Activity>, ArticleError> {
        let row = sqlx::query_as::<DB, (i64, String)>(
            "SELECT changes, last_event FROM article_activity WHERE article_id = $1",
        )
        .bind(id)
        .fetch_optional(self.pool())
        .await
        .map_err(ArticleError::Storage)?;
        Ok(row.map(|(changes, last_event)| Activity {
            article_id: id,
            changes,
            last_event,
        }))
    }

    async fn summarize(&self, taken_at: DateTime<Utc>) -> Result<(), ArticleError> {
        // SUM of BIGINT is NUMERIC in PostgreSQL: cast back.
        let sql = "INSERT INTO activity_summaries (taken_at, articles, changes) \
                   SELECT $1, (SELECT COUNT(*) FROM articles), \
                   (SELECT CAST(COALESCE(SUM(changes), 0) AS BIGINT) FROM article_activity) \
                   ON CONFLICT (taken_at) DO NOTHING";
        sqlx::query::<DB>(sql)
            .bind(taken_at)
            .execute(self.pool())
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
