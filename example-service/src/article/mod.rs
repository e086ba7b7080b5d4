//! The article module, in clean-architecture layers: the domain, its port, the SQL adapters,
//! the use cases and the HTTP and gRPC deliveries.

pub mod adapters;
pub mod config;
pub mod domain;
pub mod error;
pub mod grpc;
pub mod http;
pub mod remote;
pub mod repository;
pub mod service;
