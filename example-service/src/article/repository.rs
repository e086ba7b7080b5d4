use uuid::Uuid;

use super::domain::Article;
use super::error::ArticleError;

/// The storage port of the article module; the adapters implement it.
#[framework::async_trait]
pub trait ArticleRepository: Send + Sync {
    /// Stores a new article; a taken name is [`ArticleError::NameTaken`].
    async fn insert(&self, article: &Article) -> Result<(), ArticleError>;
    async fn get(&self, id: Uuid) -> Result<Option<Article>, ArticleError>;
    /// A page ordered by creation time, and the total count.
    async fn list(&self, limit: u32, offset: u32) -> Result<(Vec<Article>, i64), ArticleError>;
    /// Replaces name and description; `None` when no such article.
    async fn update(&self, article: &Article) -> Result<Option<Article>, ArticleError>;
    /// `false` when no such article.
    async fn delete(&self, id: Uuid) -> Result<bool, ArticleError>;
}
