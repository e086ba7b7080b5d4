//! `#[kafka_consumer(topic = .., group = ..)]`: parse, validate, expand.

mod expand;
mod parse;

use proc_macro2::TokenStream;

pub(crate) fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    parse::Consumer::parse(args, item.clone())
        .map(|consumer| expand::expand(&consumer))
        .unwrap_or_else(|error| crate::attr::with_item(error, item))
}
