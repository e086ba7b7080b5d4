use framework::grpc_service;

mod article_service_server {
    pub trait ArticleService: Send + Sync + 'static {}
}

pub struct ArticleGrpc<R>(R);

#[grpc_service]
impl<R: Send + Sync + 'static> article_service_server::ArticleService for ArticleGrpc<R> {}

fn main() {}
