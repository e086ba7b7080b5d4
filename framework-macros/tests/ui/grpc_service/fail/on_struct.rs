use framework::grpc_service;

#[grpc_service]
pub struct ArticleGrpc;

fn main() {}
