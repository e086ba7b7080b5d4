pub struct Hello;

#[framework::grpc_service]
impl Hello {}

fn main() {}
