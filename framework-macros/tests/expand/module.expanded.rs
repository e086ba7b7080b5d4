pub struct PostgresArticles {
    pool: PgPool,
}
const _: () = {
    use ::framework::__private as __framework;
    /// Builds the singleton from the components built before it, and stores it under
    /// its own type and each `provides` binding.
    #[doc(hidden)]
    fn __framework_new(
        ctx: &__framework::BuildContext,
    ) -> ::core::result::Result<
        ::std::vec::Vec<__framework::Instance>,
        __framework::BuildError,
    > {
        let component = ::std::sync::Arc::new(PostgresArticles {
            pool: <PgPool as __framework::Injectable>::resolve(ctx.container())?,
        });
        ::core::result::Result::Ok(
            ::std::vec::Vec::from([
                __framework::Instance::of::<dyn ArticleRepository>(component.clone()),
                __framework::Instance::of::<PostgresArticles>(component),
            ]),
        )
    }
    /// The factory the registry calls, in dependency order.
    #[doc(hidden)]
    fn __framework_build(
        ctx: &__framework::BuildContext,
    ) -> __framework::BuildFuture<'_> {
        __framework::ready(__framework_new(ctx))
    }
    /// The component, as the runtime collects it at startup.
    #[doc(hidden)]
    const __FRAMEWORK_RECORD: __framework::ProviderRecord = __framework::ProviderRecord {
        name: ::core::concat!(
            ::core::module_path!(), "::", ::core::stringify!(PostgresArticles)
        ),
        provides: || ::std::vec::Vec::from([
            __framework::Key::of::<PostgresArticles>(),
            __framework::Key::of::<dyn ArticleRepository>(),
        ]),
        fields: || ::std::vec::Vec::from([
            __framework::Field {
                name: "pool",
                line: ::core::line!(),
                dependency: <PgPool as __framework::Injectable>::dependency(),
            },
        ]),
        condition: ::core::option::Option::Some(__framework::Condition {
            name: "framework::db::is_postgres",
            check: framework::db::is_postgres,
            hint: ::core::option::Option::None,
        }),
        build: __framework_build,
        kind: __framework::ProviderKind::Module,
        location: __framework::Location {
            file: ::core::file!(),
            line: ::core::line!(),
        },
    };
    __framework::inventory::submit!(__FRAMEWORK_RECORD);
};
pub struct ArticleService {
    repo: Arc<dyn ArticleRepository>,
    config: Config<ArticleConfig>,
    cache: Cache,
    created: AtomicU64,
}
const _: () = {
    use ::framework::__private as __framework;
    /// Builds the singleton from the components built before it, and stores it under
    /// its own type and each `provides` binding.
    #[doc(hidden)]
    fn __framework_new(
        ctx: &__framework::BuildContext,
    ) -> ::core::result::Result<
        ::std::vec::Vec<__framework::Instance>,
        __framework::BuildError,
    > {
        let component = ::std::sync::Arc::new(ArticleService {
            repo: <Arc<
                dyn ArticleRepository,
            > as __framework::Injectable>::resolve(ctx.container())?,
            config: <Config<
                ArticleConfig,
            > as __framework::Injectable>::resolve(ctx.container())?,
            cache: <Cache as __framework::Injectable>::resolve(ctx.container())?,
            created: <AtomicU64 as ::core::default::Default>::default(),
        });
        ::core::result::Result::Ok(
            ::std::vec::Vec::from([
                __framework::Instance::of::<ArticleService>(component),
            ]),
        )
    }
    /// The factory the registry calls, in dependency order.
    #[doc(hidden)]
    fn __framework_build(
        ctx: &__framework::BuildContext,
    ) -> __framework::BuildFuture<'_> {
        __framework::ready(__framework_new(ctx))
    }
    /// The component, as the runtime collects it at startup.
    #[doc(hidden)]
    const __FRAMEWORK_RECORD: __framework::ProviderRecord = __framework::ProviderRecord {
        name: ::core::concat!(
            ::core::module_path!(), "::", ::core::stringify!(ArticleService)
        ),
        provides: || ::std::vec::Vec::from([__framework::Key::of::<ArticleService>()]),
        fields: || ::std::vec::Vec::from([
            __framework::Field {
                name: "repo",
                line: ::core::line!(),
                dependency: <Arc<
                    dyn ArticleRepository,
                > as __framework::Injectable>::dependency(),
            },
            __framework::Field {
                name: "config",
                line: ::core::line!(),
                dependency: <Config<
                    ArticleConfig,
                > as __framework::Injectable>::dependency(),
            },
            __framework::Field {
                name: "cache",
                line: ::core::line!(),
                dependency: <Cache as __framework::Injectable>::dependency(),
            },
        ]),
        condition: ::core::option::Option::None,
        build: __framework_build,
        kind: __framework::ProviderKind::Module,
        location: __framework::Location {
            file: ::core::file!(),
            line: ::core::line!(),
        },
    };
    __framework::inventory::submit!(__FRAMEWORK_RECORD);
};
