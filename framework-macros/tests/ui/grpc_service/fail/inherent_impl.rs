use framework::{grpc_service, module};

#[module]
pub struct ArticleGrpc;

#[grpc_service]
impl ArticleGrpc {
    pub async fn get_article(&self) {}
}

fn main() {}
