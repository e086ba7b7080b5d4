//! Runs one `#[kafka_consumer]`: at-least-once delivery, order kept within a partition,
//! partitions handled in parallel up to the concurrency, retries with exponential backoff for
//! retryable kinds, dead-lettering for the rest, and an offset committed only once its message
//! was handled or dead-lettered.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use backon::{BackoffBuilder, ExponentialBuilder};
use tokio::sync::{Semaphore, mpsc};
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::extract::Rejection;
use super::message::{Header, Message, Outgoing};
use super::status::KafkaStatus;
use super::transport::{BoxFuture, Committer, Fetched, KafkaError, Subscription, Transport};
use crate::di::Container;
use crate::di::Location;
use crate::error::{ErrorKind, Failure};
use crate::metrics::{Meter, Series};
use crate::telemetry::REQUEST_ID_KEY;
use crate::telemetry::bounded::truncated;
use crate::telemetry::{SpanName, TraceContext, WorkContext};
use crate::transaction::{Transactions, Tx};
use crate::work::{Panicked, Tagger};

/// What a handler made of a message.
pub enum Outcome {
    /// Handled: commit.
    Done,
    /// It could not be decoded or extracted: dead-letter now.
    Rejected(Rejection),
    /// The handler failed.
    Failed(Failure),
}

/// The handler adapter the macro generates.
pub type Handle = for<'a> fn(&'a Container, &'a Message) -> BoxFuture<'a, Outcome>;

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
    /// Whether a parameter is the unit of work's `Tx`.
    pub transactional: fn() -> bool,
    /// `idempotent`: a record whose id the group's inbox holds is acknowledged without
    /// running the handler.
    pub idempotent: bool,
    /// Where the handler is written.
    pub location: Location,
}

