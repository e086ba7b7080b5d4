//! `#[http_route(METHOD, "/path")]`: parse, validate, expand.

mod expand;
mod parse;

use proc_macro2::TokenStream;

pub(crate) fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    parse::Route::parse(args, item.clone())
        .map(|route| expand::expand(&route))
        .unwrap_or_else(|error| crate::attr::with_item(error, item))
}
