use framework::DomainError;
use uuid::Uuid;

/// Every way an article operation fails, with its kind and stable code.
#[derive(Debug, thiserror::Error, DomainError)]
pub enum ArticleError {
    #[error("article {0} not found")]
    #[domain(not_found, code = "ARTICLE_NOT_FOUND")]
    NotFound(Uuid),

    #[error("an article named {0:?} already exists")]
    #[domain(conflict, code = "ARTICLE_NAME_TAKEN")]
    NameTaken(String),

    #[error("no activity recorded for article {0}")]
    #[domain(not_found, code = "ARTICLE_ACTIVITY_NOT_FOUND")]
    NoActivity(Uuid),

    #[error("no summary has been taken yet")]
    #[domain(not_found, code = "ARTICLE_SUMMARY_NOT_FOUND")]
    NoSummary,

    #[error("article storage failed")]
    #[domain(internal, code = "ARTICLE_STORAGE")]
    Storage(#[source] framework::sqlx::Error),

    /// The unit of work's transaction could not be begun or committed: nothing was stored.
    #[error("the article change could not be stored")]
    #[domain(internal, code = "ARTICLE_TRANSACTION")]
    Transaction(#[from] framework::transaction::TxError),
}