impl ConsumerRecord {
    /// Whether each attempt runs in a transaction: the handler takes a `Tx`, or the inbox
    /// needs one.
    pub(crate) fn unit_of_work(&self) -> bool {
        self.idempotent || (self.transactional)()
    }
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

/// The id an idempotent consumer's inbox records: the event id (header `ce_id`, as the outbox
/// sends it) when it is present, UTF-8 and at most [`MAX_EVENT_ID_BYTES`], else the record's
/// `topic/partition/offset` (which a re-produced copy does not share).
pub(crate) fn inbox_id(message: &Message) -> String {
    let event_id =
        super::message::last_value(&message.headers, crate::transaction::EVENT_ID_HEADER)
            .filter(|id| !id.is_empty() && id.len() <= MAX_EVENT_ID_BYTES)
            .and_then(|id| std::str::from_utf8(id).ok());
    match event_id {
        Some(id) => id.to_owned(),
        None => format!(
            "{}/{}/{}",
            message.meta.topic, message.meta.partition, message.meta.offset
        ),
    }
}

/// The longest event id an inbox records as sent; a longer one is not trusted as an id.
pub const MAX_EVENT_ID_BYTES: usize = 200;

/// Header names added to a dead-lettered record. Their values are bounded, so a dead letter
/// is at most [`MAX_ADDED_BYTES`](self::dead_letter_headers::MAX_ADDED_BYTES) larger than its record (a topic name has at most 249 bytes).
pub mod dead_letter_headers {
    /// The failure's stable code (at most [`MAX_CODE_BYTES`]).
    pub const ERROR_CODE: &str = "x-error-code";
    /// The failure's message, its error chain (at most [`MAX_MESSAGE_BYTES`]; a longer one
    /// is cut at a character boundary and ends with `… (<full length> bytes)`).
    pub const ERROR_MESSAGE: &str = "x-error-message";
    /// The most bytes of [`ERROR_CODE`]'s value.
    pub const MAX_CODE_BYTES: usize = 128;
    /// The most bytes of [`ERROR_MESSAGE`]'s value.
    pub const MAX_MESSAGE_BYTES: usize = 4096;
    /// The most bytes the added headers (names, values and their framing) take.
    pub const MAX_ADDED_BYTES: usize = 5 * 1024;
    /// Where the record came from.
    pub const ORIGINAL_TOPIC: &str = "x-original-topic";
    /// Its partition there.
    pub const ORIGINAL_PARTITION: &str = "x-original-partition";
    /// Its offset there.
    pub const ORIGINAL_OFFSET: &str = "x-original-offset";
    /// How many times the handler ran.
    pub const ATTEMPTS: &str = "x-attempts";
}

/// Records fetched at once.
/// The least a record waits for a dependency whose breaker refused it.
const REFUSED_WAIT: Duration = Duration::from_millis(100);

const BATCH: usize = 512;
/// Batches a partition's worker may have queued.
const QUEUED: usize = 4;
/// A partition whose worker takes no records for this long (a long retry, say) is paused at
/// the source, so that it does not hold the other partitions back.
const STALL: Duration = Duration::from_millis(500);
/// Within a run of records, the position is committed after the last one, and after any
/// record handled this long since the last commit.
const COMMIT_EVERY: Duration = Duration::from_millis(100);

/// The first delay before a failed consumer is started again; it doubles up to
/// [`RESTART_MAX_DELAY`].
const RESTART_MIN_DELAY: Duration = Duration::from_millis(500);
const RESTART_MAX_DELAY: Duration = Duration::from_secs(30);
/// A member that ran this long before it failed starts the restart delays over.
const RESTART_RESET: Duration = Duration::from_secs(60);
/// The longest wait between two tries of a dead-letter write.
const DEAD_LETTER_MAX_DELAY: Duration = Duration::from_secs(30);

/// Starts the consumer; it stops fetching when `stop` is cancelled, finishes the message in
/// hand on each partition, commits, and ends. A member that fails (a panic outside a
/// handler, a fatal client error) is shown in `status` and started again after a growing
/// delay, from the committed positions: nothing is skipped.
pub(crate) fn spawn(
    consumer: Resolved,
    transport: Arc<dyn Transport>,
    container: Arc<Container>,
    status: Arc<KafkaStatus>,
    stop: CancellationToken,
) -> Result<JoinHandle<Result<(), KafkaError>>, KafkaError> {
    // The first member joins here: a consumer that cannot subscribe fails the startup.
    let subscription =
        transport.subscribe(&consumer.group, std::slice::from_ref(&consumer.topic))?;
    let counts = Counts::new(&consumer.topic, &consumer.group);
    let supervisor = Supervisor {
        source: format!("consumer {} of group {}", consumer.topic, consumer.group),
        consumer,
        transport,
        container,
        status,
        stop,
        counts,
    };
    Ok(tokio::spawn(supervisor.run(subscription)))
}

/// Runs one member of the group after another: a new one when the last one failed.
struct Supervisor {
    consumer: Resolved,
    transport: Arc<dyn Transport>,
    container: Arc<Container>,
    status: Arc<KafkaStatus>,
    stop: CancellationToken,
    counts: Counts,
    /// The key of this consumer's problems in `status`.
    source: String,
}

impl Supervisor {
    async fn run(self, first: Box<dyn Subscription>) -> Result<(), KafkaError> {
        let delays = || {
            ExponentialBuilder::default()
                .with_min_delay(RESTART_MIN_DELAY)
                .with_max_delay(RESTART_MAX_DELAY)
                .with_jitter()
                .without_max_times()
                .build()
        };
        let mut restart_delays = delays();
        let mut subscription = first;
        loop {
            let started = Instant::now();
            let fetcher = self.member(subscription);
            // A task of its own: a panic anywhere in the member (fetch loop, dispatch) ends
            // this member only.
            let failure = match tokio::spawn(fetcher.run()).await {
                Ok(Ok(())) => return Ok(()),
                Ok(Err(error)) => error.to_string(),
                Err(join) if join.is_panic() => {
                    format!("panicked: {}", Panicked::of(join.into_panic()))
                }
                Err(join) => join.to_string(),
            };
            if self.stop.is_cancelled() {
                return Ok(());
            }
            if started.elapsed() >= RESTART_RESET {
                restart_delays = delays();
            }
            self.counts.restarts.increment(1);
            subscription = loop {
                let delay = restart_delays.next().unwrap_or(RESTART_MAX_DELAY);
                tracing::error!(topic = %self.consumer.topic, group = %self.consumer.group, error = %failure, ?delay, "Kafka consumer failed; starting it again");
                self.status
                    .set(&self.source, format!("not running ({failure}); restarting"));
                if sleep_or_stop(&self.stop, delay).await {
                    return Ok(());
                }
                let topics = std::slice::from_ref(&self.consumer.topic);
                match self.transport.subscribe(&self.consumer.group, topics) {
                    Ok(subscription) => break subscription,
                    Err(error) => tracing::error!(%error, "cannot subscribe again"),
                }
            };
            self.status.clear(&self.source);
            tracing::info!(topic = %self.consumer.topic, group = %self.consumer.group, "Kafka consumer started again");
        }
    }

