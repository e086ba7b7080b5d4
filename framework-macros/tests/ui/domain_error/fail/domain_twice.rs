use framework::DomainError;

#[derive(Debug, thiserror::Error, DomainError)]
pub enum ArticleError {
    #[error("article not found")]
    #[domain(not_found)]
    #[domain(code = "ARTICLE_MISSING")]
    NotFound,
}

fn main() {}
