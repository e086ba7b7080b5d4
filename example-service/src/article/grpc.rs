//! The gRPC delivery: `article.v1.ArticleService` over the same use cases as HTTP.

use std::pin::Pin;
use std::sync::Arc;

use framework::grpc::{invalid_argument, validate};
use framework::tonic::{Request, Response, Status};
use framework::{Transactions, grpc_service, module};
use tokio_stream::{Stream, StreamExt};
use uuid::Uuid;

use super::domain::{Article, ArticleInput};
use super::events::ArticleEvent;
use super::feed::ArticleFeed;
use super::http::ListQuery;
use super::service::ArticleService;
use crate::proto::article::v1 as pb;
use crate::proto::article::v1::article_service_server;

/// Serves `article.v1.ArticleService`: reads are public, writes need `articles:write`.
#[module]
pub struct ArticleGrpc {
    articles: Arc<ArticleService>,
    feed: Arc<ArticleFeed>,
    /// Writes run in a transaction each: committed when the call succeeds.
    transactions: Transactions,
}

#[grpc_service]
impl article_service_server::ArticleService for ArticleGrpc {
    #[rpc(scope = "articles:write", rate_limit = "${ARTICLES_WRITE_RATE_LIMIT}")]
    async fn create_article(
        &self,
        request: Request<pb::CreateArticleRequest>,
    ) -> Result<Response<pb::Article>, Status> {
        let request = request.into_inner();
        let input = ArticleInput {
            name: request.name,
            description: request.description,
        };
        validate(&input)?;
        let articles = &self.articles;
        let created = self
            .transactions
            .run(|tx| async move { articles.create(&tx, input).await })
            .await?;
        Ok(Response::new(created.into()))
    }

    async fn get_article(
        &self,
        request: Request<pb::GetArticleRequest>,
    ) -> Result<Response<pb::Article>, Status> {
        let id = parse_id(&request.get_ref().id)?;
        Ok(Response::new(self.articles.get(id).await?.into()))
    }

    async fn list_articles(
        &self,
        request: Request<pb::ListArticlesRequest>,
    ) -> Result<Response<pb::ListArticlesResponse>, Status> {
        let request = request.into_inner();
        // 0 is proto3's "unset" for a plain integer: treat it as absent.
        let query = ListQuery {
            limit: request.limit.filter(|&l| l != 0),
            offset: request.offset,
        };
        validate(&query)?;
        let page = self.articles.list(query.limit, query.offset).await?;
        Ok(Response::new(pb::ListArticlesResponse {
            items: page.items.into_iter().map(Into::into).collect(),
            total: page.total,
            limit: page.limit,
            offset: page.offset,
        }))
    }

    #[rpc(scope = "articles:write", rate_limit = "${ARTICLES_WRITE_RATE_LIMIT}")]
    async fn update_article(
        &self,
        request: Request<pb::UpdateArticleRequest>,
    ) -> Result<Response<pb::Article>, Status> {
        let request = request.into_inner();
        let id = parse_id(&request.id)?;
        let input = ArticleInput {
            name: request.name,
            description: request.description,
        };
        validate(&input)?;
        let articles = &self.articles;
        let updated = self
            .transactions
            .run(|tx| async move { articles.update(&tx, id, input).await })
            .await?;
        Ok(Response::new(updated.into()))
    }

    #[rpc(scope = "articles:write", rate_limit = "${ARTICLES_WRITE_RATE_LIMIT}")]
    async fn delete_article(
        &self,
        request: Request<pb::DeleteArticleRequest>,
    ) -> Result<Response<pb::DeleteArticleResponse>, Status> {
        let id = parse_id(&request.get_ref().id)?;
        let articles = &self.articles;
        self.transactions
            .run(|tx| async move { articles.delete(&tx, id).await })
            .await?;
        Ok(Response::new(pb::DeleteArticleResponse {}))
    }

    type WatchArticlesStream = Changes;

    async fn watch_articles(
        &self,
        request: Request<pb::WatchArticlesRequest>,
    ) -> Result<Response<Changes>, Status> {
        let only = match request.get_ref().id.as_str() {
            "" => None,
            id => Some(parse_id(id)?),
        };
        let watch = self
            .feed
            .watch()
            .map_err(|full| Status::resource_exhausted(full.to_string()))?;
        let changes = watch.filter_map(move |change| match change {
            Ok(event) if only.is_none_or(|id| id == event.id()) => Some(Ok(event.into())),
            Ok(_) => None,
            // tonic ends the stream with the first error.
            Err(missed) => Some(Err(Status::aborted(format!(
                "{missed}: changes were lost; list the articles again and watch anew"
            )))),
        });
        Ok(Response::new(Box::pin(changes)))
    }
}

/// The stream of `WatchArticles`.
pub type Changes = Pin<Box<dyn Stream<Item = Result<pb::ArticleChange, Status>> + Send>>;

fn parse_id(id: &str) -> Result<Uuid, Status> {
    Uuid::parse_str(id).map_err(|_| invalid_argument("id", "must be a UUID"))
}

fn timestamp(at: chrono::DateTime<chrono::Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: at.timestamp(),
        nanos: at.timestamp_subsec_nanos() as i32,
    }
}

impl From<Article> for pb::Article {
    fn from(article: Article) -> Self {
        pb::Article {
            id: article.id.to_string(),
            name: article.name,
            description: article.description,
            created_at: Some(timestamp(article.created_at)),
            updated_at: Some(timestamp(article.updated_at)),
            version: article.version,
        }
    }
}

impl From<ArticleEvent> for pb::ArticleChange {
    fn from(event: ArticleEvent) -> Self {
        use pb::article_change::Kind;
        let (kind, id, name, version, at) = match event {
            ArticleEvent::ArticleCreated {
                id,
                name,
                version,
                at,
            } => (Kind::Created, id, name, version, at),
            ArticleEvent::ArticleUpdated {
                id,
                name,
                version,
                at,
            } => (Kind::Updated, id, name, version, at),
            ArticleEvent::ArticleDeleted { id, version, at } => {
                (Kind::Deleted, id, String::new(), version, at)
            }
        };
        pb::ArticleChange {
            kind: kind.into(),
            id: id.to_string(),
            name,
            version,
            at: Some(timestamp(at)),
        }
    }
}
