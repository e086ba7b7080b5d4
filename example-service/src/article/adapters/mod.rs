//! The SQL adapters of [`ArticleRepository`](super::repository::ArticleRepository): one per
//! backend, picked at startup by the scheme of `DATABASE_URL`.

mod postgres;
mod sql;
mod sqlite;
