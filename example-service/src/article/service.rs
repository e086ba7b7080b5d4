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
use super::repository::ArticleRepository;

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
        };
        self.repo.insert(&article).await?;
        self.publish(ArticleEvent::ArticleCreated {
            id: article.id,
            name: article.name.clone(),
            at: article.updated_at,
        })
        .await?;
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
        let current = self.stored(id).await?;
        let article = Article {
            name: input.name,
            description: input.description,
            updated_at: now(),
            ..current
        };
        let updated = self
            .repo
            .update(&article)
            .await?
            .ok_or(ArticleError::NotFound(id))?;
        self.cache.delete(&cache_key(id)).await;
        self.publish(ArticleEvent::ArticleUpdated {
            id,
            name: updated.name.clone(),
            at: updated.updated_at,
        })
        .await?;
        Ok(updated)
    }

    pub async fn delete(&self, id: Uuid) -> Result<(), ArticleError> {
        if !self.repo.delete(id).await? {
            return Err(ArticleError::NotFound(id));
        }
        self.cache.delete(&cache_key(id)).await;
        self.publish(ArticleEvent::ArticleDeleted { id, at: now() })
            .await
    }
}

impl ArticleService {
    /// Publishes `event` after its write succeeded: to this replica's watchers, then to the
    /// events topic. A failure is reported, not swallowed: the change is stored but nobody
    /// downstream hears of it (a transactional outbox would close that gap).
    async fn publish(&self, event: ArticleEvent) -> Result<(), ArticleError> {
        self.feed.publish(&event);
        let key = event.id().to_string();
        self.events
            .publish_json(&self.config.events_topic, &key, &event)
            .await
            .map(drop)
            .map_err(|error| {
                tracing::error!(article = %key, event = event.name(), %error, "article event not published");
                ArticleError::Event(error)
            })
    }
}

fn cache_key(id: Uuid) -> String {
    format!("article:{id}")
}

/// Microseconds: what PostgreSQL's `timestamptz` keeps, so a created article reads back equal.
fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}
