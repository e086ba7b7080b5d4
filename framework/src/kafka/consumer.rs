//! Runs one `#[kafka_consumer]`: at-least-once delivery, order kept within a partition,
//! partitions handled in parallel up to the concurrency, retries with exponential backoff for
//! retryable kinds, dead-lettering for the rest, and an offset committed only once its message
//! was handled or dead-lettered.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinHandle;

use super::extract::Rejection;
use super::message::{Message, Outgoing};
use super::transport::{BoxFuture, Committer, KafkaError, Transport};
use crate::di::Container;
use crate::error::{DomainError, ErrorKind, error_chain};
use crate::registry::Location;

/// What a handler made of a message.
pub enum Outcome {
    /// Handled: commit.
    Done,
    /// It could not be decoded or extracted: dead-letter now.
    Rejected(Rejection),
    /// The handler failed.
    Failed(Failure),
}

/// A handler's error, as the runtime needs it.
#[derive(Debug, Clone)]
pub struct Failure {
    /// Its kind, which decides retry or dead-letter.
    pub kind: ErrorKind,
    /// Its stable code.
    pub code: &'static str,
    /// The error chain, for logs and the dead-letter headers (never for clients).
    pub message: String,
}

impl Failure {
    /// The failure of a domain error.
    pub fn of<E: DomainError>(error: &E) -> Failure {
        Failure {
            kind: error.kind(),
            code: error.code(),
            message: error_chain(error),
        }
    }
}

/// The handler adapter the macro generates.
pub type Handle = fn(Arc<Container>, Arc<Message>) -> BoxFuture<'static, Outcome>;

/// A `#[kafka_consumer]` handler.
pub struct ConsumerRecord {
    /// The handler function's path.
    pub handler: &'static str,
    /// The topic, or `${KEY}` to read it from the config.
    pub topic: &'static str,
    /// The consumer group, or `${KEY}`.
    pub group: &'static str,
    /// Partitions handled at once.
    pub concurrency: usize,
    /// Retries of a retryable failure before dead-lettering.
    pub retries: u32,
    /// The first retry's delay; each next one doubles.
    pub backoff_ms: u64,
    /// The dead-letter topic; `None`: `<topic>.dlq`.
    pub dead_letter: Option<&'static str>,
    /// Runs the handler on one message.
    pub handle: Handle,
    /// The `Inject<T>` parameters.
    pub dependencies: fn() -> Vec<crate::di::Dependency>,
    /// Where the handler is written.
    pub location: Location,
}

inventory::collect!(ConsumerRecord);

/// A consumer with its names resolved from the config.
#[derive(Clone)]
pub struct Resolved {
    /// The record.
    pub record: &'static ConsumerRecord,
    /// The topic.
    pub topic: String,
    /// The group.
    pub group: String,
    /// The dead-letter topic.
    pub dead_letter: String,
}

/// Header names added to a dead-lettered record.
pub mod dead_letter_headers {
    /// The failure's stable code.
    pub const ERROR_CODE: &str = "x-error-code";
    /// The failure's message (its error chain).
    pub const ERROR_MESSAGE: &str = "x-error-message";
    /// Where the record came from.
    pub const ORIGINAL_TOPIC: &str = "x-original-topic";
    /// Its partition there.
    pub const ORIGINAL_PARTITION: &str = "x-original-partition";
    /// Its offset there.
    pub const ORIGINAL_OFFSET: &str = "x-original-offset";
    /// How many times the handler ran.
    pub const ATTEMPTS: &str = "x-attempts";
}

/// Starts the consumer; it stops fetching when `stop` turns true, finishes the message in
/// hand on each partition, commits, and ends.
pub(crate) fn spawn(
    consumer: Resolved,
    transport: Arc<dyn Transport>,
    container: Arc<Container>,
    stop: watch::Receiver<bool>,
) -> Result<JoinHandle<Result<(), KafkaError>>, KafkaError> {
    let mut subscription =
        transport.subscribe(&consumer.group, std::slice::from_ref(&consumer.topic))?;
    let committer = subscription.committer();
    Ok(tokio::spawn(async move {
        let permits = Arc::new(Semaphore::new(consumer.record.concurrency.max(1)));
        // One topic per consumer: its partitions are told apart by number.
        let mut partitions: HashMap<i32, mpsc::Sender<Message>> = HashMap::new();
        let mut workers = Vec::new();
        let mut fetching = stop.clone();
        loop {
            let message = tokio::select! {
                biased;
                () = stopped(&mut fetching) => break,
                message = subscription.next() => message,
            };
            let Some(message) = message else { break };
            let queue = partitions.entry(message.meta.partition).or_insert_with(|| {
                let (queue, inbox) = mpsc::channel(64);
                let worker = Worker {
                    consumer: consumer.clone(),
                    transport: transport.clone(),
                    container: container.clone(),
                    permits: permits.clone(),
                    committer: committer.clone(),
                    stop: stop.clone(),
                };
                workers.push(tokio::spawn(worker.run(inbox)));
                queue
            });
            if queue.send(message).await.is_err() {
                break;
            }
        }
        // Stop fetching; each worker finishes the message in hand and commits it.
        drop(partitions);
        for worker in workers {
            let _ = worker.await;
        }
        // Dropping the subscription leaves the group (librdkafka commits what was stored).
        drop(subscription);
        tracing::info!(topic = %consumer.topic, group = %consumer.group, "consumer stopped");
        Ok(())
    }))
}

/// Resolves once `stop` turns true (or its sender is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    // The guard `wait_for` returns is not `Send`: drop it here, not across an await.
    let _ = stop.wait_for(|stop| *stop).await.map(drop);
}

