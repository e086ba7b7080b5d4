use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{FnArg, ReturnType};

use super::parse::Route;

/// The handler as written, compile-time checks of its arguments, and its registration record.
pub(crate) fn expand(route: &Route) -> TokenStream {
    let item = &route.item;
    let name = &item.sig.ident;
    let method = &route.method;
    let method_name = method.to_string();
    let path = &route.path;

    // axum reports a bad argument as "the trait `Handler` is not implemented" on the whole
    // function; these checks put the error on the argument (as `#[debug_handler]` does).
    let args: Vec<&syn::Type> = item
        .sig
        .inputs
        .iter()
        .filter_map(|input| match input {
            FnArg::Typed(arg) => Some(&*arg.ty),
            FnArg::Receiver(_) => None,
        })
        .collect();
    let arg_checks = args.iter().enumerate().map(|(index, ty)| {
        if index + 1 < args.len() {
            quote_spanned! {ty.span()=> __framework::check_parts_extractor::<#ty>(); }
        } else {
            quote_spanned! {ty.span()=> __framework::check_body_extractor::<_, #ty>(); }
        }
    });
    let output_check = match &item.sig.output {
        ReturnType::Type(_, ty) => {
            quote_spanned! {ty.span()=> __framework::check_response::<#ty>(); }
        }
        ReturnType::Default => quote! {},
    };
    let dependencies = crate::attr::inject_dependencies(&route.injected);
    let location = crate::attr::location(name.span());

    quote! {
        #item

        const _: () = {
            use ::framework::__private as __framework;

            /// Compile-time checks only: each argument is an extractor (the last may read the
            /// body) and the return type is a response.
            #[doc(hidden)]
            #[allow(dead_code)]
            fn __framework_checks() {
                #(#arg_checks)*
                #output_check
            }

            /// The handler as an axum method router; the runtime mounts it under `HTTP_BASE_PATH`.
            #[doc(hidden)]
            fn __framework_mount() -> __framework::axum::routing::MethodRouter<__framework::AppState> {
                __framework::axum::routing::on(__framework::axum::routing::MethodFilter::#method, #name)
            }

            /// The route, as the runtime collects it at startup.
            #[doc(hidden)]
            const __FRAMEWORK_RECORD: __framework::RouteRecord = __framework::RouteRecord {
                method: #method_name,
                path: #path,
                handler: ::core::concat!(::core::module_path!(), "::", ::core::stringify!(#name)),
                mount: __framework_mount,
                dependencies: || #dependencies,
                location: #location,
            };
            __framework::inventory::submit!(__FRAMEWORK_RECORD);
        };
    }
}
