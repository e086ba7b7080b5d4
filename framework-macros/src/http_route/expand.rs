use proc_macro2::TokenStream;
use quote::{ToTokens, quote, quote_spanned};
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
        // `impl IntoResponse` cannot be named here; axum checks it where the handler is mounted.
        ReturnType::Type(_, ty) if !crate::attr::mentions_impl(ty.to_token_stream()) => {
            quote_spanned! {ty.span()=> __framework::check_response::<#ty>(); }
        }
        ReturnType::Type(..) | ReturnType::Default => quote! {},
    };
    // With framework's `openapi` feature off, the record has no `openapi` field.
    let (openapi_fn, openapi_field) = if cfg!(feature = "openapi") {
        let docs = openapi_docs(&args, &item.sig.output);
        (
            quote! {
                /// The route's part of the OpenAPI document: what each argument and the result
                /// say of it (types the framework does not describe add nothing).
                #[doc(hidden)]
                fn __framework_openapi(operation: &mut __framework::openapi::Operation) {
                    use __framework::openapi::Describe as _;
                    #(#docs)*
                }
            },
            quote! { openapi: __framework_openapi, },
        )
    } else {
        (quote! {}, quote! {})
    };
    let dependencies = crate::attr::inject_dependencies(&route.injected);
    let transactional = crate::attr::transactional(args.iter().copied());
    let idempotency = route.idempotency;
    let requirement = crate::access::Access::tokens(route.access.as_ref());
    let rate_limit = crate::access::rate_limit_tokens(route.rate_limit.as_ref());
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

            #openapi_fn

            /// The route, as the runtime collects it at startup.
            #[doc(hidden)]
            const __FRAMEWORK_RECORD: __framework::RouteRecord = __framework::RouteRecord {
                method: #method_name,
                path: #path,
                handler: ::core::concat!(::core::module_path!(), "::", ::core::stringify!(#name)),
                mount: __framework_mount,
                dependencies: || #dependencies,
                transactional: #transactional,
                idempotency: #idempotency,
                requirement: #requirement,
                rate_limit: #rate_limit,
                #openapi_field
                location: #location,
            };
            __framework::inventory::submit!(__FRAMEWORK_RECORD);
        };
    }
}

/// One `describe` call per argument type, and for the return type (both sides of a
/// `Result`). Types holding `impl Trait` cannot be named, so they are left out.
fn openapi_docs(args: &[&syn::Type], output: &ReturnType) -> Vec<TokenStream> {
    let describe = |marker: &str, ty: &syn::Type| {
        let marker = syn::Ident::new(marker, ty.span());
        quote_spanned! {ty.span()=>
            (&&&__framework::openapi::#marker::<#ty>::new()).describe(operation);
        }
    };
    let mut docs: Vec<TokenStream> = args
        .iter()
        .filter(|ty| !crate::attr::mentions_impl(ty.to_token_stream()))
        .map(|ty| describe("Arg", ty))
        .collect();
    match output {
        ReturnType::Type(_, ty) if !crate::attr::mentions_impl(ty.to_token_stream()) => {
            match result_sides(ty) {
                Some((ok, err)) => docs.extend([describe("Success", ok), describe("Errors", err)]),
                None => docs.push(describe("Success", ty)),
            }
        }
        ReturnType::Type(..) => {}
        ReturnType::Default => docs.push(quote! {
            (&&&__framework::openapi::Success::<()>::new()).describe(operation);
        }),
    }
    docs
}

/// `T` and `E` of a `Result<T, E>`, however the path to `Result` is written.
fn result_sides(ty: &syn::Type) -> Option<(&syn::Type, &syn::Type)> {
    let syn::Type::Path(path) = ty else {
        return None;
    };
    let last = path.path.segments.last()?;
    let syn::PathArguments::AngleBracketed(generics) = &last.arguments else {
        return None;
    };
    let mut types = generics.args.iter().filter_map(|arg| match arg {
        syn::GenericArgument::Type(ty) => Some(ty),
        _ => None,
    });
    match (
        last.ident == "Result",
        types.next(),
        types.next(),
        types.next(),
    ) {
        (true, Some(ok), Some(err), None) => Some((ok, err)),
        _ => None,
    }
}
