//! The in-process broker behind `KAFKA_BROKERS=memory`: partitioned topics, consumer groups
//! whose members share the partitions and commit offsets, no auto-created topics, the same
//! consumer semantics as a real broker. Brokers are per process and named (`memory`, `memory://<name>`), so an app that
//! restarts in the same process finds its topics and committed offsets again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use tokio::sync::Notify;

use super::message::{Header, Message, Metadata, Outgoing};
use super::transport::{BoxFuture, Committer, Fetched, KafkaError, Subscription, Transport};

/// Partitions of every topic the in-process broker creates.
const PARTITIONS: usize = 3;

struct Stored {
    key: Option<Vec<u8>>,
    payload: Option<Vec<u8>>,
    headers: Vec<Header>,
    timestamp: i64,
}

/// The members of a group consuming one topic. Partition `p` is member `p % len`'s.
#[derive(Default)]
struct Members {
    ids: Vec<u64>,
    /// Changes with every join and leave.
    generation: u64,
}

#[derive(Default)]
struct State {
    topics: HashMap<String, Vec<Vec<Stored>>>,
    /// (group, topic, partition) -> the next offset to read.
    committed: HashMap<(String, String, i32), i64>,
    /// (group, topic) -> its members.
    groups: HashMap<(String, String), Members>,
    last_member: u64,
}

