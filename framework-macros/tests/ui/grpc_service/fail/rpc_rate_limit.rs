use framework::{grpc_service, module};

mod probe_server {
    pub trait Probe: Send + Sync + 'static {
        async fn echo(&self);
        async fn sleep(&self);
    }
}

#[module]
pub struct Probe;

#[grpc_service(rate_limit = 5)]
impl probe_server::Probe for Probe {
    #[rpc(rate_limit = "0/min")]
    async fn echo(&self) {}
    #[rpc(rate_limit = "10/min", rate_limit = "20/min")]
    async fn sleep(&self) {}
}

fn main() {}
