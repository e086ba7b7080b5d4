use framework::db::PgPool;
use framework::module;
use framework::sqlx::Postgres;

use super::sql::SqlArticles;
use crate::article::activity::ActivityRepository;
use crate::article::repository::ArticleRepository;

/// Articles in PostgreSQL (native `uuid` and `timestamptz`).
#[module(
    provides = dyn ArticleRepository,
    provides = dyn ActivityRepository,
    when = framework::db::is_postgres
)]
pub struct PostgresArticles {
    pool: PgPool,
}

impl SqlArticles for PostgresArticles {
    type Db = Postgres;
    fn pool(&self) -> &PgPool {
        &self.pool
    }
}