impl State {
    fn owner(&self, group: &str, topic: &str, partition: i32) -> Option<u64> {
        let members = self.groups.get(&(group.to_owned(), topic.to_owned()))?;
        let len = members.ids.len();
        (len > 0).then(|| members.ids[partition as usize % len])
    }
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
    /// Deletes `topic` and its records, as an operator may: for tests of a missing topic.
    pub fn delete_topic(&self, topic: &str) {
        self.state().topics.remove(topic);
    }

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
                    unreadable: None,
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
        let mut state = self.state();
        if let Some(topic) = topics.iter().find(|t| !state.topics.contains_key(*t)) {
            return Err(KafkaError::UnknownTopic(topic.clone()));
        }
        state.last_member += 1;
        let member = state.last_member;
        for topic in topics {
            let members = state
                .groups
                .entry((group.to_owned(), topic.clone()))
                .or_default();
            members.ids.push(member);
            members.generation += 1;
        }
        drop(state);
        // The other members take the rebalance at their next look.
        self.appended.notify_waiters();
        Ok(Box::new(MemorySubscription {
            broker: self.clone(),
            group: group.to_owned(),
            member,
            topics: topics.iter().map(|t| (t.clone(), 0)).collect(),
            positions: Vec::new(),
            paused: Vec::new(),
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
    member: u64,
    /// (topic, the group generation the assignment was computed in).
    topics: Vec<(String, u64)>,
    /// (topic, partition, next offset to hand out) of the partitions assigned to this member.
    positions: Vec<(String, i32, i64)>,
    /// Partitions not handed out until resumed.
    paused: Vec<(String, i32)>,
    /// Where the next scan starts, so no partition starves the others.
    turn: usize,
}

impl MemorySubscription {
    /// Takes up a rebalance: keeps the partitions still assigned where they are, starts the
    /// new ones at the committed offset; returns the revoked ones.
    fn rebalance(&mut self, state: &State) -> Vec<(String, i32)> {
        let mut revoked = Vec::new();
        for (topic, seen) in &mut self.topics {
            let key = (self.group.clone(), topic.clone());
            let generation = state.groups.get(&key).map_or(0, |m| m.generation);
            if *seen == generation {
                continue;
            }
            *seen = generation;
            let partitions = state.topics.get(topic.as_str()).map_or(0, Vec::len) as i32;
            let mine: Vec<i32> = (0..partitions)
                .filter(|p| state.owner(&self.group, topic, *p) == Some(self.member))
                .collect();
            self.positions.retain(|(t, p, _)| {
                let keep = t != topic || mine.contains(p);
                if !keep {
                    revoked.push((t.clone(), *p));
                }
                keep
            });
            // A partition assigned again starts unpaused, as with librdkafka.
            self.paused.retain(|(t, p)| t != topic || mine.contains(p));
            for partition in mine {
                if !self
                    .positions
                    .iter()
                    .any(|(t, p, _)| t == topic && *p == partition)
                {
                    let key = (self.group.clone(), topic.clone(), partition);
                    let next = state.committed.get(&key).copied().unwrap_or(0);
                    self.positions.push((topic.clone(), partition, next));
                }
            }
        }
        revoked
    }

    /// A rebalance, or up to `max` records ready now.
    fn take(&mut self, max: usize) -> Option<Fetched> {
        let broker = self.broker.clone();
        let state = broker.state();
        let revoked = self.rebalance(&state);
        if !revoked.is_empty() {
            return Some(Fetched::Revoked(revoked));
        }
        let mut records = Vec::new();
        let count = self.positions.len();
        // Round-robin, one record per partition per pass, so no partition starves the others.
        let mut idle = 0;
        while records.len() < max && idle < count {
            let index = self.turn % count.max(1);
            self.turn = index + 1;
            let (topic, partition, next) = &mut self.positions[index];
            let stored = state
                .topics
                .get(topic.as_str())
                .and_then(|p| p[*partition as usize].get(*next as usize))
                .filter(|_| {
                    !self
                        .paused
                        .iter()
                        .any(|(t, p)| t == topic && p == partition)
                });
            let Some(stored) = stored else {
                idle += 1;
                continue;
            };
            idle = 0;
            records.push(Message {
                meta: Metadata {
                    topic: topic.clone(),
                    partition: *partition,
                    offset: *next,
                    timestamp: Some(stored.timestamp),
                },
                key: stored.key.clone(),
                payload: stored.payload.clone(),
                headers: stored.headers.clone(),
                unreadable: None,
            });
            *next += 1;
        }
        (!records.is_empty()).then_some(Fetched::Records(records))
    }
}

impl Subscription for MemorySubscription {
    fn next(&mut self, max: usize) -> BoxFuture<'_, Option<Fetched>> {
        Box::pin(async move {
            loop {
                let broker = self.broker.clone();
                // Registered before looking, so an append or a rebalance in between still
                // wakes us.
                let appended = broker.appended.notified();
                tokio::pin!(appended);
                appended.as_mut().enable();
                if let Some(fetched) = self.take(max) {
                    return Some(fetched);
                }
                appended.await;
            }
        })
    }

    fn pause(&mut self, topic: &str, partition: i32) -> Result<(), KafkaError> {
        self.paused.push((topic.to_owned(), partition));
        Ok(())
    }

    fn resume(&mut self, topic: &str, partition: i32) -> Result<(), KafkaError> {
        self.paused.retain(|(t, p)| t != topic || *p != partition);
        self.broker.appended.notify_waiters();
        Ok(())
    }

    fn committer(&self) -> Arc<dyn Committer> {
        Arc::new(MemoryCommitter {
            broker: self.broker.clone(),
            group: self.group.clone(),
            member: self.member,
        })
    }
}

impl Drop for MemorySubscription {
    /// Leaves the group: its partitions go to the other members.
    fn drop(&mut self) {
        let mut state = self.broker.state();
        for (topic, _) in &self.topics {
            if let Some(members) = state.groups.get_mut(&(self.group.clone(), topic.clone())) {
                members.ids.retain(|id| *id != self.member);
                members.generation += 1;
            }
        }
        drop(state);
        self.broker.appended.notify_waiters();
    }
}

struct MemoryCommitter {
    broker: Arc<MemoryBroker>,
    group: String,
    member: u64,
}

impl Committer for MemoryCommitter {
    fn commit(&self, topic: &str, partition: i32, offset: i64) -> Result<(), KafkaError> {
        let mut state = self.broker.state();
        if state.owner(&self.group, topic, partition) != Some(self.member) {
            return Err(KafkaError::Broker(format!(
                "partition {topic}/{partition} is no longer assigned to this member"
            )));
        }
        let key = (self.group.clone(), topic.to_owned(), partition);
        state.committed.insert(key, offset);
        Ok(())
    }
}
