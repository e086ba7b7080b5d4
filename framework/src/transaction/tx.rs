//! [`Tx`], the handle a unit of work holds, and the seam a database plugin implements.

use std::any::Any;
use std::future::Future;
use std::sync::{Arc, Mutex as StdMutex};

use futures_util::future::BoxFuture;
use serde::Serialize;
use tokio::sync::{Mutex, OwnedMappedMutexGuard, OwnedMutexGuard};

use super::idempotency::StoredResponse;
use super::outbox::OutboxEvent;
use crate::di::{Container, Dependency, Injectable, Key, ResolveError};
use crate::error::{DomainError, ErrorKind};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Starts transactions on one database; the database plugin provides it, wrapped as the
/// [`Transactions`] component.
pub trait TransactionSource: Send + Sync + 'static {
    /// Begins a transaction (takes a connection from the pool).
    ///
    /// # Errors
    /// [`TxError::Begin`] when no connection can be had.
    fn begin(&self) -> BoxFuture<'_, Result<Box<dyn Transaction>, TxError>>;
}

/// One open transaction of some backend. Dropped without [`commit`](Transaction::commit), it
/// rolls back (sqlx's transactions do so on drop).
pub trait Transaction: Any + Send {
    /// Makes the transaction's writes durable.
    ///
    /// # Errors
    /// [`TxError::Commit`]: the database refused or could not be reached; nothing is stored.
    fn commit(self: Box<Self>) -> BoxFuture<'static, Result<(), TxError>>;

    /// Undoes the transaction's writes now, rather than when it is dropped.
    fn rollback(self: Box<Self>) -> BoxFuture<'static, Result<(), TxError>>;

    /// Stores `event` in the outbox, to be published once the transaction commits.
    ///
    /// # Errors
    /// [`TxError::Statement`] when the row cannot be written.
    fn enqueue<'a>(&'a mut self, event: &'a OutboxEvent) -> BoxFuture<'a, Result<(), TxError>>;

    /// Records message `id` as handled by `inbox` (a consumer group); `false` if it already
    /// was, by this transaction's view of committed work (a concurrent claim of the same id
    /// waits for the other transaction to finish).
    ///
    /// # Errors
    /// [`TxError::Statement`] when the row cannot be written.
    fn claim<'a>(&'a mut self, inbox: &'a str, id: &'a str)
    -> BoxFuture<'a, Result<bool, TxError>>;

    /// Keeps `response` as the answer of idempotency key `key` in `scope`, in this
    /// transaction: it is stored with the request's writes, or not at all.
    ///
    /// # Errors
    /// [`TxError::Statement`] when the row cannot be written.
    fn complete_idempotent<'a>(
        &'a mut self,
        scope: &'a str,
        key: &'a str,
        response: &'a StoredResponse,
    ) -> BoxFuture<'a, Result<(), TxError>>;

    /// The transaction as its concrete type, for the backend's typed access
    /// (`framework::db::SqlTx`).
    fn as_any(&mut self) -> &mut dyn Any;
}

