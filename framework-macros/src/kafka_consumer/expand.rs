use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;

use super::parse::Consumer;

/// The handler as written, an adapter that extracts its parameters from a message, and its
/// registration record.
pub(crate) fn expand(consumer: &Consumer) -> TokenStream {
    let item = &consumer.item;
    let name = &item.sig.ident;
    let (topic, group) = (&consumer.topic, &consumer.group);
    let (concurrency, retries, backoff_ms) =
        (consumer.concurrency, consumer.retries, consumer.backoff_ms);
    let dead_letter = match &consumer.dead_letter {
        Some(topic) => quote! { ::core::option::Option::Some(#topic) },
        None => quote! { ::core::option::Option::None },
    };
    let args: Vec<_> = (0..consumer.params.len())
        .map(|i| format_ident!("__framework_arg{i}"))
        .collect();
    // Spanned on each parameter's type, so a type that is not an extractor (or a payload that
    // cannot be decoded) is reported there.
    let extracts = consumer.params.iter().zip(&args).map(|(ty, arg)| {
        quote_spanned! {ty.span()=>
            let #arg = match <#ty as __framework::FromMessage>::from_message(message, container) {
                ::core::result::Result::Ok(value) => value,
                ::core::result::Result::Err(rejection) => return __framework::Outcome::Rejected(rejection),
            };
        }
    });
    // Through the user's return type, so a wrong error type is reported there.
    let call = quote! { #name(#(#args),*).await };
    let outcome = match &item.sig.output {
        syn::ReturnType::Type(_, ty) => {
            quote_spanned! {ty.span()=> <#ty as __framework::ConsumerResult>::into_outcome(#call) }
        }
        // Rejected while parsing; never expanded.
        syn::ReturnType::Default => quote! { __framework::Outcome::Done },
    };
    let dependencies = crate::attr::inject_dependencies(&consumer.injected);
    let location = crate::attr::location(name.span());
    let transactional = crate::attr::transactional(&consumer.params);
    let idempotent = consumer.idempotent;

    quote! {
        #item

        const _: () = {
            use ::framework::__private as __framework;

            /// Runs the handler on one message: extracts each parameter (a failure rejects the
            /// message), then turns the handler's result into an outcome.
            #[doc(hidden)]
            fn __framework_handle<'a>(
                container: &'a __framework::Container,
                message: &'a __framework::Message,
            ) -> __framework::BoxFuture<'a, __framework::Outcome> {
                ::std::boxed::Box::pin(async move {
                    #(#extracts)*
                    #outcome
                })
            }

            /// The consumer, as the runtime collects it at startup.
            #[doc(hidden)]
            const __FRAMEWORK_RECORD: __framework::ConsumerRecord = __framework::ConsumerRecord {
                handler: ::core::concat!(::core::module_path!(), "::", ::core::stringify!(#name)),
                topic: #topic,
                group: #group,
                concurrency: #concurrency,
                retries: #retries,
                backoff_ms: #backoff_ms,
                dead_letter: #dead_letter,
                handle: __framework_handle,
                dependencies: || #dependencies,
                transactional: #transactional,
                idempotent: #idempotent,
                location: #location,
            };
            __framework::inventory::submit!(__FRAMEWORK_RECORD);
        };
    }
}
