//! The HTTP delivery: plain axum handlers, mounted by `#[http_route]` under `HTTP_BASE_PATH`.

use framework::axum::Json;
use framework::axum::extract::{Path, Query};
use framework::axum::http::StatusCode;
use framework::utoipa::{self, IntoParams};
use framework::{Inject, Tx, Valid, http_route};
use serde::Deserialize;
use uuid::Uuid;
use validator::Validate;

use super::domain::{Article, ArticleInput, Page};
use super::error::ArticleError;
use super::remote::{RemoteArticles, RemoteError};
use super::service::ArticleService;

/// `?limit=&offset=`.
#[derive(Debug, Deserialize, Validate, IntoParams)]
pub struct ListQuery {
    #[validate(range(min = 1, max = 1000))]
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
    /// At most `i32::MAX`: the document describes `u32` as an `int32`, as utoipa does.
    #[validate(range(max = 2_147_483_647))]
    #[param(maximum = 2_147_483_647)]
    pub offset: Option<u32>,
}

/// Creates an article; the article and its event are stored in the request's transaction. A
/// client that may retry sends an `Idempotency-Key`: a retry gets the first response (the same
/// article) and creates nothing. Writes need the `articles:write` scope, and each caller gets
/// `ARTICLES_WRITE_RATE_LIMIT` of them (429 past it); reads are public.
#[http_route(
    POST,
    "/articles",
    idempotency,
    scope = "articles:write",
    rate_limit = "${ARTICLES_WRITE_RATE_LIMIT}"
)]
pub async fn create(
    tx: Tx,
    svc: Inject<ArticleService>,
    Valid(Json(input)): Valid<Json<ArticleInput>>,
) -> Result<(StatusCode, Json<Article>), ArticleError> {
    Ok((StatusCode::CREATED, Json(svc.create(&tx, input).await?)))
}

#[http_route(GET, "/articles/{id}")]
pub async fn get(
    svc: Inject<ArticleService>,
    Path(id): Path<Uuid>,
) -> Result<Json<Article>, ArticleError> {
    Ok(Json(svc.get(id).await?))
}

#[http_route(GET, "/articles")]
pub async fn list(
    svc: Inject<ArticleService>,
    Valid(Query(query)): Valid<Query<ListQuery>>,
) -> Result<Json<Page>, ArticleError> {
    Ok(Json(svc.list(query.limit, query.offset).await?))
}

#[http_route(
    PUT,
    "/articles/{id}",
    scope = "articles:write",
    rate_limit = "${ARTICLES_WRITE_RATE_LIMIT}"
)]
pub async fn update(
    tx: Tx,
    svc: Inject<ArticleService>,
    Path(id): Path<Uuid>,
    Valid(Json(input)): Valid<Json<ArticleInput>>,
) -> Result<Json<Article>, ArticleError> {
    Ok(Json(svc.update(&tx, id, input).await?))
}

#[http_route(
    DELETE,
    "/articles/{id}",
    scope = "articles:write",
    rate_limit = "${ARTICLES_WRITE_RATE_LIMIT}"
)]
pub async fn delete(
    tx: Tx,
    svc: Inject<ArticleService>,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ArticleError> {
    svc.delete(&tx, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The article as the remote article service (`ARTICLES_REMOTE_URL`) has it: an outbound
/// gRPC call through an injected client.
#[http_route(GET, "/remote/articles/{id}")]
pub async fn get_remote(
    remote: Inject<RemoteArticles>,
    Path(id): Path<Uuid>,
) -> Result<Json<serde_json::Value>, RemoteError> {
    let article = remote.get(&id.to_string()).await?;
    Ok(Json(serde_json::json!({
        "id": article.id,
        "name": article.name,
        "description": article.description,
    })))
}
