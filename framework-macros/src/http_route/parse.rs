use proc_macro2::TokenStream;
use syn::parse::{Parse, ParseStream};
use syn::{FnArg, Token};

use crate::access::{AUTHENTICATED, Access, AccessArgs, RATE_LIMIT, SCOPE};
use crate::attr::Errors;

const METHODS: [&str; 7] = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

const IDEMPOTENCY: &str = "idempotency";

/// A validated route.
pub(crate) struct Route {
    pub(crate) method: syn::Ident,
    pub(crate) path: syn::LitStr,
    /// `idempotency`: the route honours `Idempotency-Key`.
    pub(crate) idempotency: bool,
    /// `scope = ..` or `authenticated`, or a `Principal` argument; `None`: public.
    pub(crate) access: Option<Access>,
    /// `rate_limit = ".."`: an `Option<RateLimit>` expression.
    pub(crate) rate_limit: Option<TokenStream>,
    pub(crate) item: syn::ItemFn,
    /// The `T` of each `Inject<T>` argument.
    pub(crate) injected: Vec<syn::Type>,
}

struct Args {
    method: syn::Ident,
    path: syn::LitStr,
    /// The options after the path.
    options: Vec<crate::attr::FlagArg>,
}

impl Parse for Args {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        const USAGE: &str = "expected `#[http_route(METHOD, \"/path\")]`, e.g. `#[http_route(GET, \"/articles/{id}\")]`";
        if input.is_empty() {
            return Err(input.error(USAGE));
        }
        let method: syn::Ident = input
            .parse()
            .map_err(|e| syn::Error::new(e.span(), USAGE))?;
        if input.is_empty() {
            return Err(syn::Error::new_spanned(
                &method,
                format!("missing the route path: `#[http_route({method}, \"/path\")]`"),
            ));
        }
        input
            .parse::<Token![,]>()
            .map_err(|e| syn::Error::new(e.span(), USAGE))?;
        let path: syn::LitStr = input
            .parse()
            .map_err(|e| syn::Error::new(e.span(), USAGE))?;
        input.parse::<Option<Token![,]>>()?;
        let options =
            syn::punctuated::Punctuated::<crate::attr::FlagArg, Token![,]>::parse_terminated(input)
                .map_err(|e| {
                    syn::Error::new(
                        e.span(),
                        "after the path, `#[http_route]` takes options: `idempotency`, `scope = \"..\"`, `authenticated`, `rate_limit = \"..\"`",
                    )
                })?;
        Ok(Args {
            method,
            path,
            options: options.into_iter().collect(),
        })
    }
}

