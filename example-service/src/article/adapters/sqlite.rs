use framework::db::SqlitePool;
use framework::module;
use framework::sqlx::Sqlite;

use super::sql::SqlArticles;
use crate::article::activity::ActivityRepository;
use crate::article::repository::ArticleRepository;

/// Articles in SQLite: the embedded default.
#[module(
    provides = dyn ArticleRepository,
    provides = dyn ActivityRepository,
    when = framework::db::is_sqlite
)]
pub struct SqliteArticles {
    pool: SqlitePool,
}

impl SqlArticles for SqliteArticles {
    type Db = Sqlite;
    fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}
