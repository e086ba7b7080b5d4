use framework::DomainError;

#[derive(Debug, DomainError)]
pub enum ArticleError {
    #[domain(not_found)]
    NotFound,
}

fn main() {}
