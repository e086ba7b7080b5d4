//! The core's [`Transaction`] on sqlx, for PostgreSQL and SQLite: the unit of work's
//! statements, its outbox rows and its inbox claims, and typed access for repositories.

use std::any::Any;
use std::future::Future;

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use sqlx::Database;

use crate::transaction::{
    OutboxEvent, StoredResponse, Transaction, TransactionSource, Tx, TxError, TxGuard,
};

/// A backend the unit of work runs on: `sqlx::Postgres` or `sqlx::Sqlite` (each with its
/// feature).
pub trait SqlBackend: Database + sealed::Ops {}

pub(super) mod sealed {
    use super::*;

    /// The framework's statements, in each backend's dialect.
    pub trait Ops: Database {
        /// Stores `event` in the outbox; with `notify`, also `NOTIFY framework_outbox`.
        fn enqueue<'a>(
            conn: &'a mut Self::Connection,
            event: &'a OutboxEvent,
            notify: bool,
        ) -> BoxFuture<'a, Result<(), sqlx::Error>>;

        /// Inserts the inbox row; whether it was new.
        fn claim<'a>(
            conn: &'a mut Self::Connection,
            inbox: &'a str,
            id: &'a str,
        ) -> BoxFuture<'a, Result<bool, sqlx::Error>>;

        /// Runs one of the framework's statements.
        fn run<'a>(
            conn: &'a mut Self::Connection,
            statement: Statement<'a>,
        ) -> BoxFuture<'a, Result<Outcome, sqlx::Error>>;
    }
}

/// The outbox's bucket of `key`: events of one key share a bucket, which one relay at a time
/// publishes, in order (FNV-1a, so every replica and version agrees).
pub(super) fn bucket(key: &str) -> i32 {
    let hash = key.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    });
    (hash % super::outbox::BUCKETS as u64) as i32
}

/// The outbox row's `headers` column: a JSON array of `[name, value]` pairs.
pub(super) fn encode_headers(event: &OutboxEvent) -> String {
    serde_json::to_string(&event.headers).unwrap_or_else(|_| "[]".to_owned())
}

macro_rules! ops {
    ($db:ty, $enqueue:expr) => {
        impl sealed::Ops for $db {
            fn enqueue<'a>(
                conn: &'a mut Self::Connection,
                event: &'a OutboxEvent,
                notify: bool,
            ) -> BoxFuture<'a, Result<(), sqlx::Error>> {
                Box::pin(async move {
                    let (notifying, plain): (&str, &str) = $enqueue;
                    sqlx::query(if notify { notifying } else { plain })
                    .bind(event.id)
                    .bind(&event.topic)
                    .bind(&event.key)
                    .bind(bucket(&event.key))
                    .bind(&event.payload)
                    .bind(encode_headers(event))
                    .bind(Utc::now())
                    .execute(&mut *conn)
                    .await?;
                    Ok(())
                })
            }

            fn claim<'a>(
                conn: &'a mut Self::Connection,
                inbox: &'a str,
                id: &'a str,
            ) -> BoxFuture<'a, Result<bool, sqlx::Error>> {
                Box::pin(async move {
                    let new: Option<(String,)> = sqlx::query_as(
                        "INSERT INTO framework_inbox (inbox, message_id, received_at) \
                         VALUES ($1, $2, $3) ON CONFLICT DO NOTHING RETURNING inbox",
                    )
                    .bind(inbox)
                    .bind(id)
                    .bind(Utc::now())
                    .fetch_optional(&mut *conn)
                    .await?;
                    Ok(new.is_some())
                })
            }

            fn run<'a>(
                conn: &'a mut Self::Connection,
                statement: Statement<'a>,
            ) -> BoxFuture<'a, Result<Outcome, sqlx::Error>> {
                Box::pin(async move {
                    use Outcome::{Changed, Found};
                    Ok(match statement {
                        Statement::Insert { scope, key, fingerprint, locked_until, expires_at } => {
                            let done = sqlx::query(
                                "INSERT INTO framework_idempotency \
                                 (scope, key, fingerprint, locked_until, expires_at) \
                                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                            )
                            .bind(scope)
                            .bind(key)
                            .bind(fingerprint)
                            .bind(locked_until)
                            .bind(expires_at)
                            .execute(&mut *conn)
                            .await?;
                            Changed(done.rows_affected() == 1)
                        }
                        Statement::Find { scope, key } => Found(
                            sqlx::query_as(
                                "SELECT fingerprint, status, headers, body, locked_until, expires_at \
                                 FROM framework_idempotency WHERE scope = $1 AND key = $2",
                            )
                            .bind(scope)
                            .bind(key)
                            .fetch_optional(&mut *conn)
                            .await?,
                        ),
                        Statement::DeleteExpired { scope, key, expires_at } => {
                            let done = sqlx::query(
                                "DELETE FROM framework_idempotency \
                                 WHERE scope = $1 AND key = $2 AND expires_at = $3",
                            )
                            .bind(scope)
                            .bind(key)
                            .bind(expires_at)
                            .execute(&mut *conn)
                            .await?;
                            Changed(done.rows_affected() == 1)
                        }
                        Statement::TakeOver { scope, key, was_locked_until, locked_until } => {
                            let done = sqlx::query(
                                "UPDATE framework_idempotency SET locked_until = $4 \
                                 WHERE scope = $1 AND key = $2 AND status IS NULL \
                                 AND locked_until = $3",
                            )
                            .bind(scope)
                            .bind(key)
                            .bind(was_locked_until)
                            .bind(locked_until)
                            .execute(&mut *conn)
                            .await?;
                            Changed(done.rows_affected() == 1)
                        }
                        Statement::Complete { scope, key, response } => {
                            let headers = serde_json::to_string(&response.headers)
                                .unwrap_or_else(|_| "[]".to_owned());
                            let done = sqlx::query(
                                "UPDATE framework_idempotency \
                                 SET status = $3, headers = $4, body = $5 \
                                 WHERE scope = $1 AND key = $2",
                            )
                            .bind(scope)
                            .bind(key)
                            .bind(i32::from(response.status))
                            .bind(headers)
                            .bind(&response.body)
                            .execute(&mut *conn)
                            .await?;
                            Changed(done.rows_affected() == 1)
                        }
                        Statement::Release { scope, key } => {
                            let done = sqlx::query(
                                "DELETE FROM framework_idempotency \
                                 WHERE scope = $1 AND key = $2 AND status IS NULL",
                            )
                            .bind(scope)
                            .bind(key)
                            .execute(&mut *conn)
                            .await?;
                            Changed(done.rows_affected() == 1)
                        }
                        Statement::PruneIdempotency { before } => {
                            let done = sqlx::query(
                                "DELETE FROM framework_idempotency WHERE expires_at < $1",
                            )
                            .bind(before)
                            .execute(&mut *conn)
                            .await?;
                            Changed(done.rows_affected() > 0)
                        }
                        Statement::PruneInbox { before } => {
                            let done = sqlx::query(
                                "DELETE FROM framework_inbox WHERE received_at < $1",
                            )
                            .bind(before)
                            .execute(&mut *conn)
                            .await?;
                            Changed(done.rows_affected() > 0)
                        }
                    })
                })
            }
        }

        impl SqlBackend for $db {}
    };
}