    /// A group member over `subscription`.
    fn member(&self, subscription: Box<dyn Subscription>) -> Fetcher {
        let (ready, readiness) = mpsc::unbounded_channel();
        Fetcher {
            worker: Worker {
                permits: Arc::new(Semaphore::new(self.consumer.record.concurrency.max(1))),
                committer: subscription.committer(),
                consumer: self.consumer.clone(),
                transport: self.transport.clone(),
                container: self.container.clone(),
                status: self.status.clone(),
                stop: self.stop.clone(),
                lane: Arc::default(),
                ready,
                counts: self.counts.clone(),
                // Checked at startup: a consumer with a unit of work depends on it.
                transactions: self
                    .consumer
                    .record
                    .unit_of_work()
                    .then(|| self.container.get::<Transactions>())
                    .flatten(),
            },
            subscription,
            lanes: HashMap::new(),
            workers: JoinSet::new(),
            readiness,
        }
    }
}

/// Sleeps `delay`; `true` if shutdown began meanwhile.
async fn sleep_or_stop(stop: &CancellationToken, delay: Duration) -> bool {
    tokio::select! {
        () = tokio::time::sleep(delay) => false,
        () = stop.cancelled() => true,
    }
}

/// One partition's worker, as the fetch loop sees it.
struct Lane {
    queue: mpsc::Sender<Vec<Message>>,
    state: Arc<LaneState>,
    /// Records that did not fit in the queue; the partition is paused while there are any.
    held: Vec<Message>,
}

/// What the fetch loop and a partition's worker share.
#[derive(Default)]
struct LaneState {
    partition: i32,
    /// The partition is paused: the worker says when it has room again.
    paused: AtomicBool,
    /// The partition is no longer this member's (a rebalance gave it to another, or the
    /// member failed): what is queued is dropped, to be delivered again from the commit.
    revoked: AtomicBool,
    /// Wakes a worker waiting (a retry's delay) when the partition is revoked.
    released: tokio::sync::Notify,
}

impl LaneState {
    /// Marks the partition as no longer this member's, and wakes its worker if it waits.
    fn release(&self) {
        self.revoked.store(true, Ordering::SeqCst);
        self.released.notify_waiters();
    }
}

/// Fetches records and hands each partition's to its own worker, in order.
struct Fetcher {
    subscription: Box<dyn Subscription>,
    /// What every worker starts from.
    worker: Worker,
    /// One topic per consumer: its partitions are told apart by number.
    lanes: HashMap<i32, Lane>,
    workers: JoinSet<()>,
    /// Paused partitions whose worker has room again.
    readiness: mpsc::UnboundedReceiver<i32>,
}

impl Fetcher {
    /// Runs until shutdown (`Ok`) or until the member fails (`Err`): a partition's worker
    /// panicked, or the client failed for good.
    async fn run(mut self) -> Result<(), KafkaError> {
        let fetching = self.worker.stop.clone();
        let mut failure = loop {
            let fetched = tokio::select! {
                biased;
                () = fetching.cancelled() => break None,
                Some(partition) = self.readiness.recv() => {
                    self.resume(partition);
                    continue;
                }
                Some(ended) = self.workers.join_next() => match worker_failure(ended) {
                    Some(failure) => break Some(failure),
                    None => continue,
                },
                fetched = self.subscription.next(BATCH) => fetched,
            };
            match fetched {
                None => break None,
                Some(Fetched::Records(records)) => self.dispatch(records).await,
                Some(Fetched::Revoked(partitions)) => self.revoke(partitions),
                Some(Fetched::Failed(error)) => break Some(error),
            }
        };
        // Stop fetching; each worker finishes the message in hand and commits it; on a
        // failure, what is queued is dropped (the next member gets it from the commit).
        for lane in self.lanes.values() {
            if failure.is_some() {
                lane.state.release();
            }
        }
        self.lanes.clear();
        while let Some(ended) = self.workers.join_next().await {
            if let Some(error) = worker_failure(ended) {
                failure.get_or_insert(error);
            }
        }
        // Dropping the subscription leaves the group (librdkafka commits what was stored).
        drop(self.subscription);
        let consumer = &self.worker.consumer;
        match failure {
            None => {
                tracing::info!(topic = %consumer.topic, group = %consumer.group, "consumer stopped");
                Ok(())
            }
            Some(error) => Err(error),
        }
    }

