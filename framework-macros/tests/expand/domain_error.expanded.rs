#[derive(Debug, thiserror::Error, DomainError)]
pub enum ArticleError {
    #[error("article {0} not found")]
    #[domain(not_found, code = "ARTICLE_NOT_FOUND")]
    NotFound(Uuid),
    #[error("article storage failed")]
    #[domain(internal, code = "ARTICLE_STORAGE")]
    Storage(#[source] sqlx::Error),
}
const _: () = {
    use ::framework::__private as __framework;
    #[automatically_derived]
    impl __framework::DomainError for ArticleError {
        fn kind(&self) -> __framework::ErrorKind {
            let declared = match self {
                ArticleError::NotFound(..) => __framework::ErrorKind::NotFound,
                ArticleError::Storage(..) => __framework::ErrorKind::Internal,
            };
            __framework::classified(self, declared)
        }
        fn code(&self) -> &'static str {
            match self {
                ArticleError::NotFound(..) => "ARTICLE_NOT_FOUND",
                ArticleError::Storage(..) => "ARTICLE_STORAGE",
            }
        }
        fn domain(&self) -> &'static str {
            ::core::env!("CARGO_PKG_NAME")
        }
        fn catalog() -> &'static [(&'static str, __framework::ErrorKind)] {
            &[
                ("ARTICLE_NOT_FOUND", __framework::ErrorKind::NotFound),
                ("ARTICLE_STORAGE", __framework::ErrorKind::Internal),
            ]
        }
    }
    #[automatically_derived]
    impl ::core::convert::From<ArticleError> for __framework::tonic::Status {
        fn from(error: ArticleError) -> Self {
            __framework::status_from_domain_error(&error)
        }
    }
    #[automatically_derived]
    impl __framework::axum::response::IntoResponse for ArticleError {
        fn into_response(self) -> __framework::axum::response::Response {
            __framework::domain_error_response(&self)
        }
    }
    /// The code of `NotFound`, as the runtime collects it at startup.
    #[doc(hidden)]
    const __FRAMEWORK_CODE_0: __framework::ErrorCodeRecord = __framework::ErrorCodeRecord {
        code: "ARTICLE_NOT_FOUND",
        kind: __framework::ErrorKind::NotFound,
        error_type: ::core::concat!(
            ::core::module_path!(), "::", ::core::stringify!(ArticleError)
        ),
        variant: "NotFound",
        location: __framework::Location {
            file: ::core::file!(),
            line: ::core::line!(),
        },
    };
    __framework::inventory::submit!(__FRAMEWORK_CODE_0);
    /// The code of `Storage`, as the runtime collects it at startup.
    #[doc(hidden)]
    const __FRAMEWORK_CODE_1: __framework::ErrorCodeRecord = __framework::ErrorCodeRecord {
        code: "ARTICLE_STORAGE",
        kind: __framework::ErrorKind::Internal,
        error_type: ::core::concat!(
            ::core::module_path!(), "::", ::core::stringify!(ArticleError)
        ),
        variant: "Storage",
        location: __framework::Location {
            file: ::core::file!(),
            line: ::core::line!(),
        },
    };
    __framework::inventory::submit!(__FRAMEWORK_CODE_1);
};
