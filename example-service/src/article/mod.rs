//! The article module, in clean-architecture layers: the domain, its port, the SQL adapters,
//! the use cases, the HTTP and gRPC deliveries, the events with the projection they feed, and
//! the change feed of `WatchArticles`.

pub mod activity;
pub mod adapters;
pub mod config;
pub mod domain;
pub mod error;
pub mod events;
pub mod feed;
pub mod grpc;
pub mod http;
pub mod remote;
pub mod repository;
pub mod service;