/// A transaction could not be begun, used or committed.
///
/// | variant | kind | code |
/// |---|---|---|
/// | `Begin` | `Unavailable` | `TRANSACTION_UNAVAILABLE` |
/// | `Statement` | `Internal`\* | `TRANSACTION_STATEMENT_FAILED` |
/// | `Commit` | `Internal`\* | `TRANSACTION_COMMIT_FAILED` |
/// | `Finished` | `Internal` | `TRANSACTION_FINISHED` |
/// | `Backend` | `Internal` | `TRANSACTION_BACKEND_MISMATCH` |
/// | `Encode` | `Marshaling` | `EVENT_ENCODE_FAILED` |
/// | `OutsideUnit` | `Internal` | `TRANSACTION_OUTSIDE_UNIT` |
///
/// \* `Unavailable` or `Timeout` when the database's failure underneath was transient (a
/// connection refused or reset: see [`crate::error::transient`]).
#[derive(Debug, thiserror::Error)]
pub enum TxError {
    /// No connection could be had.
    #[error("cannot begin a transaction")]
    Begin(#[source] BoxError),
    /// A statement the framework runs in the transaction (outbox, inbox) failed.
    #[error("a statement of the transaction failed")]
    Statement(#[source] BoxError),
    /// The commit failed: nothing is stored.
    #[error("cannot commit the transaction")]
    Commit(#[source] BoxError),
    /// The transaction was already committed or rolled back (a handle kept past its unit).
    #[error("the transaction is already {0}")]
    Finished(&'static str),
    /// Typed access asked for another backend's transaction.
    #[error("the transaction is not a `{wanted}` transaction")]
    Backend {
        /// The type asked for.
        wanted: &'static str,
    },
    /// An event could not be encoded.
    #[error("cannot encode the event for `{topic}`")]
    Encode {
        /// The event's topic.
        topic: String,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
    /// [`Tx`] was asked for where no unit of work holds one.
    #[error("no transaction here: `Tx` is a parameter of a framework handler")]
    OutsideUnit,
}

// A service's `internal` variant over a `TxError` that could not begin answers as
// unavailable.
inventory::submit!(crate::error::transient::Classifier {
    classify: crate::error::transient::own_kind::<TxError>
});

impl DomainError for TxError {
    fn kind(&self) -> ErrorKind {
        match self {
            TxError::Begin(_) => ErrorKind::Unavailable,
            TxError::Encode { .. } => ErrorKind::Marshaling,
            // A statement or commit over a connection that broke, say.
            _ => crate::error::transient::classified(self, ErrorKind::Internal),
        }
    }

    fn code(&self) -> &'static str {
        match self {
            TxError::Begin(_) => "TRANSACTION_UNAVAILABLE",
            TxError::Statement(_) => "TRANSACTION_STATEMENT_FAILED",
            TxError::Commit(_) => "TRANSACTION_COMMIT_FAILED",
            TxError::Finished(_) => "TRANSACTION_FINISHED",
            TxError::Backend { .. } => "TRANSACTION_BACKEND_MISMATCH",
            TxError::Encode { .. } => "EVENT_ENCODE_FAILED",
            TxError::OutsideUnit => "TRANSACTION_OUTSIDE_UNIT",
        }
    }
}

/// The component that starts units of work: inject it (`#[module]` field `Transactions`) where
/// no delivery hands out a [`Tx`], as in a gRPC method.
#[derive(Clone)]
pub struct Transactions {
    source: Arc<dyn TransactionSource>,
}

impl std::fmt::Debug for Transactions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Transactions")
    }
}

impl Transactions {
    /// The component over `source` (what a database plugin registers).
    pub fn new(source: Arc<dyn TransactionSource>) -> Transactions {
        Transactions { source }
    }

    /// A unit of work that begins its transaction at first use (no connection is taken
    /// before). Commit it with [`Tx::commit`]; dropped, it rolls back.
    pub fn begin(&self) -> Tx {
        Tx {
            inner: Arc::new(Inner {
                source: self.source.clone(),
                state: Arc::new(Mutex::new(State::Idle)),
                after_commit: StdMutex::new(Vec::new()),
            }),
        }
    }

    /// Runs `work` with a fresh [`Tx`]: commits when it returns `Ok`, rolls back when it returns
    /// `Err`, panics or is dropped.
    ///
    /// # Errors
    /// `work`'s error, or the commit's ([`TxError`], through `E: From<TxError>`).
    ///
    /// ```ignore
    /// let article = transactions.run(|tx| async move { service.create(&tx, input).await }).await?;
    /// ```
    pub async fn run<F, Fut, T, E>(&self, work: F) -> Result<T, E>
    where
        F: FnOnce(Tx) -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: From<TxError>,
    {
        let tx = self.begin();
        let output = tx.clone().scope(work(tx.clone())).await;
        tx.finish(output.is_ok()).await?;
        output
    }
}

impl Injectable for Transactions {
    fn dependency() -> Dependency {
        Dependency::Component(Key::of::<Transactions>())
    }

    fn resolve(container: &Container) -> Result<Self, ResolveError> {
        container
            .get::<Transactions>()
            .map(|t| (*t).clone())
            .ok_or(ResolveError::Missing("Transactions"))
    }
}

/// Work run once the transaction committed.
type AfterCommit = BoxFuture<'static, ()>;

enum State {
    /// Nothing run yet: no connection taken.
    Idle,
    Open(Box<dyn Transaction>),
    /// Committed or rolled back: what, for the error of a late use.
    Finished(&'static str),
}

struct Inner {
    source: Arc<dyn TransactionSource>,
    /// Owned guards (`lock_owned`): a guard borrowing the mutex makes callers' futures fail
    /// the compiler's `Send` check (rust-lang/rust#64552).
    state: Arc<Mutex<State>>,
    after_commit: StdMutex<Vec<AfterCommit>>,
}

/// The unit of work's transaction: a cheap handle (clones share it). The transaction begins at
/// its first use; the delivery that handed it out commits it when the handler succeeds
/// (HTTP: a response below 400; Kafka and cron: `Ok`) and rolls it back otherwise, or when the
/// handler panics or is dropped. A handle kept past its unit gets
/// [`TxError::Finished`].
///
/// Statements run on the backend's connection: `framework::db::SqlTx::connection`. Events go
/// out through [`Tx::publish_json`], at least once, after the commit.
#[derive(Clone)]
pub struct Tx {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Tx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tx")
    }
}

/// The transaction of an open state.
fn open(state: &mut State) -> Option<&mut (dyn Transaction + 'static)> {
    match state {
        State::Open(transaction) => Some(&mut **transaction),
        _ => None,
    }
}

/// The open transaction (or a part of it, such as its connection), locked for one use: other
/// users of the same [`Tx`] wait until it drops.
pub struct TxGuard<T: ?Sized = dyn Transaction>(OwnedMappedMutexGuard<State, T>);

impl<T: ?Sized> TxGuard<T> {
    /// The guard of a part of the locked value.
    pub fn map<U>(guard: TxGuard<T>, f: impl FnOnce(&mut T) -> &mut U) -> TxGuard<U> {
        TxGuard(OwnedMappedMutexGuard::map(guard.0, f))
    }
}

impl<T: ?Sized> std::ops::Deref for TxGuard<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: ?Sized> std::ops::DerefMut for TxGuard<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.0
    }
}

