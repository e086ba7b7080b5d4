use std::sync::Arc;

use chrono::{DateTime, SubsecRound, Utc};
use framework::cache::Cache;
use framework::kafka::Producer;
use framework::{Config, module};
use uuid::Uuid;

use super::config::ArticleConfig;
use super::domain::{Article, ArticleInput, Page};
use super::error::ArticleError;
use super::events::ArticleEvent;
use super::feed::ArticleFeed;
use super::repository::{ArticleRepository, Pending};

/// The article use cases.
#[module]
pub struct ArticleService {
    repo: Arc<dyn ArticleRepository>,
    config: Config<ArticleConfig>,
    events: Producer,
    cache: Cache,
    feed: Arc<ArticleFeed>,
}

impl ArticleService {
    pub async fn create(&self, input: ArticleInput) -> Result<Article, ArticleError> {
        let now = now();
        let article = Article {
            id: Uuid::new_v4(),
            name: input.name,
            description: input.description,
            created_at: now,
            updated_at: now,
            version: 1,
        };
        let pending = self.repo.insert(&article).await?;
        let event = ArticleEvent::ArticleCreated {
            id: article.id,
            name: article.name.clone(),
            version: article.version,
            at: article.updated_at,
        };
        self.commit(pending, event).await?;
        Ok(article)
    }

    /// Through the cache (`ARTICLES_CACHE_TTL_SECS`); a missing article is not cached.
    pub async fn get(&self, id: Uuid) -> Result<Article, ArticleError> {
        let ttl = self.config.cache_ttl();
        self.cache
            .get_or_load(&cache_key(id), ttl, || self.stored(id))
            .await
    }

    async fn stored(&self, id: Uuid) -> Result<Article, ArticleError> {
        self.repo.get(id).await?.ok_or(ArticleError::NotFound(id))
    }

    /// A page; `limit` defaults to `ARTICLES_DEFAULT_PAGE_SIZE` and is capped at
    /// `ARTICLES_MAX_PAGE_SIZE`.
    pub async fn list(
        &self,
        limit: Option<u32>,
        offset: Option<u32>,
    ) -> Result<Page, ArticleError> {
        let limit = limit
            .unwrap_or(self.config.default_page_size)
            .min(self.config.max_page_size);
        let offset = offset.unwrap_or(0);
        let (items, total) = self.repo.list(limit, offset).await?;
        Ok(Page {
            items,
            total,
            limit,
            offset,
        })
    }

    pub async fn update(&self, id: Uuid, input: ArticleInput) -> Result<Article, ArticleError> {
        let pending = self
            .repo
            .update(id, &input, now())
            .await?
            .ok_or(ArticleError::NotFound(id))?;
        let updated = pending.value.clone();
        let event = ArticleEvent::ArticleUpdated {
            id,
            name: updated.name.clone(),
            version: updated.version,
            at: updated.updated_at,
        };
        self.commit(pending, event).await?;
        Ok(updated)
    }

    pub async fn delete(&self, id: Uuid) -> Result<(), ArticleError> {
        let pending = self
            .repo
            .delete(id)
            .await?
            .ok_or(ArticleError::NotFound(id))?;
        let event = ArticleEvent::ArticleDeleted {
            id,
            version: pending.value,
            at: now(),
        };
        self.commit(pending, event).await
    }

    /// Commits `pending`, then hands `event` to this replica's watchers, drops the cached
    /// article and publishes `event`. Shielded: a request given up on before this point
    /// (timeout, client gone) leaves nothing, as its transaction rolls back; from here on all
    /// of it happens even if it is, so a committed change is never left with a stale cache
    /// entry or without its event.
    ///
    /// A publish that fails is reported, not swallowed: the change is stored but nobody
    /// downstream hears of it (a transactional outbox would close that gap). One the broker
    /// did not confirm in time is reported as such (`ARTICLE_EVENT_UNCONFIRMED`, 504), not
    /// as a failure: its event may still arrive.
    async fn commit<T: Send + 'static>(
        &self,
        pending: Pending<T>,
        event: ArticleEvent,
    ) -> Result<(), ArticleError> {
        let (cache, events) = (self.cache.clone(), self.events.clone());
        let (topic, feed) = (self.config.events_topic.clone(), self.feed.clone());
        framework::shield(async move {
            pending.commit().await?;
            feed.publish(&event);
            if !matches!(event, ArticleEvent::ArticleCreated { .. }) {
                cache.delete(&cache_key(event.id())).await;
            }
            publish(&events, &topic, &event).await
        })
        .await
    }
}

async fn publish(events: &Producer, topic: &str, event: &ArticleEvent) -> Result<(), ArticleError> {
    let key = event.id().to_string();
    events
        .publish_json(topic, &key, event)
        .await
        .map(drop)
        .map_err(|error| {
            if error.may_be_stored() {
                tracing::warn!(article = %key, event = event.name(), %error, "article event not confirmed; it may still arrive");
                ArticleError::EventUnconfirmed(error)
            } else {
                tracing::error!(article = %key, event = event.name(), %error, "article event not published");
                ArticleError::Event(error)
            }
        })
}

fn cache_key(id: Uuid) -> String {
    format!("article:{id}")
}

/// Microseconds: what PostgreSQL's `timestamptz` keeps, so a created article reads back equal.
fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}