    /// Queues each partition's records for its worker. A worker that has no room waits for
    /// it, up to [`STALL`]; then its partition is paused and the records held back.
    async fn dispatch(&mut self, records: Vec<Message>) {
        let mut by_partition: HashMap<i32, Vec<Message>> = HashMap::new();
        for message in records {
            by_partition
                .entry(message.meta.partition)
                .or_default()
                .push(message);
        }
        for (partition, records) in by_partition {
            let lane = self.lanes.entry(partition).or_insert_with(|| {
                let (queue, inbox) = mpsc::channel(QUEUED);
                let state = Arc::new(LaneState {
                    partition,
                    ..LaneState::default()
                });
                let worker = Worker {
                    lane: state.clone(),
                    ..self.worker.clone()
                };
                self.workers.spawn(worker.run(inbox));
                Lane {
                    queue,
                    state,
                    held: Vec::new(),
                }
            });
            if !lane.held.is_empty() {
                // Fetched before the pause took effect: after what is held.
                lane.held.extend(records);
                continue;
            }
            let records = match lane.queue.try_send(records) {
                Ok(()) => continue,
                // A worker only goes away at shutdown, which the loop is about to see.
                Err(mpsc::error::TrySendError::Closed(_)) => continue,
                Err(mpsc::error::TrySendError::Full(records)) => records,
            };
            let stop = self.worker.stop.clone();
            tokio::select! {
                room = lane.queue.reserve() => {
                    if let Ok(room) = room {
                        room.send(records);
                    }
                }
                () = tokio::time::sleep(STALL) => {
                    let topic = &self.worker.consumer.topic;
                    match self.subscription.pause(topic, partition) {
                        Ok(()) => tracing::info!(partition, "partition paused: its handler is behind"),
                        Err(error) => tracing::warn!(%error, partition, "cannot pause a partition"),
                    }
                    // Held even if the pause failed: the queue takes them when it has room.
                    lane.held = records;
                    lane.state.paused.store(true, Ordering::SeqCst);
                    // The worker may have made room just before it could see the pause.
                    let _ = self.worker.ready.send(partition);
                }
                // Not handled, not committed: delivered again.
                () = stop.cancelled() => return,
            }
        }
    }

    /// Hands a paused partition's held records to its worker, once it has room for them,
    /// and fetches the partition again.
    fn resume(&mut self, partition: i32) {
        let Some(lane) = self.lanes.get_mut(&partition) else {
            return;
        };
        if lane.held.is_empty() {
            return;
        }
        match lane.queue.try_send(std::mem::take(&mut lane.held)) {
            Ok(()) | Err(mpsc::error::TrySendError::Closed(_)) => {}
            Err(mpsc::error::TrySendError::Full(records)) => {
                // Still no room: the worker says so again after its next records.
                lane.held = records;
                return;
            }
        }
        lane.state.paused.store(false, Ordering::SeqCst);
        let topic = &self.worker.consumer.topic;
        match self.subscription.resume(topic, partition) {
            Ok(()) => tracing::info!(partition, "partition resumed"),
            Err(error) => tracing::warn!(%error, partition, "cannot resume a partition"),
        }
    }

    /// Drops the revoked partitions' queues: their records are the new owner's now.
    fn revoke(&mut self, partitions: Vec<(String, i32)>) {
        let topic = &self.worker.consumer.topic;
        for (_, partition) in partitions.iter().filter(|(t, _)| t == topic) {
            if let Some(lane) = self.lanes.remove(partition) {
                lane.state.release();
            }
        }
        // Their workers end after the record in hand; the fetch loop reaps them.
        tracing::info!(%topic, ?partitions, "partitions revoked");
    }
}

/// Fault injection for the framework's own tests of consumer restarts: not public API.
#[doc(hidden)]
pub mod injected {
    use std::collections::HashSet;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Mutex, OnceLock};

    static ARMED: AtomicBool = AtomicBool::new(false);

    fn topics() -> std::sync::MutexGuard<'static, HashSet<String>> {
        static TOPICS: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();
        TOPICS
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// The next run of records a partition's worker of `topic` takes panics before it is
    /// handled, as a bug outside the handler would.
    pub fn panic_next_run(topic: &str) {
        topics().insert(topic.to_owned());
        ARMED.store(true, Ordering::SeqCst);
    }

    pub(super) fn panic_if_armed(topic: &str) {
        if ARMED.load(Ordering::Relaxed) && topics().remove(topic) {
            panic!("injected panic in a partition's worker of `{topic}`");
        }
    }
}

