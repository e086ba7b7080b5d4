use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::domain::{Article, ArticleInput};
use super::error::ArticleError;

/// The storage port of the article module; the adapters implement it.
///
/// Writes return a [`Pending`] change: done in a transaction, not yet committed. The service
/// commits it; a caller dropped before that (a request that timed out, a client gone) rolls
/// it back, so nothing it gave up on is stored.
#[framework::async_trait]
pub trait ArticleRepository: Send + Sync {
    /// Stores a new article; a taken name is [`ArticleError::NameTaken`].
    async fn insert(&self, article: &Article) -> Result<Pending<()>, ArticleError>;
    async fn get(&self, id: Uuid) -> Result<Option<Article>, ArticleError>;
    /// A page ordered by creation time, and the total count.
    async fn list(&self, limit: u32, offset: u32) -> Result<(Vec<Article>, i64), ArticleError>;
    /// Replaces name and description and increments the version, in one statement;
    /// `updated_at` becomes `at`, or stays if it is later (it never goes back). `None` when
    /// no such article.
    async fn update(
        &self,
        id: Uuid,
        input: &ArticleInput,
        at: DateTime<Utc>,
    ) -> Result<Option<Pending<Article>>, ArticleError>;
    /// The version the deletion is (the last one plus one); `None` when no such article.
    async fn delete(&self, id: Uuid) -> Result<Option<Pending<i64>>, ArticleError>;
}

/// A change made in a transaction that is still open: [`Pending::commit`] makes it durable,
/// dropping it rolls it back.
pub struct Pending<T> {
    /// What the change produced (the updated article, say), valid once committed.
    pub value: T,
    transaction: Box<dyn Commit>,
}

impl<T> Pending<T> {
    pub fn new(value: T, transaction: impl Commit + 'static) -> Pending<T> {
        Pending {
            value,
            transaction: Box::new(transaction),
        }
    }

    /// Commits the change and returns what it produced.
    pub async fn commit(self) -> Result<T, ArticleError> {
        self.transaction.commit().await?;
        Ok(self.value)
    }
}

/// An open transaction of some backend.
#[framework::async_trait]
pub trait Commit: Send {
    async fn commit(self: Box<Self>) -> Result<(), ArticleError>;
}
