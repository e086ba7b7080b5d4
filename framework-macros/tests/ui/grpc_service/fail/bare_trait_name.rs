use framework::{grpc_service, module};

mod article_service_server {
    pub trait ArticleService: Send + Sync + 'static {}
}
use article_service_server::ArticleService;

#[module]
pub struct ArticleGrpc;

#[grpc_service]
impl ArticleService for ArticleGrpc {}

fn main() {}
