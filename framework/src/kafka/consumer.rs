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
use super::transport::{BoxFuture, KafkaError, Transport};
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
pub type Handle = fn(Arc<Container>, Message) -> BoxFuture<'static, Outcome>;

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
    Ok(tokio::spawn(async move {
        let permits = Arc::new(Semaphore::new(consumer.record.concurrency.max(1)));
        let (commits, mut committed) = mpsc::unbounded_channel::<(String, i32, i64)>();
        let mut partitions: HashMap<(String, i32), mpsc::Sender<Message>> = HashMap::new();
        let mut workers = Vec::new();
        let mut fetching = stop.clone();
        loop {
            tokio::select! {
                biased;
                () = stopped(&mut fetching) => break,
                Some((topic, partition, offset)) = committed.recv() => commit(&*subscription, &topic, partition, offset),
                message = subscription.next() => {
                    let Some(message) = message else { break };
                    let key = (message.meta.topic.clone(), message.meta.partition);
                    let queue = partitions.entry(key).or_insert_with(|| {
                        let (queue, inbox) = mpsc::channel(64);
                        let worker = Worker {
                            consumer: consumer.clone(),
                            transport: transport.clone(),
                            container: container.clone(),
                            permits: permits.clone(),
                            commits: commits.clone(),
                            stop: stop.clone(),
                        };
                        workers.push(tokio::spawn(worker.run(inbox)));
                        queue
                    });
                    if queue.send(message).await.is_err() {
                        break;
                    }
                }
            }
        }
        // Stop fetching; each worker finishes the message in hand. Commit what they report.
        drop(partitions);
        drop(commits);
        let all_done = futures_join(workers);
        tokio::pin!(all_done);
        loop {
            tokio::select! {
                Some((topic, partition, offset)) = committed.recv() => commit(&*subscription, &topic, partition, offset),
                () = &mut all_done => break,
            }
        }
        while let Ok((topic, partition, offset)) = committed.try_recv() {
            commit(&*subscription, &topic, partition, offset);
        }
        tracing::info!(topic = %consumer.topic, group = %consumer.group, "consumer stopped");
        Ok(())
    }))
}

/// Resolves once `stop` turns true (or its sender is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    // The guard `wait_for` returns is not `Send`: drop it here, not across an await.
    let _ = stop.wait_for(|stop| *stop).await.map(drop);
}

async fn futures_join(workers: Vec<JoinHandle<()>>) {
    for worker in workers {
        let _ = worker.await;
    }
}

fn commit(
    subscription: &dyn super::transport::Subscription,
    topic: &str,
    partition: i32,
    offset: i64,
) {
    if let Err(error) = subscription.commit(topic, partition, offset) {
        // Not fatal: the records after the last good commit are delivered again.
        tracing::warn!(%error, topic, partition, offset, "commit failed");
    }
}

/// Handles one partition's messages in order.
struct Worker {
    consumer: Resolved,
    transport: Arc<dyn Transport>,
    container: Arc<Container>,
    permits: Arc<Semaphore>,
    commits: mpsc::UnboundedSender<(String, i32, i64)>,
    stop: watch::Receiver<bool>,
}

impl Worker {
    async fn run(self, mut inbox: mpsc::Receiver<Message>) {
        while let Some(message) = inbox.recv().await {
            if *self.stop.borrow() {
                // Not handled, not committed: delivered again after a restart.
                break;
            }
            let Ok(_permit) = self.permits.clone().acquire_owned().await else {
                break;
            };
            let (topic, partition, offset) = (
                message.meta.topic.clone(),
                message.meta.partition,
                message.meta.offset,
            );
            let span = tracing::info_span!("kafka", topic, partition, offset, group = %self.consumer.group, handler = self.consumer.record.handler);
            let settled = tracing::Instrument::instrument(self.settle(message), span).await;
            if !settled {
                break;
            }
            let _ = self.commits.send((topic, partition, offset + 1));
        }
    }

    /// Handles the message, retrying and dead-lettering as its outcome asks. `false` when it
    /// was abandoned at shutdown (so it must not be committed).
    async fn settle(&self, message: Message) -> bool {
        let record = self.consumer.record;
        let mut delays = ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(record.backoff_ms.max(1)))
            .with_max_times(record.retries as usize)
            .build();
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            let outcome = self.attempt(message.clone()).await;
            let failure = match outcome {
                Outcome::Done => return true,
                Outcome::Rejected(rejection) => Failure {
                    kind: ErrorKind::Marshaling,
                    code: "MESSAGE_REJECTED",
                    message: rejection.0,
                },
                Outcome::Failed(failure) => failure,
            };
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

    /// Runs the handler in its own task, so a panic is a failure of this message only.
    async fn attempt(&self, message: Message) -> Outcome {
        let handle = self.consumer.record.handle;
        // The record's request id (or a new one) is the handler's current one.
        let request_id = message
            .header("x-request-id")
            .and_then(|id| std::str::from_utf8(id).ok())
            .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned);
        let work = crate::telemetry::request_id::scope(
            request_id,
            handle(self.container.clone(), message),
        );
        match tokio::spawn(work).await {
            Ok(outcome) => outcome,
            Err(join) => Outcome::Failed(Failure {
                kind: ErrorKind::Internal,
                code: "HANDLER_PANICKED",
                message: join.to_string(),
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
