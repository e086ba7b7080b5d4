//! Helpers shared by the macros' attribute parsers.

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, quote, quote_spanned};
use syn::spanned::Spanned;

/// Collects every error of one macro call, so a user sees them all at once.
#[derive(Default)]
pub(crate) struct Errors(Option<syn::Error>);

impl Errors {
    pub(crate) fn push(&mut self, error: syn::Error) {
        match &mut self.0 {
            Some(existing) => existing.combine(error),
            None => self.0 = Some(error),
        }
    }

    pub(crate) fn spanned(&mut self, tokens: impl ToTokens, message: impl std::fmt::Display) {
        self.push(syn::Error::new_spanned(tokens, message));
    }

    pub(crate) fn finish(self) -> syn::Result<()> {
        self.0.map_or(Ok(()), Err)
    }
}

/// "`key` specified more than once", at the second occurrence.
pub(crate) fn set_once<T>(slot: &mut Option<T>, value: T, key: &syn::Path, errors: &mut Errors) {
    if slot.is_some() {
        errors.spanned(
            key,
            format!("`{}` specified more than once", path_name(key)),
        );
    } else {
        *slot = Some(value);
    }
}

pub(crate) fn path_name(path: &syn::Path) -> String {
    path.to_token_stream().to_string().replace(' ', "")
}

/// On error: the compile errors plus the user's item unchanged, so one mistake does not
/// cascade into "cannot find function" errors wherever the item is used.
pub(crate) fn with_item(error: syn::Error, item: TokenStream) -> TokenStream {
    let mut out = error.into_compile_error();
    out.extend(item);
    out
}

/// A `Location` record of the file and line of `span`: `line!()` spanned on the user's token.
pub(crate) fn location(span: Span) -> TokenStream {
    quote_spanned! {span=>
        __framework::Location { file: ::core::file!(), line: ::core::line!() }
    }
}

/// `Inject<T>` (by its last path segment) -> `T`.
pub(crate) fn inject_target(ty: &syn::Type) -> Option<syn::Type> {
    let syn::Type::Path(path) = ty else {
        return None;
    };
    let last = path.path.segments.last()?;
    if last.ident != "Inject" {
        return None;
    }
    let syn::PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    match args.args.first()? {
        syn::GenericArgument::Type(inner) => Some(inner.clone()),
        _ => None,
    }
}

