//! gRPC delivery: every `#[grpc_service]` on one tonic server on `GRPC_HOST:GRPC_PORT`, with
//! the standard health service and, when `GRPC_REFLECTION=true`, server reflection.

mod call;
mod config;
mod metrics;
mod plugin;
mod server;
mod status;

use tonic::service::RoutesBuilder;

pub use config::GrpcConfig;
pub use metrics::GrpcMetrics;
pub use status::{invalid_argument, status_from_domain_error, validate};

use crate::di::Location;
use crate::di::{Container, Dependency, ResolveError};

/// A `#[grpc_service]` impl.
pub struct GrpcServiceRecord {
    /// The fully qualified protobuf service name, `article.v1.ArticleService`.
    pub service: &'static str,
    /// The implementing component's type path.
    pub implementation: &'static str,
    /// The implemented methods, as written in Rust.
    pub methods: &'static [&'static str],
    /// The implementing component.
    pub dependencies: fn() -> Vec<Dependency>,
    /// Adds the tonic server of the built component to `routes`.
    pub mount: fn(&Container, &MountOptions, &mut RoutesBuilder) -> Result<(), ResolveError>,
    /// Where the impl is written.
    pub location: Location,
}

/// Per-service settings applied when mounting.
#[derive(Debug, Clone, Copy)]
pub struct MountOptions {
    /// `GRPC_MAX_MESSAGE_BYTES`: the largest message decoded (after decompression: tonic
    /// stops inflating at the limit and answers `RESOURCE_EXHAUSTED`) or encoded.
    pub max_message_bytes: usize,
    /// The message compression accepted from clients and used in answers to clients that
    /// accept it: gzip, the coding HTTP uses too. A client sending another answers
    /// `UNIMPLEMENTED` with `grpc-accept-encoding` (tonic's reply, as the gRPC spec has it).
    pub compression: tonic::codec::CompressionEncoding,
}

/// An encoded `FileDescriptorSet`, for server reflection: `framework::file_descriptor_set!`.
pub struct FileDescriptorSetRecord {
    /// The encoded set.
    pub bytes: &'static [u8],
}

inventory::collect!(GrpcServiceRecord);
inventory::collect!(FileDescriptorSetRecord);

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
                $crate::grpc::FileDescriptorSetRecord { bytes: $bytes }
            }
        };
    };
}
