use std::sync::Arc;

use chrono::{DateTime, SubsecRound, Utc};
use framework::cache::Cache;
use framework::{Config, Tx, module};
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
    cache: Cache,
    feed: Arc<ArticleFeed>,
}

impl ArticleService {
    /// Stores the article and its `ArticleCreated` event in `tx`.
    pub async fn create(&self, tx: &Tx, input: ArticleInput) -> Result<Article, ArticleError> {
        let now = now();
        let article = Article {
            id: Uuid::new_v4(),
            name: input.name,
            description: input.description,
            created_at: now,
            updated_at: now,
            version: 1,
        };
        self.repo.insert(tx, &article).await?;
        let event = ArticleEvent::ArticleCreated {
            id: article.id,
            name: article.name.clone(),
            version: article.version,
            at: article.updated_at,
        };
        self.changed(tx, event).await?;
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

    /// Updates the article and stores its `ArticleUpdated` event in `tx`.
    pub async fn update(
        &self,
        tx: &Tx,
        id: Uuid,
        input: ArticleInput,
    ) -> Result<Article, ArticleError> {
        let updated = self
            .repo
            .update(tx, id, &input, now())
            .await?
            .ok_or(ArticleError::NotFound(id))?;
        let event = ArticleEvent::ArticleUpdated {
            id,
            name: updated.name.clone(),
            version: updated.version,
            at: updated.updated_at,
        };
        self.changed(tx, event).await?;
        Ok(updated)
    }

    /// Deletes the article and stores its `ArticleDeleted` event in `tx`.
    pub async fn delete(&self, tx: &Tx, id: Uuid) -> Result<(), ArticleError> {
        let version = self
            .repo
            .delete(tx, id)
            .await?
            .ok_or(ArticleError::NotFound(id))?;
        let event = ArticleEvent::ArticleDeleted {
            id,
            version,
            at: now(),
        };
        self.changed(tx, event).await
    }

    /// Stores `event` in the outbox, in `tx` with the change itself: the relay publishes it
    /// (keyed by article, so an article's events stay in order) once the transaction commits,
    /// and never if it rolls back. After the commit, this replica's watchers hear of it and a
    /// changed article's cache entry is dropped.
    async fn changed(&self, tx: &Tx, event: ArticleEvent) -> Result<(), ArticleError> {
        tx.publish_json(&self.config.events_topic, &event.id().to_string(), &event)
            .await?;
        let (cache, feed) = (self.cache.clone(), self.feed.clone());
        tx.after_commit(async move {
            feed.publish(&event);
            if !matches!(event, ArticleEvent::ArticleCreated { .. }) {
                cache.delete(&cache_key(event.id())).await;
            }
        });
        Ok(())
    }
}

fn cache_key(id: Uuid) -> String {
    format!("article:{id}")
}

/// Microseconds: what PostgreSQL's `timestamptz` keeps, so a created article reads back equal.
fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}
