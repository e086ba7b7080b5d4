//! gRPC delivery: every `#[grpc_service]` on one tonic server on `GRPC_HOST:GRPC_PORT`, with
//! the standard health service and, when `GRPC_REFLECTION=true`, server reflection; and
//! outbound calls through a [`GrpcClient`] (a breaker, retries for idempotent methods).

mod call;
mod client;
mod config;
mod identity;
mod methods;
mod metrics;
mod plugin;
mod rate_limit;
pub(crate) mod record;
mod server;
mod span;
mod status;
mod traced_channel;

pub use client::{GrpcClient, Retries};
pub use config::GrpcConfig;
pub use identity::principal;
pub use metrics::GrpcMetrics;
pub(crate) use record::{FileDescriptorSetRecord, GrpcServiceRecord, MountOptions};
pub use status::{invalid_argument, status_from_domain_error, validate};
pub use traced_channel::{ClientSpan, TracedChannel};

/// Registers an encoded protobuf `FileDescriptorSet` for gRPC server reflection.
///
/// ```ignore
/// framework::file_descriptor_set!(include_bytes!(concat!(env!("OUT_DIR"), "/descriptor_set.bin")));
/// ```
#[macro_export]
macro_rules! file_descriptor_set {
    ($bytes:expr) => {
        const _: () = {
            $crate::__private::inventory::submit! {
                $crate::__private::FileDescriptorSetRecord { bytes: $bytes }
            }
        };
    };
}