/// Why a partition's worker that ended failed, if it did (it panicked).
fn worker_failure(ended: Result<(), tokio::task::JoinError>) -> Option<KafkaError> {
    let join = ended.err()?;
    let reason = if join.is_panic() {
        Panicked::of(join.into_panic()).message
    } else {
        join.to_string()
    };
    Some(KafkaError::Broker(format!(
        "a partition's worker panicked: {reason}"
    )))
}

/// Handles one partition's messages in order.
#[derive(Clone)]
struct Worker {
    consumer: Resolved,
    transport: Arc<dyn Transport>,
    container: Arc<Container>,
    status: Arc<KafkaStatus>,
    permits: Arc<Semaphore>,
    committer: Arc<dyn Committer>,
    stop: CancellationToken,
    lane: Arc<LaneState>,
    /// Tells the fetch loop this paused partition has room again.
    ready: mpsc::UnboundedSender<i32>,
    counts: Counts,
    /// Where each attempt's transaction comes from, when the consumer has a unit of work.
    transactions: Option<Arc<Transactions>>,
}

/// Consumed records by outcome: `kafka_messages_total` and `kafka_message_duration_seconds`
/// by topic, group and outcome (`handled`, `retried`, `dead_lettered`). A duration is the
/// time from the start of the attempt that ended in the outcome (or from taking a record that
/// was never handed over) to the outcome: a dead letter's includes its write.
static MESSAGES: Meter = Meter::new(
    "kafka_messages_total",
    "kafka_message_duration_seconds",
    &["topic", "group", "outcome"],
);

/// The consumer's metrics, looked up once: recording is a few atomic updates. Besides
/// [`MESSAGES`], `kafka_dead_letter_errors_total` (a dead-letter write that failed; it is
/// tried again), `kafka_consumer_restarts_total` (a member that failed and was started
/// again) and `kafka_inbox_duplicates_total` (a record an idempotent consumer had handled
/// already) by topic and group.
#[derive(Clone)]
struct Counts {
    handled: Series,
    retried: Series,
    dead_lettered: Series,
    dead_letter_errors: metrics::Counter,
    restarts: metrics::Counter,
    duplicates: metrics::Counter,
}

impl Counts {
    fn new(topic: &str, group: &str) -> Counts {
        let labels = [("topic", topic.to_owned()), ("group", group.to_owned())];
        Counts {
            handled: MESSAGES.series(&[topic, group, "handled"]),
            retried: MESSAGES.series(&[topic, group, "retried"]),
            dead_lettered: MESSAGES.series(&[topic, group, "dead_lettered"]),
            dead_letter_errors: metrics::counter!("kafka_dead_letter_errors_total", &labels),
            restarts: metrics::counter!("kafka_consumer_restarts_total", &labels),
            duplicates: metrics::counter!("kafka_inbox_duplicates_total", &labels),
        }
    }
}

impl Worker {
    async fn run(self, mut inbox: mpsc::Receiver<Vec<Message>>) {
        let mut batches = Vec::new();
        loop {
            if self.lane.paused.load(Ordering::SeqCst) {
                // It has taken everything queued: the held records can come.
                let _ = self.ready.send(self.lane.partition);
            }
            // Everything queued at once: a busy partition costs one wake-up per batch.
            if inbox.recv_many(&mut batches, QUEUED).await == 0 {
                return;
            }
            // Partitions handled at once are bounded per run of records, not per record.
            let Ok(_permit) = self.permits.acquire().await else {
                return;
            };
            injected::panic_if_armed(&self.consumer.topic);
            if !self.handle_run(batches.drain(..).flatten()).await {
                return;
            }
        }
    }

    /// Handles a run of records in order, committing as it goes; `false` if it stopped early
    /// (shutdown, revocation).
    async fn handle_run(&self, records: impl Iterator<Item = Message>) -> bool {
        // The position after the last handled record, not committed yet.
        let mut handled = None;
        let mut committed_at = Instant::now();
        let mut completed = true;
        for message in records {
            if self.lane.revoked.load(Ordering::Relaxed) || self.stop.is_cancelled() {
                // Not handled, not committed: delivered again, here or to the new owner.
                completed = false;
                break;
            }
            let offset = message.meta.offset;
            if !self.settle_guarded(&message).await {
                completed = false;
                break;
            }
            handled = Some(offset + 1);
            // A slow run still commits as it goes.
            if committed_at.elapsed() >= COMMIT_EVERY {
                self.commit(handled.take());
                committed_at = Instant::now();
            }
        }
        self.commit(handled);
        completed
    }

