//! The procedural macros of `framework`. Use them through `framework`; the generated code
//! names the runtime only through `::framework::__private`.
#![warn(missing_docs)]

mod attr;
mod cron_job;
mod domain_error;
mod grpc_service;
mod http_route;
mod kafka_consumer;
mod migrations;
mod module;
#[cfg(test)]
mod snapshots;

use proc_macro::TokenStream;

/// A singleton component whose fields are injected by type.
///
/// `#[module]`, `#[module(provides = dyn Trait)]`, `#[module(provides = dyn Trait, when = predicate)]`.
#[proc_macro_attribute]
pub fn module(args: TokenStream, item: TokenStream) -> TokenStream {
    module::expand(args.into(), item.into()).into()
}

/// An axum handler mounted under `HTTP_BASE_PATH`: `#[http_route(GET, "/articles/{id}")]`.
#[proc_macro_attribute]
pub fn http_route(args: TokenStream, item: TokenStream) -> TokenStream {
    http_route::expand(args.into(), item.into()).into()
}

/// Consumes a topic in a group with at-least-once delivery, retries and a dead-letter topic:
/// `#[kafka_consumer(topic = "articles.created", group = "projector")]`.
#[proc_macro_attribute]
pub fn kafka_consumer(args: TokenStream, item: TokenStream) -> TokenStream {
    kafka_consumer::expand(args.into(), item.into()).into()
}

/// Runs an `async fn` on a cron schedule (with seconds), optionally once per tick across all
/// replicas: `#[cron_job(schedule = "0 */5 * * * *", singleton)]`.
#[proc_macro_attribute]
pub fn cron_job(args: TokenStream, item: TokenStream) -> TokenStream {
    cron_job::expand(args.into(), item.into()).into()
}

/// Serves a tonic service implemented by a `#[module]`:
/// `#[grpc_service] impl article_service_server::ArticleService for ArticleGrpc { .. }`.
#[proc_macro_attribute]
pub fn grpc_service(args: TokenStream, item: TokenStream) -> TokenStream {
    grpc_service::expand(args.into(), item.into()).into()
}

/// Maps each variant of an error enum to a kind and a stable code: `#[domain(not_found, code = "..")]`.
#[proc_macro_derive(DomainError, attributes(domain))]
pub fn derive_domain_error(input: TokenStream) -> TokenStream {
    domain_error::expand(input.into()).into()
}

/// Embeds `<dir>/postgres/*.sql` and `<dir>/sqlite/*.sql`: `framework::migrations!("../migrations");`.
#[proc_macro]
pub fn migrations(input: TokenStream) -> TokenStream {
    migrations::expand(input.into()).into()
}
