//! `#[module]`: parse the arguments and the struct, validate, then expand.

mod expand;
mod parse;

use proc_macro2::TokenStream;

pub(crate) fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    parse::Module::parse(args, item.clone())
        .map(|module| expand::expand(&module))
        .unwrap_or_else(|error| {
            crate::attr::with_item(error, parse::without_state_attributes(item))
        })
}