    /// Settles the message; a panic on the way (outside the handler, whose panics are its
    /// failures) dead-letters it, so that one odd record never stops its partition.
    async fn settle_guarded(&self, message: &Message) -> bool {
        let attempts = AtomicU32::new(0);
        let taken = Instant::now();
        let span = self.record_span(message);
        let settled = self.settle_in_context(message, span.clone(), &attempts);
        match crate::work::catch(settled).await {
            Ok(settled) => settled,
            Err(panic) => {
                let failure = Failure {
                    kind: ErrorKind::Internal,
                    code: "CONSUMER_PANICKED",
                    message: format!("the consumer panicked outside the handler: {panic}"),
                    refused_for: None,
                };
                let attempts = attempts.load(Ordering::Relaxed);
                // In the record's span (open while `span` is held): its error and the dead
                // letter's logs are the record's, not the partition worker's.
                self.dead_letter(message, &failure, attempts, taken)
                    .instrument(span)
                    .await
            }
        }
    }

    /// The span of the record's unit of work, after OpenTelemetry's messaging conventions for
    /// a consumer processing records one at a time (`process {topic}`).
    fn record_span(&self, message: &Message) -> tracing::Span {
        let handler = self.consumer.record.handler;
        let topic = self.consumer.topic.as_str();
        tracing::info_span!(
            "kafka",
            otel.name = %SpanName("process", Some(topic)),
            otel.kind = "consumer",
            otel.status_code = tracing::field::Empty,
            error.type = tracing::field::Empty,
            messaging.system = "kafka",
            messaging.operation.type = "process",
            messaging.operation.name = "process",
            messaging.destination.name = topic,
            messaging.destination.partition.id = %self.lane.partition,
            messaging.consumer.group.name = %self.consumer.group,
            messaging.kafka.offset = message.meta.offset,
            handler,
            module = crate::telemetry::module_of(handler),
            request_id = tracing::field::Empty,
            trace_id = tracing::field::Empty,
            span_id = tracing::field::Empty,
        )
    }

