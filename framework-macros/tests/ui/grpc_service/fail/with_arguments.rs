use framework::{grpc_service, module};

mod article_service_server {
    pub trait ArticleService: Send + Sync + 'static {}
}

#[module]
pub struct ArticleGrpc;

#[grpc_service(reflection = true)]
impl article_service_server::ArticleService for ArticleGrpc {}

fn main() {}
