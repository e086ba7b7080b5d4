//! A module and a domain error need no plugin.
use framework::{DomainError, ErrorKind};

#[derive(Debug, thiserror::Error, framework::DomainError)]
pub enum ArticleError {
    #[error("article not found")]
    #[domain(not_found, code = "ARTICLE_NOT_FOUND")]
    NotFound,
}

#[framework::module]
pub struct Clock;

fn main() {
    assert_eq!(ArticleError::NotFound.kind(), ErrorKind::NotFound);
    assert_eq!(ArticleError::NotFound.code(), "ARTICLE_NOT_FOUND");
}