impl<T: ?Sized> std::fmt::Debug for TxGuard<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TxGuard")
    }
}

tokio::task_local! {
    /// The transaction of the unit of work running on this task, where a delivery set one.
    static CURRENT: Tx;
}

impl Tx {
    /// The transaction of the unit of work this task runs, if its delivery holds one.
    pub fn current() -> Option<Tx> {
        CURRENT.try_with(Tx::clone).ok()
    }

    /// Runs `work` with this transaction as [`Tx::current`]; how deliveries hand it to the
    /// handler's extractors.
    pub async fn scope<F: Future>(self, work: F) -> F::Output {
        CURRENT.scope(self, work).await
    }

    /// The open transaction, begun now if this is its first use; held until the guard drops.
    ///
    /// # Errors
    /// [`TxError::Begin`], or [`TxError::Finished`] after commit or rollback.
    pub async fn lock(&self) -> Result<TxGuard, TxError> {
        let mut state = self.inner.state.clone().lock_owned().await;
        if let State::Idle = *state {
            *state = State::Open(self.inner.source.begin().await?);
        }
        OwnedMutexGuard::try_map(state, open)
            .map(TxGuard)
            .map_err(|state| match *state {
                State::Finished(how) => TxError::Finished(how),
                _ => unreachable!("an idle transaction was begun above"),
            })
    }

    /// The open transaction as the backend's concrete type `T`.
    ///
    /// # Errors
    /// As [`lock`](Tx::lock), or [`TxError::Backend`] when the transaction is not a `T`.
    pub async fn lock_as<T: Transaction>(&self) -> Result<TxGuard<T>, TxError> {
        OwnedMappedMutexGuard::try_map(self.lock().await?.0, |t| t.as_any().downcast_mut::<T>())
            .map(TxGuard)
            .map_err(|_| TxError::Backend {
                wanted: std::any::type_name::<T>(),
            })
    }

    /// Stores `event` in the outbox, in this transaction: it is published (at least once, in
    /// order per key) after the commit, and never if the transaction rolls back.
    ///
    /// # Errors
    /// As [`lock`](Tx::lock), or [`TxError::Statement`].
    pub async fn publish(&self, event: OutboxEvent) -> Result<(), TxError> {
        let mut transaction = self.lock().await?;
        transaction.enqueue(&event).await
    }

    /// [`publish`](Tx::publish) of `value` as JSON (`content-type: application/json`) under
    /// `key` to `topic`; the current request id and trace travel as headers, and the event gets
    /// a new id (header `ce_id`), which it keeps however often it is published.
    ///
    /// # Errors
    /// [`TxError::Encode`] when `value` does not serialize, else as [`publish`](Tx::publish).
    pub async fn publish_json<T: Serialize + ?Sized>(
        &self,
        topic: &str,
        key: &str,
        value: &T,
    ) -> Result<(), TxError> {
        let payload = serde_json::to_vec(value).map_err(|source| TxError::Encode {
            topic: topic.to_owned(),
            source,
        })?;
        self.publish(OutboxEvent::new(topic, key, payload, "application/json"))
            .await
    }