    /// Settles the message within its work context: its `span` ([`Worker::record_span`]),
    /// request id, trace and Sentry scope.
    async fn settle_in_context(
        &self,
        message: &Message,
        span: tracing::Span,
        attempts: &AtomicU32,
    ) -> bool {
        // The record's request id and trace, when it has them, are the handler's: its span
        // is a child of the producer's (and linked to it).
        let handler = self.consumer.record.handler;
        let producer = crate::telemetry::extract(&RecordHeaders(message));
        TraceContext::link(&span, &producer, Vec::new());
        let context = WorkContext::begin(message.header(REQUEST_ID_KEY), producer, &span);
        let tags = |tag: &mut Tagger<'_>| {
            tag("topic", &self.consumer.topic);
            tag("group", &self.consumer.group);
            tag("handler", handler);
            tag("module", crate::telemetry::module_of(handler));
        };
        crate::work::unit(context, span, tags, self.settle(message, attempts)).await
    }

    /// Waits `delay` (a retry's); `true` if shutdown began or the partition was revoked
    /// meanwhile: the record in hand is then given up, not committed, and comes again.
    async fn pause(&self, delay: Duration) -> bool {
        let released = self.lane.released.notified();
        tokio::pin!(released);
        released.as_mut().enable();
        if self.lane.revoked.load(Ordering::SeqCst) {
            return true;
        }
        let stop = self.stop.clone();
        tokio::select! {
            () = tokio::time::sleep(delay) => false,
            () = released => true,
            () = stop.cancelled() => true,
        }
    }

    /// Records `next` as the partition's position: librdkafka commits it with the next
    /// periodic commit, on revocation and on close.
    fn commit(&self, next: Option<i64>) {
        let Some(next) = next else { return };
        let partition = self.lane.partition;
        let Err(error) = self.committer.commit(&self.consumer.topic, partition, next) else {
            return;
        };
        if self.lane.revoked.load(Ordering::Relaxed) {
            // The new owner handles those records again: at least once.
            tracing::debug!(%error, partition, next, "not committed: partition revoked");
        } else {
            // Not fatal: the records after the last good commit come again.
            tracing::warn!(%error, partition, next, "commit failed");
        }
    }

    /// Handles the message, retrying and dead-lettering as its outcome asks; counts the
    /// handler's runs in `attempts`. `false` when it was given up at shutdown or revocation
    /// (so it must not be committed).
    async fn settle(&self, message: &Message, attempts: &AtomicU32) -> bool {
        if let Some(unreadable) = &message.unreadable {
            let failure = Failure {
                kind: ErrorKind::Marshaling,
                code: "MESSAGE_UNREADABLE",
                message: unreadable.reason.clone(),
                refused_for: None,
            };
            return self.dead_letter(message, &failure, 0, Instant::now()).await;
        }
        let record = self.consumer.record;
        // Built at the first failure only: most records succeed at once.
        let mut delays = None;
        loop {
            let attempt = attempts.fetch_add(1, Ordering::Relaxed) + 1;
            let started = Instant::now();
            let failure = match self.attempt(message).await {
                Outcome::Done => {
                    self.counts.handled.record(started.elapsed());
                    return true;
                }
                Outcome::Rejected(rejection) => Failure {
                    kind: ErrorKind::Marshaling,
                    code: "MESSAGE_REJECTED",
                    message: rejection.0,
                    refused_for: None,
                },
                Outcome::Failed(failure) => failure,
            }
            .bounded();
            // A dependency's breaker refused it: the record waits for the dependency, as
            // long as the breaker stays open, without spending a retry (an outage would
            // otherwise dead-letter every record that needs it). Shutdown or a revocation
            // ends the wait, uncommitted.
            if let Some(open_for) = failure.refused_for {
                // A refusal while a breaker's trial is under way says 0.
                let open_for = open_for.max(REFUSED_WAIT);
                tracing::debug!(code = failure.code, error = %failure.message, ?open_for, "a dependency is down; the record waits for it");
                if self.pause(open_for).await {
                    return false;
                }
                continue;
            }
            let delays = delays.get_or_insert_with(|| {
                ExponentialBuilder::default()
                    .with_min_delay(Duration::from_millis(record.backoff_ms.max(1)))
                    .with_max_times(record.retries as usize)
                    .build()
            });
            if failure.kind.is_retryable()
                && let Some(delay) = delays.next()
            {
                tracing::warn!(code = failure.code, error = %failure.message, attempts = attempt, ?delay, "handler failed; retrying");
                self.counts.retried.record(started.elapsed());
                if self.pause(delay).await {
                    return false;
                }
                continue;
            }
            return self.dead_letter(message, &failure, attempt, started).await;
        }
    }

    /// Runs the handler once (its extractors included), in a transaction of its own when the
    /// consumer has a unit of work: committed when the handler succeeds, rolled back
    /// otherwise. An idempotent consumer first records the message's id in its group's inbox,
    /// in that transaction; an id already there is a redelivery, acknowledged unhandled.
    async fn attempt(&self, message: &Message) -> Outcome {
        let Some(tx) = self.transactions.as_ref().map(|t| t.begin()) else {
            return self.handle(message).await;
        };
        let outcome = tx.clone().scope(self.claim_and_handle(&tx, message)).await;
        match tx.finish(matches!(outcome, Outcome::Done)).await {
            Ok(()) => outcome,
            Err(error) => Outcome::Failed(Failure::of(&error)),
        }
    }

    /// An idempotent consumer's claim of the message in its group's inbox, then the handler
    /// unless the message was handled before.
    async fn claim_and_handle(&self, tx: &Tx, message: &Message) -> Outcome {
        if self.consumer.record.idempotent {
            let id = inbox_id(message);
            match tx.claim(&self.consumer.group, &id).await {
                Ok(true) => {}
                Ok(false) => {
                    tracing::info!(message_id = %id, "message already handled; acknowledged without running the handler");
                    self.counts.duplicates.increment(1);
                    return Outcome::Done;
                }
                Err(error) => return Outcome::Failed(Failure::of(&error)),
            }
        }
        self.handle(message).await
    }

    /// Runs the handler once (its extractors included); a panic is a failure of this message
    /// only.
    async fn handle(&self, message: &Message) -> Outcome {
        let handle = self.consumer.record.handle;
        // The adapter itself is called inside: a panic before its future exists is caught too.
        match crate::work::catch(async { handle(&self.container, message).await }).await {
            Ok(outcome) => outcome,
            Err(panic) => Outcome::Failed(Failure {
                kind: ErrorKind::Internal,
                code: "HANDLER_PANICKED",
                message: format!("the handler panicked: {panic}"),
                refused_for: None,
            }),
        }
    }

    /// Writes the message to the dead-letter topic, trying the write again (with growing
    /// delays) until it succeeds; `false` if shutdown or a revocation came first (then it is
    /// not committed and comes back). While a write fails, the `kafka` health unit is down with the reason,
    /// and `kafka_dead_letter_errors_total` counts each failed try. `started`: when the
    /// attempt that failed began (the metric's duration).
    async fn dead_letter(
        &self,
        message: &Message,
        failure: &Failure,
        attempts: u32,
        started: Instant,
    ) -> bool {
        tracing::error!(code = failure.code, error = %failure.message, attempts, dead_letter = %self.consumer.dead_letter, "message dead-lettered");
        crate::telemetry::record_error(&tracing::Span::current(), failure.code);
        crate::work::report_failure(
            &format!(
                "message dead-lettered to {} after {attempts} attempt(s)",
                self.consumer.dead_letter
            ),
            failure.code,
            &failure.message,
        );
        let record = dead_letter_record(&self.consumer.dead_letter, message, failure, attempts);
        let source = format!(
            "dead letters of {}/{}",
            self.consumer.topic, self.lane.partition
        );
        let mut delay = Duration::from_millis(self.consumer.record.backoff_ms.max(1));
        let mut tries = 0u32;
        loop {
            tries += 1;
            let original = message.unreadable.as_ref().and_then(|u| u.headers.as_ref());
            match self
                .transport
                .send_dead_letter(record.clone(), original)
                .await
            {
                Ok(_) => {
                    self.counts.dead_lettered.record(started.elapsed());
                    if tries > 1 {
                        self.status.clear(&source);
                        tracing::info!(tries, "dead letter written");
                    }
                    return true;
                }
                Err(error) => {
                    self.counts.dead_letter_errors.increment(1);
                    self.status.set(
                        &source,
                        format!(
                            "cannot write to `{}` (partition blocked at offset {}): {error}",
                            self.consumer.dead_letter, message.meta.offset
                        ),
                    );
                    tracing::error!(%error, tries, ?delay, offset = message.meta.offset, "cannot write to the dead-letter topic; trying again");
                    if self.pause(delay).await {
                        return false;
                    }
                    delay = (delay * 2).min(DEAD_LETTER_MAX_DELAY);
                }
            }
        }
    }
}

