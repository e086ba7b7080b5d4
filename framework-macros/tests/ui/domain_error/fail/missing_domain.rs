use framework::DomainError;

#[derive(Debug, thiserror::Error, DomainError)]
pub enum ArticleError {
    #[error("article not found")]
    #[domain(not_found)]
    NotFound,
    #[error("the name is taken")]
    NameTaken,
}

fn main() {}
