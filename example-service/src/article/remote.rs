//! An outbound gRPC client as a component: reads articles from a remote article service
//! (configured by `ARTICLES_REMOTE_*`; by default this service's own gRPC listener, as bound),
//! with a connect timeout and a per-call timeout, through the framework's [`GrpcClient`]
//! (a circuit breaker `articles-remote`, in `/health` once the client was first used, and
//! retries for this idempotent read), and maps the remote `Status` into a `DomainError`.

use std::sync::OnceLock;
use std::time::Duration;

use framework::app::Listeners;
use framework::breaker::BreakerConfig;
use framework::grpc::{GrpcClient, Retries};
use framework::health::Health;
use framework::tonic::transport::Endpoint;
use framework::tonic::{Code, Status};
use framework::{Config, ConfigSection, DomainError, module};
use serde::Deserialize;
use validator::Validate;

use crate::proto::article::v1 as pb;
use crate::proto::article::v1::article_service_client::ArticleServiceClient;

/// `ARTICLES_REMOTE_*` keys.
#[derive(Debug, Clone, Deserialize, Validate)]
pub struct RemoteConfig {
    /// `ARTICLES_REMOTE_URL`: the remote article service; empty: this service's own gRPC
    /// listener, wherever `GRPC_HOST`/`GRPC_PORT` put it.
    #[validate(url)]
    pub url: Option<String>,
    /// `ARTICLES_REMOTE_CONNECT_TIMEOUT_MS`.
    #[validate(range(min = 1))]
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout_ms: u64,
    /// `ARTICLES_REMOTE_TIMEOUT_MS`: the deadline of each call.
    #[validate(range(min = 1))]
    #[serde(default = "default_timeout")]
    pub timeout_ms: u64,
    /// `ARTICLES_REMOTE_ATTEMPTS`: attempts of a read in all while the remote answers
    /// `UNAVAILABLE` (1: no retry); default 3, at most 10.
    #[validate(range(min = 1, max = 10))]
    #[serde(default = "default_attempts")]
    pub attempts: usize,
}

impl ConfigSection for RemoteConfig {
    const PREFIX: &'static str = "ARTICLES_REMOTE_";
}

fn default_connect_timeout() -> u64 {
    1000
}
fn default_timeout() -> u64 {
    2000
}
fn default_attempts() -> usize {
    3
}

/// A remote call that failed, by what the remote said.
#[derive(Debug, thiserror::Error, DomainError)]
pub enum RemoteError {
    #[error("remote article not found: {0}")]
    #[domain(not_found, code = "REMOTE_ARTICLE_NOT_FOUND")]
    NotFound(String),
    #[error("the remote refused the request: {0}")]
    #[domain(bad_request, code = "REMOTE_INVALID_ARGUMENT")]
    InvalidArgument(String),
    /// 503 when the remote is unreachable, 504 when it did not answer in time, else 500:
    /// the framework reads the `Status` (an `internal` variant over a transient failure).
    #[error("the remote article service failed or is unreachable")]
    #[domain(internal, code = "REMOTE_UNAVAILABLE")]
    Unavailable(#[source] Status),
    #[error("ARTICLES_REMOTE_URL is empty and this service serves no gRPC to call instead")]
    #[domain(internal, code = "REMOTE_NOT_CONFIGURED")]
    NoRemote,
    #[error("ARTICLES_REMOTE_URL {0:?} cannot be used")]
    #[domain(internal, code = "REMOTE_INVALID_URL")]
    InvalidUrl(String, #[source] framework::tonic::transport::Error),
}

impl From<Status> for RemoteError {
    fn from(status: Status) -> Self {
        match status.code() {
            Code::NotFound => RemoteError::NotFound(status.message().to_owned()),
            Code::InvalidArgument => RemoteError::InvalidArgument(status.message().to_owned()),
            _ => RemoteError::Unavailable(status),
        }
    }
}

/// The client component; it connects lazily, so building it needs no remote.
#[module]
pub struct RemoteArticles {
    config: Config<RemoteConfig>,
    breakers: Config<BreakerConfig>,
    listeners: Listeners,
    health: Health,
    #[state]
    client: OnceLock<GrpcClient>,
}

impl RemoteArticles {
    fn client(&self) -> Result<&GrpcClient, RemoteError> {
        if let Some(client) = self.client.get() {
            return Ok(client);
        }
        let url = match &self.config.url {
            Some(url) => url.clone(),
            None => self.listeners.url("grpc").ok_or(RemoteError::NoRemote)?,
        };
        // Validation checked it is a URL; tonic may still refuse one (a scheme it cannot use).
        let endpoint = Endpoint::from_shared(url.clone())
            .map_err(|error| RemoteError::InvalidUrl(url, error))?;
        Ok(self.client.get_or_init(|| {
            let endpoint = endpoint
                .connect_timeout(Duration::from_millis(self.config.connect_timeout_ms))
                .timeout(Duration::from_millis(self.config.timeout_ms));
            GrpcClient::lazy("articles-remote", &endpoint, *self.breakers)
                .with_retries(Retries {
                    max_attempts: self.config.attempts,
                    ..Retries::default()
                })
                // An optional `/health` unit, from the first call on.
                .with_health(&self.health)
        }))
    }

    /// The article `id` as the remote has it.
    pub async fn get(&self, id: &str) -> Result<pb::Article, RemoteError> {
        let request = pb::GetArticleRequest { id: id.to_owned() };
        let article = self
            .client()?
            .call_idempotent(|channel| {
                let request = request.clone();
                async move {
                    ArticleServiceClient::new(channel)
                        .get_article(request)
                        .await
                }
            })
            .await?;
        Ok(article.into_inner())
    }
}
