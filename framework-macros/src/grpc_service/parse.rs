use proc_macro2::TokenStream;
use syn::spanned::Spanned;

use crate::attr::Errors;

/// A validated `impl <tonic service trait> for <component>`.
pub(crate) struct GrpcService {
    pub(crate) item: syn::ItemImpl,
    /// `path::to::article_service_server::ArticleService`.
    pub(crate) trait_path: syn::Path,
    /// The component implementing it.
    pub(crate) component: syn::TypePath,
    /// The implemented methods.
    pub(crate) methods: Vec<syn::Ident>,
}

impl GrpcService {
    pub(crate) fn parse(args: TokenStream, item: TokenStream) -> syn::Result<GrpcService> {
        let mut errors = Errors::default();
        if !args.is_empty() {
            errors.spanned(&args, "`#[grpc_service]` takes no arguments");
        }
        let item: syn::ItemImpl = syn::parse2(item).map_err(|e| {
            syn::Error::new(
                e.span(),
                "`#[grpc_service]` goes on `impl <tonic service trait> for <module>`, e.g. \
                 `impl article_service_server::ArticleService for ArticleGrpc`",
            )
        })?;
        let Some((negation, trait_path, _)) = &item.trait_ else {
            return Err(syn::Error::new_spanned(
                item.impl_token,
                "`#[grpc_service]` needs the tonic-generated service trait: write \
                 `impl <service>_server::<Service> for <module>`, not an inherent impl",
            ));
        };
        if trait_path.segments.len() < 2 {
            let name = crate::attr::path_name(trait_path);
            errors.spanned(
                trait_path,
                format!(
                    "name the trait through its generated module, e.g. `article_service_server::{name}`, \
                     so `#[grpc_service]` finds the `{name}Server` tonic generates beside it"
                ),
            );
        }
        if let Some(bang) = negation {
            errors.spanned(bang, "`#[grpc_service]` cannot go on a negative impl");
        }
        if !item.generics.params.is_empty() {
            errors.spanned(&item.generics, "a `#[grpc_service]` impl cannot be generic: the server needs one concrete component");
        }
        let component = match &*item.self_ty {
            syn::Type::Path(path) if path.qself.is_none() => Some(path.clone()),
            other => {
                errors.spanned(other, "`#[grpc_service]` implements the service for a `#[module]` struct, named by its path");
                None
            }
        };
        let methods = item
            .items
            .iter()
            .filter_map(|i| match i {
                syn::ImplItem::Fn(f) => Some(f.sig.ident.clone()),
                _ => None,
            })
            .collect();
        errors.finish()?;
        let trait_path = trait_path.clone();
        let component =
            component.ok_or_else(|| syn::Error::new(item.span(), "unreachable: no component"))?;
        Ok(GrpcService {
            item,
            trait_path,
            component,
            methods,
        })
    }
}
