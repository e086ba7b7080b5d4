use framework::DomainError;

#[derive(Debug, thiserror::Error, DomainError)]
pub enum StoreError<E: std::error::Error + 'static> {
    #[error("backend failure")]
    #[domain(internal)]
    Backend(#[source] E),
}

fn main() {}
