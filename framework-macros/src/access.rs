//! The access options `#[http_route]`, `#[grpc_service]` and `#[rpc]` share: `scope =
//! "articles:write"` (OAuth 2.0 scope tokens separated by spaces, RFC 6749 §3.3; all are
//! required), `authenticated` (a caller, no scope), on `#[rpc]` `public` (none of the
//! service's requirement), and `rate_limit = "100/min"` (or `"${KEY}"`: a setting holding
//! one), requests per client.

use proc_macro2::TokenStream;
use quote::quote;

use crate::attr::{Errors, flag, set_once};

pub(crate) const SCOPE: &str = "scope";
pub(crate) const AUTHENTICATED: &str = "authenticated";
pub(crate) const PUBLIC: &str = "public";
pub(crate) const RATE_LIMIT: &str = "rate_limit";

/// What a declaration requires of its caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Access {
    /// No requirement (the default of a route; `public` on an `#[rpc]`).
    Public,
    /// A caller holding every scope of the list (none: authentication alone).
    Scopes(Vec<String>),
}

/// The access options of one attribute, as written.
#[derive(Default)]
pub(crate) struct AccessArgs {
    scope: Option<(syn::Path, Vec<String>)>,
    authenticated: Option<(syn::Path, bool)>,
    public: Option<(syn::Path, bool)>,
    rate_limit: Option<syn::LitStr>,
}

impl AccessArgs {
    /// Takes `key` when it is an access option (`public` only where `allow_public`); `false`
    /// for any other key.
    pub(crate) fn take(
        &mut self,
        key: &syn::Path,
        value: Option<syn::Lit>,
        allow_public: bool,
        errors: &mut Errors,
    ) -> bool {
        let name = crate::attr::path_name(key);
        match name.as_str() {
            SCOPE => {
                let Some(value) = value else {
                    crate::attr::needs_value(key, errors);
                    return true;
                };
                if let Some(scopes) = scopes(&value, errors) {
                    set_once(&mut self.scope, (key.clone(), scopes), key, errors);
                }
            }
            AUTHENTICATED => {
                if let Some(on) = flag(AUTHENTICATED, value, errors) {
                    set_once(&mut self.authenticated, (key.clone(), on), key, errors);
                }
            }
            RATE_LIMIT => match value {
                Some(syn::Lit::Str(spec)) => set_once(&mut self.rate_limit, spec, key, errors),
                Some(other) => errors.spanned(
                    other,
                    "`rate_limit` expects a string: requests per `s`, `min`, `h` or `d` (`rate_limit = \"100/min\"`), or `\"${KEY}\"` naming a setting",
                ),
                None => crate::attr::needs_value(key, errors),
            },
            PUBLIC if allow_public => {
                if let Some(on) = flag(PUBLIC, value, errors) {
                    set_once(&mut self.public, (key.clone(), on), key, errors);
                }
            }
            _ => return false,
        }
        true
    }

    /// The `rate_limit` declared: `Option<RateLimit>` tokens, checked at compile time by
    /// `RateLimit::declared` (a const fn: one grammar, the runtime's).
    pub(crate) fn rate_limit(&self) -> Option<TokenStream> {
        self.rate_limit.as_ref().map(|spec| {
            quote::quote_spanned! {spec.span()=>
                {
                    const LIMIT: __framework::RateLimit = __framework::RateLimit::declared(#spec);
                    LIMIT
                }
            }
        })
    }

    /// The access declared; `None` when nothing was.
    pub(crate) fn resolve(self, errors: &mut Errors) -> Option<Access> {
        let public = self.public.filter(|(_, on)| *on);
        // A rule that spans keys: a scope needs a caller, so it contradicts the other two.
        if let (Some((scope, _)), Some((_, false))) = (&self.scope, &self.authenticated) {
            errors.spanned(
                scope,
                "`scope` requires an authenticated caller: remove `authenticated = false`",
            );
        }
        if let Some((public, _)) = &public
            && (self.scope.is_some() || self.authenticated.as_ref().is_some_and(|(_, on)| *on))
        {
            errors.spanned(
                public,
                "`public` takes no `scope` or `authenticated`: choose one",
            );
        }
        match (self.scope, self.authenticated, public) {
            (Some((_, scopes)), _, _) => Some(Access::Scopes(scopes)),
            (None, Some((_, true)), _) => Some(Access::Scopes(Vec::new())),
            (None, _, Some(_)) => Some(Access::Public),
            (None, Some((_, false)), None) => Some(Access::Public),
            (None, None, None) => None,
        }
    }
}

impl Access {
    /// The record's `Option<Requirement>`.
    pub(crate) fn tokens(access: Option<&Access>) -> TokenStream {
        match access {
            Some(Access::Scopes(scopes)) => quote! {
                ::core::option::Option::Some(__framework::Requirement { scopes: &[#(#scopes),*] })
            },
            Some(Access::Public) | None => quote! { ::core::option::Option::None },
        }
    }
}

/// The record's `Option<RateLimit>`.
pub(crate) fn rate_limit_tokens(limit: Option<&TokenStream>) -> TokenStream {
    match limit {
        Some(limit) => quote! { ::core::option::Option::Some(#limit) },
        None => quote! { ::core::option::Option::None },
    }
}

/// A `scope = "a:read a:write"` value: scope tokens (RFC 6749 §3.3: visible ASCII but `"` and
/// `\`) separated by spaces.
fn scopes(value: &syn::Lit, errors: &mut Errors) -> Option<Vec<String>> {
    let syn::Lit::Str(text) = value else {
        errors.spanned(
            value,
            "`scope` expects a string of scopes separated by spaces, e.g. `scope = \"articles:write\"`",
        );
        return None;
    };
    let mut scopes: Vec<String> = Vec::new();
    for token in text.value().split(' ').filter(|t| !t.is_empty()) {
        if !token
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\')
        {
            errors.spanned(
                text,
                format!(
                    "`{}` is not a scope: a scope is visible ASCII without `\"` or `\\` (RFC 6749 §3.3), and scopes are separated by single spaces",
                    token.escape_default()
                ),
            );
            return None;
        }
        if !scopes.iter().any(|s| s == token) {
            scopes.push(token.to_owned());
        }
    }
    if scopes.is_empty() {
        errors.spanned(
            text,
            "`scope` cannot be empty; for a caller without a scope write `authenticated`",
        );
        return None;
    }
    Some(scopes)
}
