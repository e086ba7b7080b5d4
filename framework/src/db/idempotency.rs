//! The `Idempotency-Key` store on the database (`framework_idempotency`): the core's
//! [`IdempotencyStore`], its statements written once per backend in `transaction::ops!`.
//!
//! Each step is one statement in autocommit, so a claim is visible to a concurrent request at
//! once; the response of a request that ran in a unit of work is kept in that unit's
//! transaction instead ([`Transaction::complete_idempotent`](crate::transaction::Transaction)).

use std::time::Duration;

use chrono::{TimeDelta, Utc};
use futures_util::future::BoxFuture;
use sqlx::Database;

use super::pool::Pool;

use super::transaction::{Outcome, SqlBackend, Statement};
use crate::transaction::{Claim, IdempotencyStore, StoredResponse, TxError};

/// Rounds of a claim that keeps meeting concurrent changes to its key before it answers
/// "in progress".
const CLAIM_ROUNDS: usize = 3;

/// The store over a pool.
pub(super) struct PoolIdempotency<DB: Database> {
    pub(super) pool: Pool<DB>,
}

fn statement(error: sqlx::Error) -> TxError {
    TxError::Statement(Box::new(error))
}

fn delta(duration: Duration) -> TimeDelta {
    TimeDelta::from_std(duration).unwrap_or(TimeDelta::MAX)
}

impl<DB: SqlBackend> PoolIdempotency<DB> {
    async fn run(&self, statement: Statement<'_>) -> Result<Outcome, TxError> {
        let mut conn = self
            .pool
            .acquire()
            .await
            .map_err(|e| TxError::Begin(Box::new(e)))?;
        DB::run(&mut conn, statement).await.map_err(self::statement)
    }

    async fn changed(&self, statement: Statement<'_>) -> Result<bool, TxError> {
        Ok(matches!(self.run(statement).await?, Outcome::Changed(true)))
    }
}

impl<DB: SqlBackend> IdempotencyStore for PoolIdempotency<DB> {
    fn claim<'a>(
        &'a self,
        scope: &'a str,
        key: &'a str,
        fingerprint: &'a str,
        lease: Duration,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<Claim, TxError>> {
        Box::pin(async move {
            for _ in 0..CLAIM_ROUNDS {
                let now = Utc::now();
                let (locked_until, expires_at) = (now + delta(lease), now + delta(ttl));
                let insert = Statement::Insert {
                    scope,
                    key,
                    fingerprint,
                    locked_until,
                    expires_at,
                };
                if self.changed(insert).await? {
                    return Ok(Claim::Acquired);
                }
                let Outcome::Found(row) = self.run(Statement::Find { scope, key }).await? else {
                    continue;
                };
                // Gone since the insert found it: try again.
                let Some((stored, status, headers, body, locked, expires)) = row else {
                    continue;
                };
                if expires <= now {
                    let expired = Statement::DeleteExpired {
                        scope,
                        key,
                        expires_at: expires,
                    };
                    self.changed(expired).await?;
                    continue;
                }
                if stored != fingerprint {
                    return Ok(Claim::Mismatch);
                }
                if let Some(status) = status {
                    return Ok(Claim::Completed(StoredResponse {
                        status: u16::try_from(status).unwrap_or(500),
                        headers: headers
                            .and_then(|h| serde_json::from_str(&h).ok())
                            .unwrap_or_default(),
                        body: body.unwrap_or_default(),
                    }));
                }
                if locked > now {
                    return Ok(Claim::InProgress);
                }
                // Its request died holding it: the first to extend the lease takes it over.
                let take_over = Statement::TakeOver {
                    scope,
                    key,
                    was_locked_until: locked,
                    locked_until,
                };
                return Ok(if self.changed(take_over).await? {
                    Claim::Acquired
                } else {
                    Claim::InProgress
                });
            }
            Ok(Claim::InProgress)
        })
    }

    fn complete<'a>(
        &'a self,
        scope: &'a str,
        key: &'a str,
        response: &'a StoredResponse,
    ) -> BoxFuture<'a, Result<(), TxError>> {
        Box::pin(async move {
            let complete = Statement::Complete {
                scope,
                key,
                response,
            };
            self.run(complete).await.map(drop)
        })
    }

    fn release<'a>(&'a self, scope: &'a str, key: &'a str) -> BoxFuture<'a, Result<(), TxError>> {
        Box::pin(async move { self.run(Statement::Release { scope, key }).await.map(drop) })
    }
}
