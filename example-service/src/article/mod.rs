//! The article module, in clean-architecture layers: the domain, its port, the SQL adapters,
//! the use cases, the HTTP and gRPC deliveries, and the events with the projection they feed.

pub mod activity;
pub mod adapters;
pub mod config;
pub mod domain;
pub mod error;
pub mod events;
pub mod grpc;
pub mod http;
pub mod remote;
pub mod repository;
pub mod service;
