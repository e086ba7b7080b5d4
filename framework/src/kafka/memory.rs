//! The in-process broker behind `KAFKA_BROKERS=memory`: partitioned topics, consumer groups
//! with committed offsets, no auto-created topics, the same consumer semantics as a real
//! broker. Brokers are per process and named (`memory`, `memory://<name>`), so an app that
//! restarts in the same process finds its topics and committed offsets again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use tokio::sync::Notify;

use super::message::{Message, Metadata, Outgoing};
use super::transport::{BoxFuture, Committer, KafkaError, Subscription, Transport};

/// Partitions of every topic the in-process broker creates.
const PARTITIONS: usize = 3;

struct Stored {
    key: Option<Vec<u8>>,
    payload: Option<Vec<u8>>,
    headers: Vec<(String, Vec<u8>)>,
    timestamp: i64,
}

#[derive(Default)]
struct State {
    topics: HashMap<String, Vec<Vec<Stored>>>,
    /// (group, topic, partition) -> the next offset to read.
    committed: HashMap<(String, String, i32), i64>,
}

/// An in-process broker.
#[derive(Default)]
pub struct MemoryBroker {
    state: Mutex<State>,
    appended: Notify,
}

impl MemoryBroker {
    /// The process-wide broker called `name`.
    pub fn named(name: &str) -> Arc<MemoryBroker> {
        static BROKERS: OnceLock<Mutex<HashMap<String, Arc<MemoryBroker>>>> = OnceLock::new();
        let brokers = BROKERS.get_or_init(Default::default);
        let mut brokers = brokers.lock().unwrap_or_else(|e| e.into_inner());
        brokers.entry(name.to_owned()).or_default().clone()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The committed position (next offset to read) of `group` in `topic`/`partition`.
    pub fn committed(&self, group: &str, topic: &str, partition: i32) -> Option<i64> {
        self.state()
            .committed
            .get(&(group.to_owned(), topic.to_owned(), partition))
            .copied()
    }
}

impl MemoryBroker {
    /// Every record of `topic`, partition by partition: for tests and tools.
    pub fn read(&self, topic: &str) -> Vec<Message> {
        let state = self.state();
        let Some(partitions) = state.topics.get(topic) else {
            return Vec::new();
        };
        partitions
            .iter()
            .enumerate()
            .flat_map(|(partition, log)| {
                log.iter().enumerate().map(move |(offset, stored)| Message {
                    meta: Metadata {
                        topic: topic.to_owned(),
                        partition: partition as i32,
                        offset: offset as i64,
                        timestamp: Some(stored.timestamp),
                    },
                    key: stored.key.clone(),
                    payload: stored.payload.clone(),
                    headers: stored.headers.clone(),
                })
            })
            .collect()
    }
}

/// FNV-1a: a stable hash, so one key always lands in one partition.
fn partition_of(key: Option<&[u8]>, partitions: usize, fallback: usize) -> usize {
    match key {
        Some(key) => {
            let hash = key.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
                (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3)
            });
            (hash % partitions as u64) as usize
        }
        None => fallback % partitions,
    }
}

