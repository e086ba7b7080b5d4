pub async fn create(
    svc: Inject<ArticleService>,
    Valid(Json(input)): Valid<Json<ArticleInput>>,
) -> Result<(StatusCode, Json<Article>), ArticleError> {
    Ok((StatusCode::CREATED, Json(svc.create(input).await?)))
}
const _: () = {
    use ::framework::__private as __framework;
    /// Compile-time checks only: each argument is an extractor (the last may read the
    /// body) and the return type is a response.
    #[doc(hidden)]
    #[allow(dead_code)]
    fn __framework_checks() {
        __framework::check_parts_extractor::<Inject<ArticleService>>();
        __framework::check_body_extractor::<_, Valid<Json<ArticleInput>>>();
        __framework::check_response::<
            Result<(StatusCode, Json<Article>), ArticleError>,
        >();
    }
    /// The handler as an axum method router; the runtime mounts it under `HTTP_BASE_PATH`.
    #[doc(hidden)]
    fn __framework_mount() -> __framework::axum::routing::MethodRouter<
        __framework::AppState,
    > {
        __framework::axum::routing::on(
            __framework::axum::routing::MethodFilter::POST,
            create,
        )
    }
    /// The route's part of the OpenAPI document: what each argument and the result
    /// say of it (types the framework does not describe add nothing).
    #[doc(hidden)]
    fn __framework_openapi(operation: &mut __framework::openapi::Operation) {
        use __framework::openapi::Describe as _;
        (&&&__framework::openapi::Arg::<Inject<ArticleService>>::new())
            .describe(operation);
        (&&&__framework::openapi::Arg::<Valid<Json<ArticleInput>>>::new())
            .describe(operation);
        (&&&__framework::openapi::Success::<(StatusCode, Json<Article>)>::new())
            .describe(operation);
        (&&&__framework::openapi::Errors::<ArticleError>::new()).describe(operation);
    }
    /// The route, as the runtime collects it at startup.
    #[doc(hidden)]
    const __FRAMEWORK_RECORD: __framework::RouteRecord = __framework::RouteRecord {
        method: "POST",
        path: "/articles",
        handler: ::core::concat!(
            ::core::module_path!(), "::", ::core::stringify!(create)
        ),
        mount: __framework_mount,
        dependencies: || ::std::vec::Vec::from([
            __framework::dependency_of_inject::<ArticleService>(),
        ]),
        transactional: || {
            use __framework::{OtherParam as _, TxParam as _};
            false || (&__framework::Param::<Inject<ArticleService>>::new()).is_tx()
                || (&__framework::Param::<Valid<Json<ArticleInput>>>::new()).is_tx()
        },
        idempotency: false,
        requirement: ::core::option::Option::Some(__framework::Requirement {
            scopes: &["articles:write"],
        }),
        rate_limit: ::core::option::Option::Some({
            const LIMIT: __framework::RateLimit = __framework::RateLimit::declared(
                "100/min",
            );
            LIMIT
        }),
        openapi: __framework_openapi,
        location: __framework::Location {
            file: ::core::file!(),
            line: ::core::line!(),
        },
    };
    __framework::inventory::submit!(__FRAMEWORK_RECORD);
};
