//! The unit of work's database transaction, named by no backend: a handler asks for a [`Tx`]
//! (an extractor of `#[http_route]`, `#[kafka_consumer]` and `#[cron_job]` handlers), passes
//! it to its repositories, and the delivery commits it when the handler succeeds and rolls it
//! back when it fails, panics or is dropped (a timeout, a client gone). Elsewhere (a gRPC
//! method, a spawned task) [`Transactions::run`] does the same around a closure.
//!
//! Through the same transaction a handler publishes events ([`Tx::publish_json`]): they are
//! rows of the transactional outbox, stored with the handler's writes or not at all, and a
//! relay publishes them afterwards. A consumer's inbox ([`Tx::claim`]) and the HTTP
//! `Idempotency-Key` store use it too.
//!
//! This is the seam between plugins: the database plugin provides [`Transactions`] (over a
//! [`TransactionSource`]) and relays the outbox to an [`EventSink`], which a messaging plugin
//! provides; the deliveries only name this module.

mod idempotency;
mod outbox;
mod param;
mod tx;

pub use idempotency::{Claim, IdempotencyStore, StoredResponse};
pub use outbox::{EVENT_ID_HEADER, EventSink, OutboxEvent, SinkError};
pub use param::{OtherParam, Param, TxParam};
pub use tx::{Transaction, TransactionSource, Transactions, Tx, TxError, TxGuard};
