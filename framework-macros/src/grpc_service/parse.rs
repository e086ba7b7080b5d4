use proc_macro2::TokenStream;
use syn::spanned::Spanned;

use crate::access::{AUTHENTICATED, Access, AccessArgs, PUBLIC, RATE_LIMIT, SCOPE};
use crate::attr::{Errors, FlagArg};

/// A validated `impl <tonic service trait> for <component>`.
pub(crate) struct GrpcService {
    pub(crate) item: syn::ItemImpl,
    /// `path::to::article_service_server::ArticleService`.
    pub(crate) trait_path: syn::Path,
    /// The component implementing it.
    pub(crate) component: syn::TypePath,
    /// The implemented methods, each with what its `#[rpc]` declares.
    pub(crate) methods: Vec<(syn::Ident, Declared)>,
    /// `#[grpc_service(scope = .., rate_limit = ..)]`: what every method has unless its
    /// `#[rpc]` says otherwise.
    pub(crate) declared: Declared,
}

/// What a `#[grpc_service]` or `#[rpc]` declares.
#[derive(Default)]
pub(crate) struct Declared {
    pub(crate) access: Option<Access>,
    /// An `Option<RateLimit>` expression.
    pub(crate) rate_limit: Option<TokenStream>,
}

impl AccessArgs {
    fn declared(self, errors: &mut Errors) -> Declared {
        let rate_limit = self.rate_limit();
        Declared {
            access: self.resolve(errors),
            rate_limit,
        }
    }
}

/// The attribute a method of the impl declares its own access with.
const RPC: &str = "rpc";

impl GrpcService {
    pub(crate) fn parse(args: TokenStream, item: TokenStream) -> syn::Result<GrpcService> {
        let mut errors = Errors::default();
        let declared = service_access(args, &mut errors);
        let mut item: syn::ItemImpl = syn::parse2(item).map_err(|e| {
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
        let mut methods = Vec::new();
        for i in &mut item.items {
            if let syn::ImplItem::Fn(f) = i {
                let declared = method_access(&mut f.attrs, &mut errors);
                methods.push((f.sig.ident.clone(), declared));
            }
        }
        errors.finish()?;
        let trait_path = trait_path.clone();
        let component =
            component.ok_or_else(|| syn::Error::new(item.span(), "unreachable: no component"))?;
        Ok(GrpcService {
            item,
            trait_path,
            component,
            methods,
            declared,
        })
    }
}

/// `#[grpc_service(scope = "..")]` or `#[grpc_service(authenticated)]`, and `rate_limit`.
fn service_access(args: TokenStream, errors: &mut Errors) -> Declared {
    let parsed = syn::parse::Parser::parse2(
        syn::punctuated::Punctuated::<FlagArg, syn::Token![,]>::parse_terminated,
        args,
    );
    let options = match parsed {
        Ok(options) => options,
        Err(error) => {
            errors.push(syn::Error::new(
                error.span(),
                format!(
                    "`#[grpc_service]` takes `{SCOPE} = \"..\"` or `{AUTHENTICATED}`, `{RATE_LIMIT} = \"..\"`, or nothing"
                ),
            ));
            return Declared::default();
        }
    };
    let mut access = AccessArgs::default();
    for FlagArg { key, value } in options {
        if !access.take(&key, value, false, errors) {
            errors.spanned(
                &key,
                format!(
                    "unknown `#[grpc_service]` option `{}`; expected one of: {SCOPE}, {AUTHENTICATED}, {RATE_LIMIT}",
                    crate::attr::path_name(&key)
                ),
            );
        }
    }
    access.declared(errors)
}

/// A method's `#[rpc(..)]`, removed from the impl: `scope = "..."`, `authenticated` or
/// `public`, and `rate_limit`.
fn method_access(attrs: &mut Vec<syn::Attribute>, errors: &mut Errors) -> Declared {
    let mut access = AccessArgs::default();
    let mut seen = false;
    attrs.retain(|attr| {
        if !attr.path().is_ident(RPC) {
            return true;
        }
        if seen {
            // Its options would only add errors of their own to this one.
            errors.spanned(attr, "`#[rpc]` specified more than once");
            return false;
        }
        seen = true;
        let parsed = attr.parse_args_with(
            syn::punctuated::Punctuated::<FlagArg, syn::Token![,]>::parse_terminated,
        );
        match parsed {
            Ok(options) => {
                for FlagArg { key, value } in options {
                    if !access.take(&key, value, true, errors) {
                        errors.spanned(
                            &key,
                            format!(
                                "unknown `#[rpc]` option `{}`; expected one of: {SCOPE}, {AUTHENTICATED}, {PUBLIC}, {RATE_LIMIT}",
                                crate::attr::path_name(&key)
                            ),
                        );
                    }
                }
            }
            Err(_) => errors.spanned(
                attr,
                format!("expected `#[rpc({SCOPE} = \"..\")]`, `#[rpc({AUTHENTICATED})]` or `#[rpc({PUBLIC})]`, and `{RATE_LIMIT} = \"..\"`"),
            ),
        }
        false
    });
    access.declared(errors)
}

/// The impl without its methods' `#[rpc]` attributes, which only this macro reads: emitted
/// beside an error, so that the compiler does not add "cannot find attribute `rpc`".
pub(crate) fn without_rpc_attributes(item: TokenStream) -> TokenStream {
    match syn::parse2::<syn::ItemImpl>(item.clone()) {
        Ok(mut parsed) => {
            for i in &mut parsed.items {
                if let syn::ImplItem::Fn(f) = i {
                    f.attrs.retain(|attr| !attr.path().is_ident(RPC));
                }
            }
            quote::ToTokens::into_token_stream(parsed)
        }
        Err(_) => item,
    }
}
