use framework::{grpc_service, module};

#[module]
pub struct ArticleGrpc;

#[grpc_service]
impl std::fmt::Display for ArticleGrpc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("article")
    }
}

fn main() {}
