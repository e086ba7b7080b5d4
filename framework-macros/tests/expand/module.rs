// A port bound to its adapter, chosen by config, and a service injected by type.
#[module(provides = dyn ArticleRepository, when = framework::db::is_postgres)]
pub struct PostgresArticles {
    pool: PgPool,
}

#[module]
pub struct ArticleService {
    repo: Arc<dyn ArticleRepository>,
    config: Config<ArticleConfig>,
    cache: Cache,
    #[state]
    created: AtomicU64,
}
