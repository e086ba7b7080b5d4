use framework::DomainError;

#[derive(Debug, thiserror::Error, DomainError)]
pub enum ArticleError {
    #[error("article not found")]
    #[domain(missing, code = "ARTICLE_NOT_FOUND")]
    NotFound,
}

fn main() {}
