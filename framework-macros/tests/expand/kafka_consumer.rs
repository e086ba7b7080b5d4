#[kafka_consumer(topic = "${ARTICLES_EVENTS_TOPIC}", group = "article-activity", retries = 5)]
async fn on_article_event(
    Json(event): Json<ArticleEvent>,
    activity: Inject<ArticleActivity>,
) -> Result<(), ArticleError> {
    activity.record(&event).await
}
