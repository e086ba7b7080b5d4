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

    #[error("the article change was stored but its event was not published")]
    #[domain(internal, code = "ARTICLE_EVENT_NOT_PUBLISHED")]
    Event(#[source] framework::kafka::PublishError),

    /// The broker did not confirm the event in time: it may still be stored and consumed,
    /// so this is not reported as a failure to publish.
    #[error("the article change was stored; its event was sent but not confirmed in time")]
    #[domain(timeout, code = "ARTICLE_EVENT_UNCONFIRMED")]
    EventUnconfirmed(#[source] framework::kafka::PublishError),

    #[error("article storage failed")]
    #[domain(internal, code = "ARTICLE_STORAGE")]
    Storage(#[source] framework::sqlx::Error),
}
