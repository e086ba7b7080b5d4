use framework::DomainError;

#[derive(Debug, thiserror::Error, DomainError)]
pub enum ArticleError {
    #[error("article not found")]
    #[domain(not_found)]
    NotFound,
    #[error("article deleted")]
    #[domain(not_found, code = "ARTICLE_NOT_FOUND")]
    Deleted,
}

fn main() {}
