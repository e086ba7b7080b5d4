//! The procedural macros of `framework`. Use them through `framework`; the generated code
//! names the runtime only through `::framework::__private`.
#![warn(missing_docs)]

mod access;
mod attr;
#[cfg(feature = "cron")]
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
    if !cfg!(feature = "http") {
        return plugin_off("#[http_route]", &["http"], item);
    }
    http_route::expand(args.into(), item.into()).into()
}

/// Consumes a topic in a group with at-least-once delivery, retries and a dead-letter topic:
/// `#[kafka_consumer(topic = "articles.created", group = "projector")]`.
#[proc_macro_attribute]
pub fn kafka_consumer(args: TokenStream, item: TokenStream) -> TokenStream {
    if !cfg!(feature = "kafka") {
        return plugin_off("#[kafka_consumer]", &["kafka"], item);
    }
    kafka_consumer::expand(args.into(), item.into()).into()
}

/// Runs an `async fn` on a cron schedule (with seconds), optionally once per tick across all
/// replicas: `#[cron_job(schedule = "0 */5 * * * *", singleton)]`.
#[proc_macro_attribute]
pub fn cron_job(args: TokenStream, item: TokenStream) -> TokenStream {
    #[cfg(not(feature = "cron"))]
    {
        let _ = args;
        plugin_off("#[cron_job]", &["cron"], item)
    }
    #[cfg(feature = "cron")]
    cron_job::expand(args.into(), item.into()).into()
}

/// Serves a tonic service implemented by a `#[module]`:
/// `#[grpc_service] impl article_service_server::ArticleService for ArticleGrpc { .. }`.
#[proc_macro_attribute]
pub fn grpc_service(args: TokenStream, item: TokenStream) -> TokenStream {
    if !cfg!(feature = "grpc") {
        return plugin_off("#[grpc_service]", &["grpc"], item);
    }
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
    if !cfg!(feature = "db") {
        return plugin_off(
            "framework::migrations!",
            &["postgres", "sqlite"],
            TokenStream::new(),
        );
    }
    migrations::expand(input.into()).into()
}

/// A macro whose plugin is off: a compile error at the macro (the attribute, or the macro
/// call) naming the feature to enable (any one of `features`); the item is kept, so nothing
/// else goes missing.
fn plugin_off(macro_name: &str, features: &[&str], item: TokenStream) -> TokenStream {
    let names: Vec<String> = features.iter().map(|f| format!("`{f}`")).collect();
    let message = format!(
        "`{macro_name}` needs the {} feature of `framework`, which is off: enable it where \
         `framework` is a dependency: `framework = {{ version = \"..\", features = [\"{}\"] }}`",
        names.join(" or "),
        features[0],
    );
    let item = proc_macro2::TokenStream::from(item);
    quote::quote! {
        ::core::compile_error!(#message);
        #item
    }
    .into()
}
