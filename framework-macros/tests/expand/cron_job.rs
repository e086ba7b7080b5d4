#[cron_job(schedule = "0 */5 * * * *", singleton, timeout_secs = 60)]
async fn summarize(
    context: JobContext,
    activity: Inject<ArticleActivity>,
) -> Result<(), ArticleError> {
    activity.summarize(context.tick).await
}
