use proc_macro2::TokenStream;
use quote::ToTokens;
use syn::parse::{Parse, ParseStream, Parser};
use syn::punctuated::Punctuated;
use syn::{Fields, Item, Token};

use crate::attr::{Errors, set_once};

const PROVIDES: &str = "provides";
const WHEN: &str = "when";
/// A field attribute: the module's own state, `Default::default()`, not injected.
const STATE: &str = "state";

/// A validated `#[module]` struct.
pub(crate) struct Module {
    pub(crate) item: syn::ItemStruct,
    /// `provides = dyn Trait`, in order.
    pub(crate) provides: Vec<syn::Type>,
    /// `when = path::to::predicate`.
    pub(crate) when: Option<syn::Path>,
    /// Per field (in order): whether it is `#[state]` rather than injected.
    pub(crate) state: Vec<bool>,
}

/// One `key = value` argument.
enum Arg {
    Provides(syn::Type),
    When(syn::Path, syn::Path),
}

impl Parse for Arg {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let key: syn::Path = input.parse()?;
        let known = key.is_ident(PROVIDES) || key.is_ident(WHEN);
        if !known {
            return Err(syn::Error::new_spanned(
                &key,
                format!(
                    "unknown `#[module]` argument `{}`; expected `provides = dyn Trait` or `when = predicate`",
                    crate::attr::path_name(&key)
                ),
            ));
        }
        crate::attr::expect_value(input, &key)?;
        if key.is_ident(PROVIDES) {
            match input.parse::<syn::Type>()? {
                ty @ syn::Type::TraitObject(_) => Ok(Arg::Provides(ty)),
                other => Err(syn::Error::new_spanned(
                    other,
                    "`provides` expects a trait object, e.g. `provides = dyn ArticleRepository`",
                )),
            }
        } else {
            let value: syn::Path = input.parse().map_err(|e| {
                syn::Error::new(
                    e.span(),
                    "`when` expects the path of a `fn(&Settings) -> bool`, e.g. `when = framework::db::is_postgres`",
                )
            })?;
            Ok(Arg::When(key, value))
        }
    }
}

impl Module {
    pub(crate) fn parse(args: TokenStream, item: TokenStream) -> syn::Result<Module> {
        let mut errors = Errors::default();
        let mut provides = Vec::new();
        let mut when = None;
        for arg in Punctuated::<Arg, Token![,]>::parse_terminated.parse2(args)? {
            match arg {
                Arg::Provides(ty) => provides.push(ty),
                Arg::When(key, value) => set_once(&mut when, value, &key, &mut errors),
            }
        }

        let item = match syn::parse2::<Item>(item)? {
            Item::Struct(item) => item,
            Item::Enum(e) => {
                return Err(syn::Error::new_spanned(
                    e.enum_token,
                    "`#[module]` goes on a struct whose fields are injected, not on an enum",
                ));
            }
            Item::Fn(f) => {
                return Err(syn::Error::new_spanned(
                    f.sig.fn_token,
                    "`#[module]` goes on a struct; for a handler use `#[http_route(METHOD, \"/path\")]`",
                ));
            }
            Item::Impl(i) => {
                return Err(syn::Error::new_spanned(
                    i.impl_token,
                    "`#[module]` goes on the struct itself, not on its impl block",
                ));
            }
            other => {
                return Err(syn::Error::new_spanned(
                    other,
                    "`#[module]` goes on a struct whose fields are injected",
                ));
            }
        };
        if let Fields::Unnamed(fields) = &item.fields {
            errors.spanned(
                fields,
                "`#[module]` needs named fields so each can be injected, e.g. `struct Service { repo: Arc<dyn Repo> }`",
            );
        }
        if !item.generics.params.is_empty() {
            errors.spanned(
                &item.generics,
                "a `#[module]` cannot be generic: a singleton has one concrete type",
            );
        }
        let mut item = item;
        let mut state = Vec::new();
        for field in item.fields.iter_mut() {
            let marks: Vec<_> = field
                .attrs
                .iter()
                .filter(|a| a.path().is_ident(STATE))
                .collect();
            if let Some(extra) = marks.get(1) {
                errors.spanned(extra, "`#[state]` specified more than once");
            }
            state.push(!marks.is_empty());
            strip_state(field);
        }
        errors.finish()?;
        Ok(Module {
            item,
            provides,
            when,
            state,
        })
    }
}

/// The item with its `#[state]` field attributes removed: emitted beside an error, so the
/// user does not also see "cannot find attribute `state`".
pub(crate) fn without_state_attributes(item: TokenStream) -> TokenStream {
    match syn::parse2::<syn::ItemStruct>(item.clone()) {
        Ok(mut item) => {
            item.fields.iter_mut().for_each(strip_state);
            item.into_token_stream()
        }
        Err(_) => item,
    }
}

fn strip_state(field: &mut syn::Field) {
    field.attrs.retain(|a| !a.path().is_ident(STATE));
}
