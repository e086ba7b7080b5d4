//! `#[grpc_service]`: parse, validate, expand.

mod expand;
mod parse;

use proc_macro2::TokenStream;

pub(crate) fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    parse::GrpcService::parse(args, item.clone())
        .map(|service| expand::expand(&service))
        .unwrap_or_else(|error| crate::attr::with_item(error, parse::without_rpc_attributes(item)))
}
