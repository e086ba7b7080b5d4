//! The events the article service publishes after each successful write, keyed by article
//! id so each article's events stay in order.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// One change of an article.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum ArticleEvent {
    ArticleCreated {
        id: Uuid,
        name: String,
        at: DateTime<Utc>,
    },
    ArticleUpdated {
        id: Uuid,
        name: String,
        at: DateTime<Utc>,
    },
    ArticleDeleted {
        id: Uuid,
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

    pub fn at(&self) -> DateTime<Utc> {
        match self {
            ArticleEvent::ArticleCreated { at, .. }
            | ArticleEvent::ArticleUpdated { at, .. }
            | ArticleEvent::ArticleDeleted { at, .. } => *at,
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
