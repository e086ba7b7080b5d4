use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::Fields;

use super::parse::ErrorEnum;

/// `DomainError` (kind and code per variant), `IntoResponse` (problem+json), and one
/// registration record per variant so startup can reject a code claimed twice.
pub(crate) fn expand(error: &ErrorEnum<'_>) -> TokenStream {
    let name = error.ident;
    let patterns: Vec<TokenStream> = error
        .variants
        .iter()
        .map(|v| {
            let ident = v.ident;
            match v.fields {
                Fields::Named(_) => quote! { #name::#ident { .. } },
                Fields::Unnamed(_) => quote! { #name::#ident(..) },
                Fields::Unit => quote! { #name::#ident },
            }
        })
        .collect();
    let kinds: Vec<_> = error.variants.iter().map(|v| &v.kind).collect();
    let codes: Vec<&String> = error.variants.iter().map(|v| &v.code).collect();
    let records = error.variants.iter().enumerate().map(|(index, v)| {
        let (ident, kind, code) = (v.ident, &v.kind, &v.code);
        let variant = ident.to_string();
        let location = crate::attr::location(ident.span());
        let record = quote::format_ident!("__FRAMEWORK_CODE_{}", index);
        let doc = format!(" The code of `{variant}`, as the runtime collects it at startup.");
        quote_spanned! {ident.span()=>
            #[doc = #doc]
            #[doc(hidden)]
            const #record: __framework::ErrorCodeRecord = __framework::ErrorCodeRecord {
                code: #code,
                kind: __framework::ErrorKind::#kind,
                error_type: ::core::concat!(::core::module_path!(), "::", ::core::stringify!(#name)),
                variant: #variant,
                location: #location,
            };
            __framework::inventory::submit!(#record);
        }
    });

    let deliveries = delivery_impls(name, false);

    quote! {
        const _: () = {
            use ::framework::__private as __framework;

            #[automatically_derived]
            impl __framework::DomainError for #name {
                fn kind(&self) -> __framework::ErrorKind {
                    let declared = match self {
                        #(#patterns => __framework::ErrorKind::#kinds,)*
                    };
                    // An `internal` variant over a dependency's transient failure answers
                    // as `unavailable` or `timeout`.
                    __framework::classified(self, declared)
                }

                fn code(&self) -> &'static str {
                    match self {
                        #(#patterns => #codes,)*
                    }
                }

                fn domain(&self) -> &'static str {
                    ::core::env!("CARGO_PKG_NAME")
                }

                fn catalog() -> &'static [(&'static str, __framework::ErrorKind)] {
                    &[#((#codes, __framework::ErrorKind::#kinds),)*]
                }
            }

            #deliveries

            #(#records)*
        };
    }
}

/// The conversions to each delivery's answer, for the deliveries that are on (framework's
/// features, passed on to this crate): a gRPC `Status` and an HTTP response. `placeholder`
/// gives them unreachable bodies, beside a compile error.
pub(super) fn delivery_impls(name: &syn::Ident, placeholder: bool) -> TokenStream {
    let (status, response) = if placeholder {
        let unreachable = quote! { ::core::unreachable!() };
        (quote! { let _ = error; #unreachable }, unreachable)
    } else {
        (
            quote! { __framework::status_from_domain_error(&error) },
            quote! { __framework::domain_error_response(&self) },
        )
    };
    let grpc = cfg!(feature = "grpc").then(|| {
        quote! {
            #[automatically_derived]
            impl ::core::convert::From<#name> for __framework::tonic::Status {
                fn from(error: #name) -> Self {
                    #status
                }
            }
        }
    });
    let http = cfg!(feature = "http").then(|| {
        quote! {
            #[automatically_derived]
            impl __framework::axum::response::IntoResponse for #name {
                fn into_response(self) -> __framework::axum::response::Response {
                    #response
                }
            }
        }
    });
    quote! { #grpc #http }
}