impl Transport for Arc<MemoryBroker> {
    fn send(&self, record: Outgoing) -> BoxFuture<'_, Result<(i32, i64), KafkaError>> {
        let result = {
            let mut state = self.state();
            let total: usize = state.topics.values().flatten().map(Vec::len).sum();
            match state.topics.get_mut(&record.topic) {
                None => Err(KafkaError::UnknownTopic(record.topic)),
                Some(partitions) => {
                    let partition = partition_of(record.key.as_deref(), partitions.len(), total);
                    let log = &mut partitions[partition];
                    log.push(Stored {
                        key: record.key,
                        payload: record.payload,
                        headers: record.headers,
                        timestamp: chrono::Utc::now().timestamp_millis(),
                    });
                    Ok((partition as i32, log.len() as i64 - 1))
                }
            }
        };
        if result.is_ok() {
            self.appended.notify_waiters();
        }
        Box::pin(std::future::ready(result))
    }

    fn ensure_topics<'a>(&'a self, topics: &'a [String]) -> BoxFuture<'a, Result<(), KafkaError>> {
        let mut state = self.state();
        for topic in topics {
            state
                .topics
                .entry(topic.clone())
                .or_insert_with(|| (0..PARTITIONS).map(|_| Vec::new()).collect());
        }
        Box::pin(std::future::ready(Ok(())))
    }

    fn missing_topics<'a>(
        &'a self,
        topics: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<String>, KafkaError>> {
        let state = self.state();
        let missing = topics
            .iter()
            .filter(|t| !state.topics.contains_key(*t))
            .cloned()
            .collect();
        Box::pin(std::future::ready(Ok(missing)))
    }

    fn subscribe(
        &self,
        group: &str,
        topics: &[String],
    ) -> Result<Box<dyn Subscription>, KafkaError> {
        let state = self.state();
        let mut positions = Vec::new();
        for topic in topics {
            let partitions = state
                .topics
                .get(topic)
                .ok_or_else(|| KafkaError::UnknownTopic(topic.clone()))?;
            for partition in 0..partitions.len() as i32 {
                let key = (group.to_owned(), topic.clone(), partition);
                let next = state.committed.get(&key).copied().unwrap_or(0);
                positions.push((topic.clone(), partition, next));
            }
        }
        Ok(Box::new(MemorySubscription {
            broker: self.clone(),
            group: group.to_owned(),
            positions,
            turn: 0,
        }))
    }

    fn ping(&self) -> BoxFuture<'_, Result<(), KafkaError>> {
        Box::pin(std::future::ready(Ok(())))
    }
}

struct MemorySubscription {
    broker: Arc<MemoryBroker>,
    group: String,
    /// (topic, partition, next offset to hand out).
    positions: Vec<(String, i32, i64)>,
    /// Where the next scan starts, so no partition starves the others.
    turn: usize,
}

impl MemorySubscription {
    fn take(&mut self) -> Option<Message> {
        let state = self.broker.state();
        let count = self.positions.len();
        for step in 0..count {
            let index = (self.turn + step) % count;
            let (topic, partition, next) = &mut self.positions[index];
            let Some(stored) = state
                .topics
                .get(topic.as_str())
                .and_then(|p| p[*partition as usize].get(*next as usize))
            else {
                continue;
            };
            let message = Message {
                meta: Metadata {
                    topic: topic.clone(),
                    partition: *partition,
                    offset: *next,
                    timestamp: Some(stored.timestamp),
                },
                key: stored.key.clone(),
                payload: stored.payload.clone(),
                headers: stored.headers.clone(),
            };
            *next += 1;
            self.turn = index + 1;
            return Some(message);
        }
        None
    }
}

impl Subscription for MemorySubscription {
    fn next(&mut self) -> BoxFuture<'_, Option<Message>> {
        Box::pin(async move {
            loop {
                let broker = self.broker.clone();
                // Registered before looking, so an append in between still wakes us.
                let appended = broker.appended.notified();
                tokio::pin!(appended);
                appended.as_mut().enable();
                if let Some(message) = self.take() {
                    return Some(message);
                }
                appended.await;
            }
        })
    }

    fn committer(&self) -> Arc<dyn Committer> {
        Arc::new(MemoryCommitter {
            broker: self.broker.clone(),
            group: self.group.clone(),
        })
    }
}

struct MemoryCommitter {
    broker: Arc<MemoryBroker>,
    group: String,
}

impl Committer for MemoryCommitter {
    fn commit(&self, topic: &str, partition: i32, offset: i64) -> Result<(), KafkaError> {
        let mut state = self.broker.state();
        let key = (self.group.clone(), topic.to_owned(), partition);
        state.committed.insert(key, offset);
        Ok(())
    }
}
