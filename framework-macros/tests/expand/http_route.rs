#[http_route(POST, "/articles", scope = "articles:write", rate_limit = "100/min")]
pub async fn create(
    svc: Inject<ArticleService>,
    Valid(Json(input)): Valid<Json<ArticleInput>>,
) -> Result<(StatusCode, Json<Article>), ArticleError> {
    Ok((StatusCode::CREATED, Json(svc.create(input).await?)))
}
