#[derive(Debug, thiserror::Error, DomainError)]
pub enum ArticleError {
    #[error("article {0} not found")]
    #[domain(not_found, code = "ARTICLE_NOT_FOUND")]
    NotFound(Uuid),

    #[error("article storage failed")]
    #[domain(internal, code = "ARTICLE_STORAGE")]
    Storage(#[source] sqlx::Error),
}
