//! `#[derive(DomainError)]`: parse, validate, expand (or fall back to placeholders).

mod expand;
mod fallback;
mod parse;

use proc_macro2::TokenStream;

pub(crate) fn expand(input: TokenStream) -> TokenStream {
    let input = match syn::parse2::<syn::DeriveInput>(input) {
        Ok(input) => input,
        Err(error) => return error.into_compile_error(),
    };
    match parse::ErrorEnum::parse(&input) {
        Ok(error) => expand::expand(&error),
        Err(error) => {
            let mut out = error.into_compile_error();
            if matches!(input.data, syn::Data::Enum(_)) {
                out.extend(fallback::expand(&input));
            }
            out
        }
    }
}