impl Route {
    pub(crate) fn parse(args: TokenStream, item: TokenStream) -> syn::Result<Route> {
        let Args {
            method,
            path,
            options,
        } = syn::parse2(args)?;
        let item: syn::ItemFn = syn::parse2(item).map_err(|e| {
            syn::Error::new(e.span(), "`#[http_route]` goes on an `async fn` handler")
        })?;
        let mut errors = Errors::default();
        check_method(&method, &mut errors);
        check_path(&path, &mut errors);
        let mut idempotency = None;
        let mut access = AccessArgs::default();
        for crate::attr::FlagArg { key, value } in options {
            let name = crate::attr::path_name(&key);
            if name != IDEMPOTENCY {
                if !access.take(&key, value, false, &mut errors) {
                    errors.spanned(
                        &key,
                        format!("unknown `#[http_route]` option `{name}`; expected one of: {IDEMPOTENCY}, {SCOPE}, {AUTHENTICATED}, {RATE_LIMIT}"),
                    );
                }
                continue;
            }
            if let Some(on) = crate::attr::flag(IDEMPOTENCY, value, &mut errors) {
                // Only the methods that are not idempotent by definition (RFC 9110 §9.2.2)
                // need the header (draft-ietf-httpapi-idempotency-key-header §1).
                if on && !matches!(method.to_string().as_str(), "POST" | "PATCH") {
                    errors.spanned(
                        &key,
                        format!("`idempotency` is for POST and PATCH routes: {method} is idempotent already"),
                    );
                }
                crate::attr::set_once(&mut idempotency, on, &key, &mut errors);
            }
        }

        let sig = &item.sig;
        if sig.asyncness.is_none() {
            errors.spanned(sig.fn_token, "`#[http_route]` requires an `async fn`");
        }
        if !sig.generics.params.is_empty() {
            errors.spanned(&sig.generics, "an `#[http_route]` handler cannot be generic: the router needs one concrete function");
        }
        let mut injected = Vec::new();
        let mut names_caller = false;
        for input in &sig.inputs {
            match input {
                FnArg::Receiver(receiver) => errors.spanned(
                    receiver,
                    "an `#[http_route]` handler is a free function; take the component as an argument instead: `svc: Inject<MyService>`",
                ),
                FnArg::Typed(arg) => {
                    injected.extend(crate::attr::inject_target(&arg.ty));
                    names_caller |= names_principal(&arg.ty);
                }
            }
        }
        let rate_limit = access.rate_limit();
        // A handler that takes the caller needs one: it is authenticated even when the
        // attribute does not say so.
        let access = match access.resolve(&mut errors) {
            None if names_caller => Some(Access::Scopes(Vec::new())),
            Some(Access::Public) if names_caller => {
                errors.spanned(
                    &item.sig.inputs,
                    "this handler takes a `Principal` or `Claims`, so its route cannot be public: remove `authenticated = false`, or take `Option<Principal>`",
                );
                None
            }
            access => access,
        };
        errors.finish()?;
        Ok(Route {
            method,
            path,
            idempotency: idempotency.unwrap_or(false),
            access,
            rate_limit,
            item,
            injected,
        })
    }
}

fn check_method(method: &syn::Ident, errors: &mut Errors) {
    let name = method.to_string();
    if METHODS.contains(&name.as_str()) {
        return;
    }
    let upper = name.to_ascii_uppercase();
    if METHODS.contains(&upper.as_str()) {
        errors.spanned(
            method,
            format!("write the HTTP method in capitals: `{upper}`"),
        );
    } else {
        errors.spanned(
            method,
            format!(
                "unknown HTTP method `{name}`; expected one of {}",
                METHODS.join(", ")
            ),
        );
    }
}

fn check_path(path: &syn::LitStr, errors: &mut Errors) {
    let value = path.value();
    if !value.starts_with('/') {
        errors.spanned(
            path,
            format!("a route path starts with `/`: write \"/{value}\""),
        );
        return;
    }
    if value.len() > 1 && value.ends_with('/') {
        errors.spanned(
            path,
            format!(
                "a route path does not end with `/`: write \"{}\"",
                value.trim_end_matches('/')
            ),
        );
    }
    let segments: Vec<&str> = value.split('/').collect();
    for (index, segment) in segments.iter().enumerate() {
        if segment.starts_with("{*") && index + 1 < segments.len() {
            errors.spanned(
                path,
                format!("a wildcard `{segment}` must be the last segment of the path"),
            );
        }
        if let Some(name) = segment.strip_prefix(':') {
            errors.spanned(
                path,
                format!("path parameters are written `{{{name}}}`, not `:{name}`"),
            );
        } else if segment.contains('{') || segment.contains('}') {
            let inner = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}'));
            let inner = inner.map(|s| s.strip_prefix('*').unwrap_or(s));
            let valid = inner.is_some_and(|s| {
                !s.is_empty()
                    && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                    && !s.starts_with(|c: char| c.is_ascii_digit())
            });
            if !valid {
                errors.spanned(
                    path,
                    format!("`{segment}` is not a path parameter; a parameter fills a whole segment, like `{{id}}`"),
                );
            }
        }
    }
}

/// Whether `ty` is `Principal` or `Claims<T>` (by its last path segment), which only an
/// authenticated request can give; `Option<Principal>` is not.
fn names_principal(ty: &syn::Type) -> bool {
    let syn::Type::Path(path) = ty else {
        return false;
    };
    path.path
        .segments
        .last()
        .is_some_and(|last| last.ident == "Principal" || last.ident == "Claims")
}
