//! The pool a component injects: sqlx's pool behind the database's circuit breaker
//! ([`crate::breaker`]), so that while the database is known to be down a query fails at once
//! instead of waiting out `DATABASE_ACQUIRE_TIMEOUT_MS`.
//!
//! It is used as sqlx's is: `sqlx::query(..).fetch_all(&pool)`, `pool.begin()`,
//! `pool.acquire()`. Each goes through the breaker; a connection or transaction it hands out
//! is the caller's from then on.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures_util::future::BoxFuture;
use futures_util::stream::{BoxStream, Stream};
use sqlx::pool::PoolConnection;
use sqlx::{Database, Describe, Either, Execute, Executor};

use crate::breaker::{Breaker, CircuitOpen, Permit};

/// A database pool behind its circuit breaker (named after the backend: `postgres`,
/// `sqlite`). Clones share both.
///
/// # Errors
/// Besides sqlx's own, every call fails at once with `sqlx::Error::Io` wrapping a
/// [`CircuitOpen`] while the breaker is open; a `#[domain(internal)]` variant over it answers
/// 503 with `Retry-After`, gRPC `UNAVAILABLE`.
pub struct Pool<DB: Database> {
    pool: sqlx::Pool<DB>,
    breaker: Breaker,
}

/// The PostgreSQL pool.
#[cfg(feature = "postgres")]
pub type PgPool = Pool<sqlx::Postgres>;
/// The SQLite pool.
#[cfg(feature = "sqlite")]
pub type SqlitePool = Pool<sqlx::Sqlite>;

impl<DB: Database> Clone for Pool<DB> {
    fn clone(&self) -> Self {
        Pool {
            pool: self.pool.clone(),
            breaker: self.breaker.clone(),
        }
    }
}

impl<DB: Database> std::fmt::Debug for Pool<DB> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("pool", &self.pool)
            .field("breaker", &self.breaker)
            .finish()
    }
}

/// What a call refused by the open breaker fails with.
fn refused(open: CircuitOpen) -> sqlx::Error {
    sqlx::Error::Io(std::io::Error::other(open))
}

impl<DB: Database> Pool<DB> {
    pub(crate) fn new(pool: sqlx::Pool<DB>, breaker: Breaker) -> Pool<DB> {
        Pool { pool, breaker }
    }

    /// A connection of the pool.
    ///
    /// # Errors
    /// As `sqlx::Pool::acquire` (`PoolTimedOut` after `DATABASE_ACQUIRE_TIMEOUT_MS`), or at
    /// once while the breaker is open.
    pub async fn acquire(&self) -> Result<PoolConnection<DB>, sqlx::Error> {
        guarded(&self.pool, &self.breaker, self.pool.acquire()).await
    }

    /// A transaction on a connection of the pool.
    ///
    /// # Errors
    /// As [`acquire`](Pool::acquire), or the `BEGIN` failed.
    pub async fn begin(&self) -> Result<sqlx::Transaction<'static, DB>, sqlx::Error> {
        guarded(&self.pool, &self.breaker, self.pool.begin()).await
    }

    /// The database's circuit breaker.
    pub fn breaker(&self) -> &Breaker {
        &self.breaker
    }

    /// sqlx's pool itself, past the breaker: for what this type does not offer (its size,
    /// its options). Calls through it neither wait for nor inform the breaker.
    pub fn sqlx(&self) -> &sqlx::Pool<DB> {
        &self.pool
    }
}

/// `call` on `pool` under `breaker`: refused at once while it is open, its outcome recorded.
async fn guarded<DB: Database, T>(
    pool: &sqlx::Pool<DB>,
    breaker: &Breaker,
    call: impl Future<Output = Result<T, sqlx::Error>>,
) -> Result<T, sqlx::Error> {
    let permit = breaker.admit().map_err(refused)?;
    let result = call.await;
    record(pool, permit, result.as_ref().err());
    result
}

/// Records a call's outcome, but for a pool that timed out while every connection was
/// open and busy: the database answers, the service is overloaded, and opening the breaker
/// would turn that into an outage (the call still fails as unavailable).
fn record<DB: Database>(pool: &sqlx::Pool<DB>, permit: Permit, error: Option<&sqlx::Error>) {
    let saturated = || pool.size() >= pool.options().get_max_connections() && pool.num_idle() == 0;
    match error {
        Some(sqlx::Error::PoolTimedOut) if saturated() => drop(permit),
        error => permit.finish(error.map(|e| e as _)),
    }
}

/// A result stream whose first row is the call's success (the database answered; a caller
/// may read no further), or whose first error or end, before any row, is its outcome.
struct Recorded<DB: Database, S> {
    inner: S,
    pool: sqlx::Pool<DB>,
    permit: Option<Permit>,
}

impl<DB: Database, S, T> Stream for Recorded<DB, S>
where
    S: Stream<Item = Result<T, sqlx::Error>> + Unpin,
{
    type Item = Result<T, sqlx::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let item = std::task::ready!(Pin::new(&mut self.inner).poll_next(cx));
        if let Some(permit) = self.permit.take() {
            record(
                &self.pool,
                permit,
                item.as_ref().and_then(|i| i.as_ref().err()),
            );
        }
        Poll::Ready(item)
    }
}

impl<'p, DB: Database> Executor<'p> for &'_ Pool<DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    type Database = DB;

    fn fetch_many<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxStream<'e, Result<Either<DB::QueryResult, DB::Row>, sqlx::Error>>
    where
        'p: 'e,
        E: 'q + Execute<'q, DB>,
    {
        match self.breaker.admit() {
            Err(open) => Box::pin(futures_util::stream::once(std::future::ready(Err(
                refused(open),
            )))),
            Ok(permit) => Box::pin(Recorded {
                inner: self.pool.fetch_many(query),
                pool: self.pool.clone(),
                permit: Some(permit),
            }),
        }
    }

    fn fetch_optional<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxFuture<'e, Result<Option<DB::Row>, sqlx::Error>>
    where
        'p: 'e,
        E: 'q + Execute<'q, DB>,
    {
        let (pool, breaker) = (self.pool.clone(), self.breaker.clone());
        Box::pin(async move { guarded(&pool, &breaker, pool.fetch_optional(query)).await })
    }

    fn prepare_with<'e, 'q: 'e>(
        self,
        sql: &'q str,
        parameters: &'e [DB::TypeInfo],
    ) -> BoxFuture<'e, Result<DB::Statement<'q>, sqlx::Error>>
    where
        'p: 'e,
    {
        let (pool, breaker) = (self.pool.clone(), self.breaker.clone());
        Box::pin(async move { guarded(&pool, &breaker, pool.prepare_with(sql, parameters)).await })
    }

    fn describe<'e, 'q: 'e>(self, sql: &'q str) -> BoxFuture<'e, Result<Describe<DB>, sqlx::Error>>
    where
        'p: 'e,
    {
        let (pool, breaker) = (self.pool.clone(), self.breaker.clone());
        Box::pin(async move { guarded(&pool, &breaker, pool.describe(sql)).await })
    }
}

impl<'a, DB: Database> sqlx::Acquire<'a> for &'_ Pool<DB> {
    type Database = DB;
    type Connection = PoolConnection<DB>;

    fn acquire(self) -> BoxFuture<'static, Result<PoolConnection<DB>, sqlx::Error>> {
        let pool = self.clone();
        Box::pin(async move { pool.acquire().await })
    }

    fn begin(self) -> BoxFuture<'static, Result<sqlx::Transaction<'a, DB>, sqlx::Error>> {
        let pool = self.clone();
        Box::pin(async move { pool.begin().await })
    }
}
