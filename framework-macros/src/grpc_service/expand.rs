use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;

use super::parse::GrpcService;
use crate::access::{Access, rate_limit_tokens};

/// The impl (through async-trait, as tonic's traits require), then the record that mounts the
/// generated `<Service>Server` over the DI-built component.
pub(crate) fn expand(service: &GrpcService) -> TokenStream {
    let item = &service.item;
    let component = &service.component;
    // A method's own `#[rpc]`, else the service's.
    let service_declared = &service.declared;
    let methods = service.methods.iter().map(|(name, declared)| {
        let name = syn::ext::IdentExt::unraw(name).to_string();
        let requirement = Access::tokens(
            declared
                .access
                .as_ref()
                .or(service_declared.access.as_ref()),
        );
        let rate_limit = rate_limit_tokens(
            declared
                .rate_limit
                .as_ref()
                .or(service_declared.rate_limit.as_ref()),
        );
        quote! {
            __framework::GrpcMethod { name: #name, requirement: #requirement, rate_limit: #rate_limit }
        }
    });
    let requirement = Access::tokens(service_declared.access.as_ref());
    let rate_limit = rate_limit_tokens(service_declared.rate_limit.as_ref());

    // tonic generates `<service>_server::<Service>Server` beside the trait.
    let mut server = service.trait_path.clone();
    let trait_name = server.segments.last().map(|s| s.ident.clone());
    if let Some(last) = server.segments.last_mut() {
        last.ident = format_ident!("{}Server", last.ident, span = last.ident.span());
        last.arguments = syn::PathArguments::None;
    }
    let server_type = quote_spanned! {service.trait_path.span()=> #server<#component> };
    let location =
        crate::attr::location(trait_name.map_or_else(|| item.impl_token.span, |t| t.span()));

    quote! {
        #[::framework::__private::async_trait]
        #item

        const _: () = {
            use ::framework::__private as __framework;

            /// Adds the tonic server of the DI-built component to the gRPC routes.
            #[doc(hidden)]
            fn __framework_mount(
                container: &__framework::Container,
                options: &__framework::MountOptions,
                routes: &mut __framework::tonic::service::RoutesBuilder,
            ) -> ::core::result::Result<(), __framework::ResolveError> {
                let component = container
                    .get::<#component>()
                    .ok_or(__framework::ResolveError::Missing(::core::stringify!(#component)))?;
                routes.add_service(
                    <#server_type>::from_arc(component)
                        .max_decoding_message_size(options.max_message_bytes)
                        .max_encoding_message_size(options.max_message_bytes)
                        .accept_compressed(options.compression)
                        .send_compressed(options.compression),
                );
                ::core::result::Result::Ok(())
            }

            /// The service, as the runtime collects it at startup.
            #[doc(hidden)]
            const __FRAMEWORK_RECORD: __framework::GrpcServiceRecord = __framework::GrpcServiceRecord {
                service: <#server_type as __framework::tonic::server::NamedService>::NAME,
                implementation: ::core::concat!(::core::module_path!(), "::", ::core::stringify!(#component)),
                methods: &[#(#methods),*],
                requirement: #requirement,
                rate_limit: #rate_limit,
                dependencies: || ::std::vec::Vec::from([
                    __framework::Dependency::Component(__framework::Key::of::<#component>()),
                ]),
                mount: __framework_mount,
                location: #location,
            };
            __framework::inventory::submit!(__FRAMEWORK_RECORD);
        };
    }
}
