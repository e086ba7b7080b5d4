//! `#[derive(DomainError)]`: parse, validate, expand.

mod expand;
mod parse;

use proc_macro2::TokenStream;

pub(crate) fn expand(input: TokenStream) -> TokenStream {
    let input = match syn::parse2::<syn::DeriveInput>(input) {
        Ok(input) => input,
        Err(error) => return error.into_compile_error(),
    };
    match parse::ErrorEnum::parse(&input) {
        Ok(error) => expand::expand(&error),
        Err(error) => error.into_compile_error(),
    }
}