    /// Records message `id` as handled by `inbox`; `false` when it already was (see
    /// [`Transaction::claim`]). What `#[kafka_consumer(idempotent)]` does before its handler.
    ///
    /// # Errors
    /// As [`lock`](Tx::lock), or [`TxError::Statement`].
    pub async fn claim(&self, inbox: &str, id: &str) -> Result<bool, TxError> {
        let mut transaction = self.lock().await?;
        transaction.claim(inbox, id).await
    }

    /// Keeps `response` as the answer of an `Idempotency-Key`, in this transaction (see
    /// [`Transaction::complete_idempotent`]).
    ///
    /// # Errors
    /// As [`lock`](Tx::lock), or [`TxError::Statement`].
    pub async fn complete_idempotent(
        &self,
        scope: &str,
        key: &str,
        response: &StoredResponse,
    ) -> Result<(), TxError> {
        let mut transaction = self.lock().await?;
        transaction.complete_idempotent(scope, key, response).await
    }

    /// Runs `work` after the transaction commits, before the commit returns (never if it
    /// rolls back): for what must only follow durable writes, such as dropping a cache entry
    /// or telling in-process watchers. Hooks run one after another, in the order added.
    pub fn after_commit(&self, work: impl Future<Output = ()> + Send + 'static) {
        self.inner
            .after_commit
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Box::pin(work));
    }

    /// Commits, then runs the [`after_commit`](Tx::after_commit) hooks. Shielded: once called,
    /// the commit and the hooks finish even if the caller is dropped, so a caller given up on
    /// during the commit cannot leave it half done. A transaction never used commits nothing.
    ///
    /// # Errors
    /// [`TxError::Commit`] (nothing is stored), or [`TxError::Finished`] if it was rolled back.
    pub async fn commit(&self) -> Result<(), TxError> {
        let state = {
            let mut state = self.inner.state.lock().await;
            std::mem::replace(&mut *state, State::Finished("committed"))
        };
        let hooks = std::mem::take(
            &mut *self
                .inner
                .after_commit
                .lock()
                .unwrap_or_else(|e| e.into_inner()),
        );
        let transaction = match state {
            State::Open(transaction) => Some(transaction),
            State::Idle => None,
            State::Finished("committed") => return Ok(()),
            State::Finished(how) => return Err(TxError::Finished(how)),
        };
        let inner = self.inner.clone();
        crate::app::shield(async move {
            if let Some(transaction) = transaction
                && let Err(error) = transaction.commit().await
            {
                // The database dropped the writes: say so to a late commit or use.
                *inner.state.lock().await = State::Finished("rolled back");
                return Err(error);
            }
            for hook in hooks {
                hook.await;
            }
            Ok(())
        })
        .await
    }

    /// Ends the unit of work: [`commit`](Tx::commit) when it `succeeded`, else
    /// [`rollback`](Tx::rollback). What the deliveries call when the handler returns.
    ///
    /// # Errors
    /// The commit's.
    pub async fn finish(&self, succeeded: bool) -> Result<(), TxError> {
        if succeeded {
            self.commit().await
        } else {
            self.rollback().await;
            Ok(())
        }
    }

    /// Rolls back now (what dropping the last handle does later). A failed rollback is only
    /// logged: the database drops the transaction's writes with its connection anyway.
    pub async fn rollback(&self) {
        let state = {
            let mut state = self.inner.state.lock().await;
            std::mem::replace(&mut *state, State::Finished("rolled back"))
        };
        self.inner
            .after_commit
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        if let State::Open(transaction) = state
            && let Err(error) = transaction.rollback().await
        {
            tracing::warn!(error = %crate::error::error_chain(&error), "rollback failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// What the fake backend saw.
    #[derive(Default)]
    struct Seen {
        begun: AtomicUsize,
        committed: AtomicUsize,
        rolled_back: AtomicUsize,
    }

    struct Source {
        seen: Arc<Seen>,
        fail_commit: bool,
    }

    struct Fake {
        seen: Arc<Seen>,
        fail_commit: bool,
        done: bool,
    }

    impl Drop for Fake {
        fn drop(&mut self) {
            if !self.done {
                self.seen.rolled_back.fetch_add(1, Ordering::SeqCst);
            }
        }
    }

    impl TransactionSource for Source {
        fn begin(&self) -> BoxFuture<'_, Result<Box<dyn Transaction>, TxError>> {
            self.seen.begun.fetch_add(1, Ordering::SeqCst);
            let fake = Fake {
                seen: self.seen.clone(),
                fail_commit: self.fail_commit,
                done: false,
            };
            Box::pin(async move { Ok(Box::new(fake) as Box<dyn Transaction>) })
        }
    }

    impl Transaction for Fake {
        fn commit(mut self: Box<Self>) -> BoxFuture<'static, Result<(), TxError>> {
            Box::pin(async move {
                if self.fail_commit {
                    return Err(TxError::Commit("refused".into()));
                }
                self.done = true;
                self.seen.committed.fetch_add(1, Ordering::SeqCst);
                Ok(())
            })
        }
        fn rollback(self: Box<Self>) -> BoxFuture<'static, Result<(), TxError>> {
            Box::pin(async move {
                drop(self);
                Ok(())
            })
        }
        fn enqueue<'a>(&'a mut self, _: &'a OutboxEvent) -> BoxFuture<'a, Result<(), TxError>> {
            Box::pin(async { Ok(()) })
        }
        fn claim<'a>(&'a mut self, _: &'a str, _: &'a str) -> BoxFuture<'a, Result<bool, TxError>> {
            Box::pin(async { Ok(true) })
        }
        fn complete_idempotent<'a>(
            &'a mut self,
            _: &'a str,
            _: &'a str,
            _: &'a StoredResponse,
        ) -> BoxFuture<'a, Result<(), TxError>> {
            Box::pin(async { Ok(()) })
        }
        fn as_any(&mut self) -> &mut dyn Any {
            self
        }
    }

    fn transactions(fail_commit: bool) -> (Transactions, Arc<Seen>) {
        let seen = Arc::new(Seen::default());
        let source = Source {
            seen: seen.clone(),
            fail_commit,
        };
        (Transactions::new(Arc::new(source)), seen)
    }

    /// A begun transaction with an `after_commit` hook, and how often the hook ran.
    async fn begun_with_hook(transactions: &Transactions) -> (Tx, Arc<AtomicUsize>) {
        let tx = transactions.begin();
        let hooked = Arc::new(AtomicUsize::new(0));
        let counter = hooked.clone();
        tx.lock().await.unwrap();
        tx.after_commit(async move {
            counter.fetch_add(1, Ordering::SeqCst);
        });
        (tx, hooked)
    }

    #[tokio::test]
    async fn a_unit_that_uses_nothing_begins_nothing() {
        let (transactions, seen) = transactions(false);
        let tx = transactions.begin();
        tx.commit().await.unwrap();
        assert_eq!(seen.begun.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn commit_runs_the_hooks_and_ends_the_transaction() {
        let (transactions, seen) = transactions(false);
        let (tx, hooked) = begun_with_hook(&transactions).await;
        tx.commit().await.unwrap();
        assert_eq!(seen.committed.load(Ordering::SeqCst), 1);
        assert_eq!(hooked.load(Ordering::SeqCst), 1);
        assert!(matches!(
            tx.lock().await,
            Err(TxError::Finished("committed"))
        ));
    }

    #[tokio::test]
    async fn a_failed_commit_runs_no_hook_and_is_not_reported_committed_later() {
        let (transactions, seen) = transactions(true);
        let (tx, hooked) = begun_with_hook(&transactions).await;
        assert!(matches!(tx.commit().await, Err(TxError::Commit(_))));
        assert_eq!(hooked.load(Ordering::SeqCst), 0);
        assert!(matches!(
            tx.commit().await,
            Err(TxError::Finished("rolled back"))
        ));
        assert_eq!(seen.rolled_back.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn errors_and_drops_roll_back() {
        let (transactions, seen) = transactions(false);
        let failed: Result<(), TxError> = transactions
            .run(|tx| async move {
                tx.lock().await?;
                Err(TxError::OutsideUnit)
            })
            .await;
        assert!(failed.is_err());
        assert_eq!(seen.rolled_back.load(Ordering::SeqCst), 1);
        let dropped = transactions.begin();
        dropped.lock().await.unwrap();
        drop(dropped);
        assert_eq!(seen.rolled_back.load(Ordering::SeqCst), 2);
        assert_eq!(seen.committed.load(Ordering::SeqCst), 0);
        // `run` hands the unit's `Tx` to the work as `Tx::current` too.
        let current = transactions
            .run(|_| async { Ok::<bool, TxError>(Tx::current().is_some()) })
            .await
            .unwrap();
        assert!(current);
        assert!(Tx::current().is_none());
    }
}