/// The outbox row's insert.
const ENQUEUE: &str = "INSERT INTO framework_outbox \
     (event_id, topic, key, bucket, payload, headers, created_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7)";

/// The same, with a `NOTIFY framework_outbox` in the same round trip, for a transaction's first
/// event where this replica runs no relay: delivered at commit to every replica's relay
/// listening.
#[cfg(feature = "postgres")]
const ENQUEUE_NOTIFYING: &str = "INSERT INTO framework_outbox \
     (event_id, topic, key, bucket, payload, headers, created_at) \
     SELECT $1, $2, $3, $4, $5, $6, $7 FROM (SELECT pg_notify('framework_outbox', '')) AS notified";

#[cfg(feature = "postgres")]
ops!(sqlx::Postgres, (ENQUEUE_NOTIFYING, ENQUEUE));
// SQLite has no notifications: its relay, the database's only one, is woken in process.
#[cfg(feature = "sqlite")]
ops!(sqlx::Sqlite, (ENQUEUE, ENQUEUE));

/// A statement of the idempotency store or of the housekeeping (each backend's, written once
/// in `ops!`).
pub enum Statement<'a> {
    Insert {
        scope: &'a str,
        key: &'a str,
        fingerprint: &'a str,
        locked_until: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    },
    Find {
        scope: &'a str,
        key: &'a str,
    },
    /// Deletes the row if it still expires at `expires_at` (as read).
    DeleteExpired {
        scope: &'a str,
        key: &'a str,
        expires_at: DateTime<Utc>,
    },
    /// Extends a running claim whose lease ran out, if nobody did first.
    TakeOver {
        scope: &'a str,
        key: &'a str,
        was_locked_until: DateTime<Utc>,
        locked_until: DateTime<Utc>,
    },
    Complete {
        scope: &'a str,
        key: &'a str,
        response: &'a StoredResponse,
    },
    Release {
        scope: &'a str,
        key: &'a str,
    },
    /// Deletes every key expired before `before`.
    PruneIdempotency {
        before: DateTime<Utc>,
    },
    /// Deletes the inbox's message ids received before `before`.
    PruneInbox {
        before: DateTime<Utc>,
    },
}

