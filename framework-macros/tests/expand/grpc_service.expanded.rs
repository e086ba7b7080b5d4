#[::framework::__private::async_trait]
impl article_service_server::ArticleService for ArticleGrpc {
    async fn get_article(
        &self,
        request: Request<pb::GetArticleRequest>,
    ) -> Result<Response<pb::Article>, Status> {
        let id = parse_id(&request.into_inner().id)?;
        Ok(Response::new(self.articles.get(id).await?.into()))
    }
}
const _: () = {
    use ::framework::__private as __framework;
    /// Adds the tonic server of the DI-built component to the gRPC routes.
    #[doc(hidden)]
    fn __framework_mount(
        container: &__framework::Container,
        options: &__framework::MountOptions,
        routes: &mut __framework::tonic::service::RoutesBuilder,
    ) -> ::core::result::Result<(), __framework::ResolveError> {
        let component = container
            .get::<ArticleGrpc>()
            .ok_or(__framework::ResolveError::Missing(::core::stringify!(ArticleGrpc)))?;
        routes
            .add_service(
                <article_service_server::ArticleServiceServer<
                    ArticleGrpc,
                >>::from_arc(component)
                    .max_decoding_message_size(options.max_message_bytes)
                    .max_encoding_message_size(options.max_message_bytes)
                    .accept_compressed(options.compression)
                    .send_compressed(options.compression),
            );
        ::core::result::Result::Ok(())
    }
    /// The service, as the runtime collects it at startup.
    #[doc(hidden)]
    const __FRAMEWORK_RECORD: __framework::GrpcServiceRecord = __framework::GrpcServiceRecord {
        service: <article_service_server::ArticleServiceServer<
            ArticleGrpc,
        > as __framework::tonic::server::NamedService>::NAME,
        implementation: ::core::concat!(
            ::core::module_path!(), "::", ::core::stringify!(ArticleGrpc)
        ),
        methods: &[
            __framework::GrpcMethod {
                name: "get_article",
                requirement: ::core::option::Option::None,
                rate_limit: ::core::option::Option::Some({
                    const LIMIT: __framework::RateLimit = __framework::RateLimit::declared(
                        "${ARTICLES_RATE_LIMIT}",
                    );
                    LIMIT
                }),
            },
        ],
        requirement: ::core::option::Option::Some(__framework::Requirement {
            scopes: &[],
        }),
        rate_limit: ::core::option::Option::Some({
            const LIMIT: __framework::RateLimit = __framework::RateLimit::declared(
                "${ARTICLES_RATE_LIMIT}",
            );
            LIMIT
        }),
        dependencies: || ::std::vec::Vec::from([
            __framework::Dependency::Component(__framework::Key::of::<ArticleGrpc>()),
        ]),
        mount: __framework_mount,
        location: __framework::Location {
            file: ::core::file!(),
            line: ::core::line!(),
        },
    };
    __framework::inventory::submit!(__FRAMEWORK_RECORD);
};
