use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;

use super::parse::Job;

/// The job as written, an adapter that extracts its parameters, and its registration record.
pub(crate) fn expand(job: &Job) -> TokenStream {
    let item = &job.item;
    let name = &item.sig.ident;
    let (schedule, singleton) = (&job.schedule, job.singleton);
    let overlap = if job.allow_overlap {
        quote! { __framework::Overlap::Allow }
    } else {
        quote! { __framework::Overlap::Skip }
    };
    let timeout_secs = match job.timeout_secs {
        Some(secs) => quote! { ::core::option::Option::Some(#secs) },
        None => quote! { ::core::option::Option::None },
    };
    let args: Vec<_> = (0..job.params.len())
        .map(|i| format_ident!("__framework_arg{i}"))
        .collect();
    // Spanned on each parameter's type, so a type that is not an extractor is reported there.
    let extracts = job.params.iter().zip(&args).map(|(ty, arg)| {
        quote_spanned! {ty.span()=>
            let #arg = <#ty as __framework::FromJob>::from_job(context, container)?;
        }
    });
    // Through the user's return type, so a wrong error type is reported there.
    let call = quote! { #name(#(#args),*).await };
    let result = match &item.sig.output {
        syn::ReturnType::Type(_, ty) => {
            quote_spanned! {ty.span()=> <#ty as __framework::JobResult>::into_result(#call) }
        }
        // Rejected while parsing; never expanded.
        syn::ReturnType::Default => quote! { ::core::result::Result::Ok(()) },
    };
    let dependencies = crate::attr::inject_dependencies(&job.injected);
    let location = crate::attr::location(name.span());
    let transactional = crate::attr::transactional(&job.params);

    quote! {
        #item

        const _: () = {
            use ::framework::__private as __framework;

            /// Runs the job once: extracts each parameter, then reports the job's result.
            #[doc(hidden)]
            fn __framework_run<'a>(
                container: &'a __framework::Container,
                context: &'a __framework::JobContext,
            ) -> __framework::BoxFuture<'a, ::core::result::Result<(), __framework::Failure>> {
                ::std::boxed::Box::pin(async move {
                    #(#extracts)*
                    #result
                })
            }

            /// The job, as the runtime collects it at startup.
            #[doc(hidden)]
            const __FRAMEWORK_RECORD: __framework::JobRecord = __framework::JobRecord {
                handler: ::core::concat!(::core::module_path!(), "::", ::core::stringify!(#name)),
                schedule: #schedule,
                singleton: #singleton,
                overlap: #overlap,
                timeout_secs: #timeout_secs,
                run: __framework_run,
                dependencies: || #dependencies,
                transactional: #transactional,
                location: #location,
            };
            __framework::inventory::submit!(__FRAMEWORK_RECORD);
        };
    }
}