/// Handles one partition's messages in order.
struct Worker {
    consumer: Resolved,
    transport: Arc<dyn Transport>,
    container: Arc<Container>,
    permits: Arc<Semaphore>,
    committer: Arc<dyn Committer>,
    stop: watch::Receiver<bool>,
}

impl Worker {
    async fn run(self, mut inbox: mpsc::Receiver<Message>) {
        let mut batch = Vec::new();
        // Everything queued at once: a busy partition costs one wake-up per batch.
        while inbox.recv_many(&mut batch, 64).await > 0 {
            for message in batch.drain(..) {
                if *self.stop.borrow() {
                    // Not handled, not committed: delivered again after a restart.
                    return;
                }
                let Ok(_permit) = self.permits.acquire().await else {
                    return;
                };
                let (partition, offset) = (message.meta.partition, message.meta.offset);
                let span = tracing::info_span!("kafka", topic = %self.consumer.topic, partition, offset, group = %self.consumer.group, handler = self.consumer.record.handler);
                if !tracing::Instrument::instrument(self.settle(message), span).await {
                    return;
                }
                if let Err(error) =
                    self.committer
                        .commit(&self.consumer.topic, partition, offset + 1)
                {
                    // Not fatal: the records after the last good commit come again.
                    tracing::warn!(%error, partition, offset, "commit failed");
                }
            }
        }
    }

    /// Handles the message, retrying and dead-lettering as its outcome asks. `false` when it
    /// was abandoned at shutdown (so it must not be committed).
    async fn settle(&self, message: Message) -> bool {
        let record = self.consumer.record;
        let message = Arc::new(message);
        // Built at the first failure only: most records succeed at once.
        let mut delays = None;
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            let failure = match self.attempt(&message).await {
                Outcome::Done => return true,
                Outcome::Rejected(rejection) => Failure {
                    kind: ErrorKind::Marshaling,
                    code: "MESSAGE_REJECTED",
                    message: rejection.0,
                },
                Outcome::Failed(failure) => failure,
            };
            let delays = delays.get_or_insert_with(|| {
                ExponentialBuilder::default()
                    .with_min_delay(Duration::from_millis(record.backoff_ms.max(1)))
                    .with_max_times(record.retries as usize)
                    .build()
            });
            if failure.kind.is_retryable()
                && let Some(delay) = delays.next()
            {
                tracing::warn!(code = failure.code, error = %failure.message, attempts, ?delay, "handler failed; retrying");
                if self.sleep_or_stop(delay).await {
                    return false;
                }
                continue;
            }
            return self.dead_letter(&message, &failure, attempts).await;
        }
    }

    /// Runs the handler once; a panic is a failure of this message only.
    async fn attempt(&self, message: &Arc<Message>) -> Outcome {
        use futures_util::FutureExt;

        let work = (self.consumer.record.handle)(self.container.clone(), message.clone());
        // The record's request id, when it has one, is the handler's current one.
        let request_id = message
            .header("x-request-id")
            .and_then(|id| std::str::from_utf8(id).ok())
            .map(str::to_owned);
        let work = match request_id {
            Some(id) => crate::telemetry::request_id::scope(id, work).boxed(),
            None => work,
        };
        match std::panic::AssertUnwindSafe(work).catch_unwind().await {
            Ok(outcome) => outcome,
            Err(panic) => Outcome::Failed(Failure {
                kind: ErrorKind::Internal,
                code: "HANDLER_PANICKED",
                message: format!(
                    "the handler panicked: {}",
                    crate::http::panic_message(&*panic)
                ),
            }),
        }
    }

    /// Writes the message to the dead-letter topic, retrying the write until it succeeds;
    /// `false` if shutdown came first (then it is not committed and comes back).
    async fn dead_letter(&self, message: &Message, failure: &Failure, attempts: u32) -> bool {
        use dead_letter_headers as h;
        tracing::error!(code = failure.code, error = %failure.message, attempts, dead_letter = %self.consumer.dead_letter, "message dead-lettered");
        let mut headers = message.headers.clone();
        headers.extend([
            (h::ERROR_CODE.to_owned(), failure.code.as_bytes().to_vec()),
            (
                h::ERROR_MESSAGE.to_owned(),
                failure.message.clone().into_bytes(),
            ),
            (
                h::ORIGINAL_TOPIC.to_owned(),
                message.meta.topic.clone().into_bytes(),
            ),
            (
                h::ORIGINAL_PARTITION.to_owned(),
                message.meta.partition.to_string().into_bytes(),
            ),
            (
                h::ORIGINAL_OFFSET.to_owned(),
                message.meta.offset.to_string().into_bytes(),
            ),
            (h::ATTEMPTS.to_owned(), attempts.to_string().into_bytes()),
        ]);
        let record = Outgoing {
            topic: self.consumer.dead_letter.clone(),
            key: message.key.clone(),
            payload: message.payload.clone(),
            headers,
        };
        let mut delay = Duration::from_millis(self.consumer.record.backoff_ms.max(1));
        loop {
            match self.transport.send(record.clone()).await {
                Ok(_) => return true,
                Err(error) => {
                    tracing::error!(%error, "cannot write to the dead-letter topic; retrying");
                    if self.sleep_or_stop(delay).await {
                        return false;
                    }
                    delay = (delay * 2).min(Duration::from_secs(30));
                }
            }
        }
    }

    /// Sleeps `delay`; `true` if shutdown began meanwhile.
    async fn sleep_or_stop(&self, delay: Duration) -> bool {
        let mut stop = self.stop.clone();
        tokio::select! {
            () = tokio::time::sleep(delay) => false,
            () = stopped(&mut stop) => true,
        }
    }
}
