use framework::{grpc_service, module};

mod probe_server {
    pub trait Probe: Send + Sync + 'static {
        async fn echo(&self);
        async fn sleep(&self);
        async fn panic(&self);
    }
}

#[module]
pub struct Probe;

#[grpc_service(scope = "")]
impl probe_server::Probe for Probe {
    #[rpc(scopes = "probe:echo")]
    async fn echo(&self) {}
    #[rpc(public, scope = "probe:sleep")]
    async fn sleep(&self) {}
    #[rpc(authenticated)]
    #[rpc(public)]
    async fn panic(&self) {}
}

fn main() {}
