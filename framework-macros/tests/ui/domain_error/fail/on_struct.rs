use framework::DomainError;

#[derive(Debug, thiserror::Error, DomainError)]
#[error("not found")]
pub struct NotFound;

fn main() {}
