//! Unit, tuple and struct variants; explicit codes, and default codes made of the enum name
//! without `Error` and the variant name.

use framework::{DomainError, ErrorKind};

#[derive(Debug, thiserror::Error, DomainError)]
pub enum ArticleError {
    #[error("article {0} not found")]
    #[domain(not_found)]
    NotFound(u32),
    #[error("the name {name} is taken")]
    #[domain(conflict, code = "ARTICLE_NAME_TAKEN")]
    NameTaken { name: String },
    #[error("articles are read-only")]
    #[domain(code = "READ_ONLY_2", forbidden)]
    ReadOnly,
    #[error("storage failure")]
    #[domain(internal)]
    Storage(#[source] std::io::Error),
    #[error("invalid slug")]
    #[domain(validation)]
    InvalidSlug,
}

/// An enum named `Error` keeps the whole name as its prefix.
#[derive(Debug, thiserror::Error, DomainError)]
pub enum Error {
    #[error("try later")]
    #[domain(application)]
    Busy,
}

fn check(error: &dyn DomainError, kind: ErrorKind, code: &str) {
    assert_eq!(error.kind(), kind, "{error}");
    assert_eq!(error.code(), code, "{error}");
}

fn main() {
    check(
        &ArticleError::NotFound(7),
        ErrorKind::NotFound,
        "ARTICLE_NOT_FOUND",
    );
    check(
        &ArticleError::NameTaken { name: "x".into() },
        ErrorKind::Conflict,
        "ARTICLE_NAME_TAKEN",
    );
    check(&ArticleError::ReadOnly, ErrorKind::Forbidden, "READ_ONLY_2");
    check(
        &ArticleError::Storage(std::io::Error::other("disk")),
        ErrorKind::Internal,
        "ARTICLE_STORAGE",
    );
    check(
        &ArticleError::InvalidSlug,
        ErrorKind::Validation,
        "ARTICLE_INVALID_SLUG",
    );
    check(&Error::Busy, ErrorKind::Application, "ERROR_BUSY");
}
