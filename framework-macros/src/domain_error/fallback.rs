//! Placeholder impls emitted beside a compile error, so one mistake in the enum is reported
//! once instead of again wherever the enum is used as a `DomainError` or a response.

use proc_macro2::TokenStream;
use quote::quote;
use syn::DeriveInput;

pub(crate) fn expand(input: &DeriveInput) -> TokenStream {
    if !input.generics.params.is_empty() {
        return TokenStream::new();
    }
    let name = &input.ident;
    let deliveries = super::expand::delivery_impls(name, true);
    quote! {
        const _: () = {
            use ::framework::__private as __framework;

            #[automatically_derived]
            impl __framework::DomainError for #name {
                fn kind(&self) -> __framework::ErrorKind {
                    ::core::unreachable!()
                }
                fn code(&self) -> &'static str {
                    ::core::unreachable!()
                }
            }

            #deliveries
        };
    }
}