/// A stored key: fingerprint, status (none while running), headers, body, lease end, expiry.
pub type IdempotencyRow = (
    String,
    Option<i32>,
    Option<String>,
    Option<Vec<u8>>,
    DateTime<Utc>,
    DateTime<Utc>,
);

/// What a [`Statement`] did.
pub enum Outcome {
    /// Whether it changed a row.
    Changed(bool),
    Found(Option<IdempotencyRow>),
}

/// An open sqlx transaction as the core's [`Transaction`].
pub struct SqlTransaction<DB: Database> {
    tx: sqlx::Transaction<'static, DB>,
    /// The buckets of the events it stored (bit `b` for bucket `b`), whose relay workers its
    /// commit wakes.
    enqueued: u32,
    relay: super::outbox::Wake,
}

impl<DB: Database> std::fmt::Debug for SqlTransaction<DB> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SqlTransaction<{}>", DB::NAME)
    }
}

fn statement_error(error: sqlx::Error) -> TxError {
    TxError::Statement(Box::new(error))
}

impl<DB: SqlBackend> Transaction for SqlTransaction<DB> {
    fn commit(self: Box<Self>) -> BoxFuture<'static, Result<(), TxError>> {
        Box::pin(async move {
            let SqlTransaction {
                tx,
                enqueued,
                relay,
            } = *self;
            tx.commit()
                .await
                .map_err(|e| TxError::Commit(Box::new(e)))?;
            if enqueued != 0 {
                relay.buckets(enqueued);
            }
            Ok(())
        })
    }

    fn rollback(self: Box<Self>) -> BoxFuture<'static, Result<(), TxError>> {
        Box::pin(async move {
            self.tx
                .rollback()
                .await
                .map_err(|e| TxError::Statement(Box::new(e)))
        })
    }

    fn enqueue<'a>(&'a mut self, event: &'a OutboxEvent) -> BoxFuture<'a, Result<(), TxError>> {
        Box::pin(async move {
            let notify = self.enqueued == 0 && self.relay.notifies();
            DB::enqueue(&mut self.tx, event, notify)
                .await
                .map_err(statement_error)?;
            self.enqueued |= 1 << bucket(&event.key);
            Ok(())
        })
    }

    fn claim<'a>(
        &'a mut self,
        inbox: &'a str,
        id: &'a str,
    ) -> BoxFuture<'a, Result<bool, TxError>> {
        Box::pin(async move {
            DB::claim(&mut self.tx, inbox, id)
                .await
                .map_err(statement_error)
        })
    }

    fn complete_idempotent<'a>(
        &'a mut self,
        scope: &'a str,
        key: &'a str,
        response: &'a StoredResponse,
    ) -> BoxFuture<'a, Result<(), TxError>> {
        Box::pin(async move {
            let statement = Statement::Complete {
                scope,
                key,
                response,
            };
            DB::run(&mut self.tx, statement)
                .await
                .map(drop)
                .map_err(statement_error)
        })
    }

    fn as_any(&mut self) -> &mut dyn Any {
        self
    }
}

/// Begins transactions on a pool; what the pool's provider registers as `Transactions`.
pub(super) struct PoolSource<DB: Database> {
    /// Behind the database's breaker: a unit of work that needs it fails at once while it
    /// is known to be down.
    pub(super) pool: super::pool::Pool<DB>,
    /// Woken by every commit that stored an event.
    pub(super) relay: super::outbox::Wake,
}

impl<DB: SqlBackend> TransactionSource for PoolSource<DB> {
    fn begin(&self) -> BoxFuture<'_, Result<Box<dyn Transaction>, TxError>> {
        Box::pin(async move {
            let tx = self
                .pool
                .begin()
                .await
                .map_err(|e| TxError::Begin(Box::new(e)))?;
            Ok(Box::new(SqlTransaction {
                tx,
                enqueued: 0,
                relay: self.relay.clone(),
            }) as Box<dyn Transaction>)
        })
    }
}

/// Typed access to the unit of work's transaction, for repositories:
///
/// ```ignore
/// let mut conn = tx.connection::<Postgres>().await?;
/// sqlx::query("INSERT INTO ...").execute(&mut *conn).await?;
/// ```
pub trait SqlTx {
    /// The transaction's connection, begun at first use and held until the guard drops.
    ///
    /// # Errors
    /// As [`Tx::lock`], or [`TxError::Backend`] when the database is not `DB`.
    fn connection<DB: SqlBackend>(
        &self,
    ) -> impl Future<Output = Result<TxGuard<DB::Connection>, TxError>> + Send;
}

impl SqlTx for Tx {
    async fn connection<DB: SqlBackend>(&self) -> Result<TxGuard<DB::Connection>, TxError> {
        let transaction = self.lock_as::<SqlTransaction<DB>>().await?;
        Ok(TxGuard::map(transaction, |t: &mut SqlTransaction<DB>| {
            &mut *t.tx
        }))
    }
}
