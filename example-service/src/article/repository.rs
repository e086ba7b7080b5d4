use chrono::{DateTime, Utc};
use framework::Tx;
use uuid::Uuid;

use super::domain::{Article, ArticleInput};
use super::error::ArticleError;

/// The storage port of the article module; the adapters implement it.
///
/// Writes run in the caller's unit of work ([`Tx`]): the delivery commits them with the
/// events the service stores beside them, or rolls both back.
#[framework::async_trait]
pub trait ArticleRepository: Send + Sync {
    /// Stores a new article; a taken name is [`ArticleError::NameTaken`].
    async fn insert(&self, tx: &Tx, article: &Article) -> Result<(), ArticleError>;
    async fn get(&self, id: Uuid) -> Result<Option<Article>, ArticleError>;
    /// A page ordered by creation time, and the total count.
    async fn list(&self, limit: u32, offset: u32) -> Result<(Vec<Article>, i64), ArticleError>;
    /// Replaces name and description and increments the version, in one statement;
    /// `updated_at` becomes `at`, or stays if it is later (it never goes back). `None` when
    /// no such article.
    async fn update(
        &self,
        tx: &Tx,
        id: Uuid,
        input: &ArticleInput,
        at: DateTime<Utc>,
    ) -> Result<Option<Article>, ArticleError>;
    /// The version the deletion is (the last one plus one); `None` when no such article.
    async fn delete(&self, tx: &Tx, id: Uuid) -> Result<Option<i64>, ArticleError>;
}
