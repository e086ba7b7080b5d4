//! The records `#[grpc_service]` and `file_descriptor_set!` submit: not public API
//! (`framework::__private` names them).

use tonic::service::RoutesBuilder;

use crate::di::{Container, Dependency, Location, ResolveError};
use crate::identity::Requirement;
use crate::rate_limit::RateLimit;

/// A `#[grpc_service]` impl.
pub struct GrpcServiceRecord {
    /// The fully qualified protobuf service name, `article.v1.ArticleService`.
    pub service: &'static str,
    /// The implementing component's type path.
    pub implementation: &'static str,
    /// The implemented methods.
    pub methods: &'static [GrpcMethod],
    /// `#[grpc_service(scope = ..)]`: what every method requires unless it says otherwise
    /// (`#[rpc(..)]`), and what a method the impl does not list requires.
    pub requirement: Option<Requirement>,
    /// `#[grpc_service(rate_limit = ..)]`: each method's limit unless it says otherwise, and
    /// that of a method the impl does not list.
    pub rate_limit: Option<RateLimit>,
    /// The implementing component.
    pub dependencies: fn() -> Vec<Dependency>,
    /// Adds the tonic server of the built component to `routes`.
    pub mount: fn(&Container, &MountOptions, &mut RoutesBuilder) -> Result<(), ResolveError>,
    /// Where the impl is written.
    pub location: Location,
}

/// A method of a `#[grpc_service]` impl.
#[derive(Debug, Clone, Copy)]
pub struct GrpcMethod {
    /// Its name as written in Rust (`create_article`; prost derives it from the protobuf
    /// name, `CreateArticle`).
    pub name: &'static str,
    /// What the caller must hold; `None`: public.
    pub requirement: Option<Requirement>,
    /// `rate_limit = ..` of its `#[rpc]`, else of the service; `None`: unlimited.
    pub rate_limit: Option<RateLimit>,
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
