use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

use super::parse::Module;

/// The struct as written, then its factory and its registration record.
pub(crate) fn expand(module: &Module) -> TokenStream {
    let item = &module.item;
    let name = &item.ident;

    let fields: Vec<_> = item
        .fields
        .iter()
        .zip(&module.state)
        .filter_map(|(f, state)| f.ident.as_ref().map(|i| (i, &f.ty, *state)))
        .collect();
    // Spanned on each field's type, so a type that cannot be injected is reported there.
    let inits = fields.iter().map(|(ident, ty, state)| {
        if *state {
            quote_spanned! {ty.span()=> #ident: <#ty as ::core::default::Default>::default() }
        } else {
            quote_spanned! {ty.span()=> #ident: <#ty as __framework::Injectable>::resolve(ctx.container())? }
        }
    });
    let injected = fields.iter().filter(|(_, _, state)| !state);
    let dependencies = injected.map(|(ident, ty, _)| {
        let field = ident.to_string();
        let line = quote_spanned! {ident.span()=> ::core::line!() };
        quote_spanned! {ty.span()=>
            __framework::Field {
                name: #field,
                line: #line,
                dependency: <#ty as __framework::Injectable>::dependency(),
            }
        }
    });
    // Spanned on the trait's name, so "the trait bound `S: Trait` is not satisfied" is
    // reported at `Trait` in `provides = dyn Trait`.
    let bindings = module.provides.iter().map(|ty| {
        let span = trait_name_span(ty);
        quote_spanned! {span=> __framework::Instance::of::<#ty>(component.clone()) }
    });
    let provided_keys = module
        .provides
        .iter()
        .map(|ty| quote! { __framework::Key::of::<#ty>() });
    let condition = match &module.when {
        Some(path) => {
            let text = crate::attr::path_name(path);
            quote_spanned! {path.span()=>
                ::core::option::Option::Some(__framework::Condition { name: #text, check: #path, hint: ::core::option::Option::None })
            }
        }
        None => quote! { ::core::option::Option::None },
    };
    let location = crate::attr::location(name.span());

    quote! {
        #item

        const _: () = {
            use ::framework::__private as __framework;

            /// Builds the singleton from the components built before it, and stores it under
            /// its own type and each `provides` binding.
            #[doc(hidden)]
            fn __framework_new(
                ctx: &__framework::BuildContext,
            ) -> ::core::result::Result<::std::vec::Vec<__framework::Instance>, __framework::BuildError> {
                let component = ::std::sync::Arc::new(#name { #(#inits,)* });
                ::core::result::Result::Ok(::std::vec::Vec::from([
                    #(#bindings,)*
                    __framework::Instance::of::<#name>(component),
                ]))
            }

            /// The factory the registry calls, in dependency order.
            #[doc(hidden)]
            fn __framework_build(ctx: &__framework::BuildContext) -> __framework::BuildFuture<'_> {
                __framework::ready(__framework_new(ctx))
            }

            /// The component, as the runtime collects it at startup.
            #[doc(hidden)]
            const __FRAMEWORK_RECORD: __framework::ProviderRecord = __framework::ProviderRecord {
                name: ::core::concat!(::core::module_path!(), "::", ::core::stringify!(#name)),
                provides: || ::std::vec::Vec::from([__framework::Key::of::<#name>(), #(#provided_keys),*]),
                fields: || ::std::vec::Vec::from([#(#dependencies),*]),
                condition: #condition,
                build: __framework_build,
                kind: __framework::ProviderKind::Module,
                location: #location,
            };
            __framework::inventory::submit!(__FRAMEWORK_RECORD);
        };
    }
}

/// The span of the first trait's name in `dyn path::Trait + ...`: `Spanned::span` on stable
/// is only the first token, `dyn`.
fn trait_name_span(ty: &syn::Type) -> proc_macro2::Span {
    let syn::Type::TraitObject(object) = ty else {
        return ty.span();
    };
    object
        .bounds
        .iter()
        .find_map(|bound| match bound {
            syn::TypeParamBound::Trait(t) => t.path.segments.last().map(|s| s.ident.span()),
            _ => None,
        })
        .unwrap_or_else(|| ty.span())
}
