//! The events the article service publishes after each committed write, keyed by article id
//! so each article's events stay in one partition.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// One change of an article. `version` is the article's version after the change, decided by
/// the database in the statement that made it (a deletion's is the last version plus one), so
/// it orders an article's changes and tells them apart, whatever order the events arrive in.
/// `at` is when the change was made, for people: never use it to order or deduplicate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum ArticleEvent {
    ArticleCreated {
        id: Uuid,
        name: String,
        #[serde(default)]
        version: i64,
        at: DateTime<Utc>,
    },
    ArticleUpdated {
        id: Uuid,
        name: String,
        #[serde(default)]
        version: i64,
        at: DateTime<Utc>,
    },
    ArticleDeleted {
        id: Uuid,
        #[serde(default)]
        version: i64,
        at: DateTime<Utc>,
    },
}

impl ArticleEvent {
    pub fn id(&self) -> Uuid {
        match self {
            ArticleEvent::ArticleCreated { id, .. }
            | ArticleEvent::ArticleUpdated { id, .. }
            | ArticleEvent::ArticleDeleted { id, .. } => *id,
        }
    }

    /// The article's version after this change. Events published before versions existed
    /// carry none (0): they are told apart by their time, negated so that every versioned
    /// change orders after them.
    pub fn version(&self) -> i64 {
        match self {
            ArticleEvent::ArticleCreated { version, at, .. }
            | ArticleEvent::ArticleUpdated { version, at, .. }
            | ArticleEvent::ArticleDeleted { version, at, .. } => match *version {
                0 => -at.timestamp_micros(),
                version => version,
            },
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            ArticleEvent::ArticleCreated { .. } => "ArticleCreated",
            ArticleEvent::ArticleUpdated { .. } => "ArticleUpdated",
            ArticleEvent::ArticleDeleted { .. } => "ArticleDeleted",
        }
    }
}