/// The dead letter of `message`: its key, value and headers as they were (a null value kept
/// apart from an empty one), then the added headers, whose values are bounded. The headers of
/// a record the transport could not read whole go with it in the transport's own form
/// ([`Transport::send_dead_letter`]); then only the added ones are here.
fn dead_letter_record(
    topic: &str,
    message: &Message,
    failure: &Failure,
    attempts: u32,
) -> Outgoing {
    use dead_letter_headers as h;
    let mut headers = Vec::with_capacity(message.headers.len() + 6);
    if message
        .unreadable
        .as_ref()
        .is_none_or(|u| u.headers.is_none())
    {
        headers.extend_from_slice(&message.headers);
    }
    headers.extend([
        Header::new(
            h::ERROR_CODE,
            truncated(failure.code, h::MAX_CODE_BYTES).as_ref(),
        ),
        Header::new(
            h::ERROR_MESSAGE,
            truncated(&failure.message, h::MAX_MESSAGE_BYTES).as_ref(),
        ),
        Header::new(h::ORIGINAL_TOPIC, message.meta.topic.as_str()),
        Header::new(h::ORIGINAL_PARTITION, message.meta.partition.to_string()),
        Header::new(h::ORIGINAL_OFFSET, message.meta.offset.to_string()),
        Header::new(h::ATTEMPTS, attempts.to_string()),
    ]);
    Outgoing {
        topic: topic.to_owned(),
        key: message.key.clone(),
        payload: message.payload.clone(),
        headers,
    }
}
/// A record's headers as OpenTelemetry's propagators read them (the last value of a name, as
/// [`Message::header`]); a value that is not UTF-8 counts as absent.
struct RecordHeaders<'a>(&'a Message);

impl opentelemetry::propagation::Extractor for RecordHeaders<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .header(key)
            .and_then(|value| std::str::from_utf8(value).ok())
    }

    fn keys(&self) -> Vec<&str> {
        let names = self.0.headers.iter();
        names
            .filter_map(|h| std::str::from_utf8(&h.name).ok())
            .collect()
    }
}
