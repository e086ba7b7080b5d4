//! A second module fed by the article events: per-article change counts, kept in the
//! database and readable over HTTP.

use std::sync::Arc;

use framework::axum::Json;
use framework::axum::extract::Path;
use framework::{Inject, http_route, kafka_consumer, module};
use serde::Serialize;
use uuid::Uuid;

use super::error::ArticleError;
use super::events::ArticleEvent;

/// How often an article changed, as the events tell.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Activity {
    pub article_id: Uuid,
    pub changes: i64,
    pub last_event: String,
}

/// The projection's storage port; the SQL adapters implement it.
#[framework::async_trait]
pub trait ActivityRepository: Send + Sync {
    /// Counts `event` once: a redelivered event (same article, same time) is not counted again.
    async fn record(&self, event: &ArticleEvent) -> Result<(), ArticleError>;
    async fn get(&self, id: Uuid) -> Result<Option<Activity>, ArticleError>;
}

/// The projection's use cases.
#[module]
pub struct ArticleActivity {
    repo: Arc<dyn ActivityRepository>,
}

/// Every article event updates the projection.
#[kafka_consumer(topic = "${ARTICLES_EVENTS_TOPIC}", group = "article-activity")]
async fn on_article_event(
    Json(event): Json<ArticleEvent>,
    activity: Inject<ArticleActivity>,
) -> Result<(), ArticleError> {
    activity.repo.record(&event).await
}

#[http_route(GET, "/articles/{id}/activity")]
pub async fn get_activity(
    activity: Inject<ArticleActivity>,
    Path(id): Path<Uuid>,
) -> Result<Json<Activity>, ArticleError> {
    let found = activity.repo.get(id).await?;
    found.map(Json).ok_or(ArticleError::NoActivity(id))
}