/// `Vec::from([...])` of the dependency of each `Inject<T>` target, spanned on each `T`.
pub(crate) fn inject_dependencies(targets: &[syn::Type]) -> TokenStream {
    let dependencies = targets.iter().map(|ty| {
        quote_spanned! {ty.span()=> __framework::dependency_of_inject::<#ty>() }
    });
    quote! { ::std::vec::Vec::from([#(#dependencies),*]) }
}

/// "`key` needs a value", at `key`.
pub(crate) fn needs_value(key: &syn::Path, errors: &mut Errors) {
    let name = path_name(key);
    errors.spanned(key, format!("`{name}` needs a value: `{name} = ...`"));
}

/// Consumes the `=` after an argument's `key`, or says that `key` needs a value.
pub(crate) fn expect_value(input: syn::parse::ParseStream<'_>, key: &syn::Path) -> syn::Result<()> {
    if !input.peek(syn::Token![=]) {
        let name = path_name(key);
        return Err(syn::Error::new_spanned(
            key,
            format!("`{name}` needs a value: `{name} = ...`"),
        ));
    }
    input.parse::<syn::Token![=]>().map(drop)
}

/// A non-empty string argument (a name, or `${CONFIG_KEY}`).
pub(crate) fn string(value: &syn::Lit, key: &str, errors: &mut Errors) -> Option<syn::LitStr> {
    match value {
        syn::Lit::Str(s) if !s.value().trim().is_empty() => Some(s.clone()),
        syn::Lit::Str(s) => {
            errors.spanned(s, format!("`{key}` cannot be empty"));
            None
        }
        other => {
            errors.spanned(other, format!("`{key}` expects a string, e.g. `{key} = \"..\"` or `{key} = \"${{CONFIG_KEY}}\"`"));
            None
        }
    }
}

/// A whole-number argument of at least `min`.
pub(crate) fn number<N: std::str::FromStr>(
    value: &syn::Lit,
    key: &str,
    min: u64,
    errors: &mut Errors,
) -> Option<N>
where
    N::Err: std::fmt::Display,
{
    let parsed = match value {
        syn::Lit::Int(int) => int
            .base10_parse::<u64>()
            .ok()
            .filter(|n| *n >= min)
            .and_then(|n| n.to_string().parse().ok()),
        _ => None,
    };
    if parsed.is_none() {
        errors.spanned(
            value,
            format!("`{key}` expects a whole number of at least {min}"),
        );
    }
    parsed
}

/// Checks the signature of an extractor-style `async fn` (a Kafka handler, a job): async,
/// not generic, returning `Result<(), E>`, no receiver. Returns each parameter's type and
/// the `T` of each `Inject<T>`. `attr` is `#[kafka_consumer]`, say; `subject` what the
/// function is called in messages; `result_why` why it returns a `Result`.
pub(crate) fn handler_params(
    sig: &syn::Signature,
    attr: &str,
    subject: &str,
    result_why: &str,
    errors: &mut Errors,
) -> (Vec<syn::Type>, Vec<syn::Type>) {
    if sig.asyncness.is_none() {
        errors.spanned(sig.fn_token, format!("`{attr}` requires an `async fn`"));
    }
    if !sig.generics.params.is_empty() {
        errors.spanned(&sig.generics, format!("a {subject} cannot be generic"));
    }
    if let syn::ReturnType::Default = sig.output {
        errors.push(syn::Error::new(
            sig.paren_token.span.close(),
            format!("a {subject} returns `Result<(), E>` with `E: DomainError`, {result_why}"),
        ));
    }
    let mut params = Vec::new();
    let mut injected = Vec::new();
    for input in &sig.inputs {
        match input {
            syn::FnArg::Receiver(receiver) => errors.spanned(
                receiver,
                format!(
                    "a {subject} is a free function; take components as `Inject<T>` parameters"
                ),
            ),
            syn::FnArg::Typed(arg) => {
                params.push((*arg.ty).clone());
                injected.extend(inject_target(&arg.ty));
            }
        }
    }
    (params, injected)
}

/// Whether `tokens` hold `impl Trait`, which generated code cannot name.
pub(crate) fn mentions_impl(tokens: TokenStream) -> bool {
    tokens.into_iter().any(|token| match token {
        proc_macro2::TokenTree::Ident(ident) => ident == "impl",
        proc_macro2::TokenTree::Group(group) => mentions_impl(group.stream()),
        _ => false,
    })
}

/// The record's `transactional`: whether a parameter is the unit of work's `Tx`, which the
/// compiler decides from each type (autoref specialization, no bound on the type). A type
/// holding `impl Trait` cannot be named, and is not a `Tx`.
pub(crate) fn transactional<'a>(types: impl IntoIterator<Item = &'a syn::Type>) -> TokenStream {
    let checks = types
        .into_iter()
        .filter(|ty| !mentions_impl(ty.to_token_stream()))
        .map(|ty| quote_spanned! {ty.span()=> || (&__framework::Param::<#ty>::new()).is_tx() });
    quote! {
        || {
            use __framework::{OtherParam as _, TxParam as _};
            false #(#checks)*
        }
    }
}

/// `key = value`, or a bare `key` (a flag).
pub(crate) struct FlagArg {
    pub(crate) key: syn::Path,
    pub(crate) value: Option<syn::Lit>,
}

impl syn::parse::Parse for FlagArg {
    fn parse(input: syn::parse::ParseStream<'_>) -> syn::Result<Self> {
        let key: syn::Path = input.parse()?;
        if !input.peek(syn::Token![=]) {
            return Ok(FlagArg { key, value: None });
        }
        input.parse::<syn::Token![=]>()?;
        let value = input
            .parse()
            .map_err(|e| syn::Error::new(e.span(), "expected a string, a number or a bool"))?;
        Ok(FlagArg {
            key,
            value: Some(value),
        })
    }
}

/// A flag's value: `key` or `key = true` is true, `key = false` false; anything else is an
/// error at the value.
pub(crate) fn flag(name: &str, value: Option<syn::Lit>, errors: &mut Errors) -> Option<bool> {
    match value {
        None => Some(true),
        Some(syn::Lit::Bool(flag)) => Some(flag.value),
        Some(other) => {
            errors.spanned(
                other,
                format!("`{name}` is a flag: `{name}` or `{name} = false`"),
            );
            None
        }
    }
}
