use framework::DomainError;

#[derive(Debug, thiserror::Error, DomainError)]
pub enum NoError {}

fn main() {}
