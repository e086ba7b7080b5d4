//! A second module fed by the article events: per-article change counts, kept in the
//! database and readable over HTTP; and a job that sums them up periodically.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use framework::axum::Json;
use framework::axum::extract::Path;
use framework::cron::JobContext;
use framework::utoipa::{self, ToSchema};
use framework::{Inject, Tx, cron_job, http_route, kafka_consumer, module};
use serde::Serialize;
use uuid::Uuid;

use super::error::ArticleError;
use super::events::ArticleEvent;

/// How often an article changed, as the events tell.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Activity {
    pub article_id: Uuid,
    /// Changes counted, each once, in whatever order their events came.
    pub changes: i64,
    /// The event of the highest version counted.
    pub last_event: String,
    /// That version.
    pub last_version: i64,
}

/// The totals one run of the `summarize` job took.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Summary {
    pub taken_at: DateTime<Utc>,
    pub articles: i64,
    pub changes: i64,
    /// Summaries taken so far, this one included.
    pub runs: i64,
}

/// The projection's storage port; the SQL adapters implement it.
#[framework::async_trait]
pub trait ActivityRepository: Send + Sync {
    /// Counts `event` once: a redelivered event (same article, same version) is not counted
    /// again, and one that arrives after a later version is still counted.
    async fn record(&self, tx: &Tx, event: &ArticleEvent) -> Result<(), ArticleError>;
    async fn get(&self, id: Uuid) -> Result<Option<Activity>, ArticleError>;
    /// Stores the totals as of `taken_at`; a second call for the same time changes nothing.
    async fn summarize(&self, tx: &Tx, taken_at: DateTime<Utc>) -> Result<(), ArticleError>;
    async fn latest_summary(&self) -> Result<Option<Summary>, ArticleError>;
}

/// The projection's use cases.
#[module]
pub struct ArticleActivity {
    repo: Arc<dyn ActivityRepository>,
}

/// Every article event updates the projection, once: the group's inbox records each event's
/// id in the same transaction, so a redelivered event is acknowledged without running this.
#[kafka_consumer(
    topic = "${ARTICLES_EVENTS_TOPIC}",
    group = "article-activity",
    idempotent
)]
async fn on_article_event(
    tx: Tx,
    Json(event): Json<ArticleEvent>,
    activity: Inject<ArticleActivity>,
) -> Result<(), ArticleError> {
    activity.repo.record(&tx, &event).await
}

#[http_route(GET, "/articles/{id}/activity")]
pub async fn get_activity(
    activity: Inject<ArticleActivity>,
    Path(id): Path<Uuid>,
) -> Result<Json<Activity>, ArticleError> {
    let found = activity.repo.get(id).await?;
    found.map(Json).ok_or(ArticleError::NoActivity(id))
}

/// Sums up the articles and their changes, on one replica per tick
/// (`ARTICLES_SUMMARY_SCHEDULE`, every minute by default).
#[cron_job(
    schedule = "${ARTICLES_SUMMARY_SCHEDULE}",
    singleton,
    timeout_secs = 30
)]
async fn summarize(
    tx: Tx,
    context: JobContext,
    activity: Inject<ArticleActivity>,
) -> Result<(), ArticleError> {
    activity.repo.summarize(&tx, context.tick).await
}

#[http_route(GET, "/articles/summaries/latest")]
pub async fn latest_summary(
    activity: Inject<ArticleActivity>,
) -> Result<Json<Summary>, ArticleError> {
    let found = activity.repo.latest_summary().await?;
    found.map(Json).ok_or(ArticleError::NoSummary)
}
