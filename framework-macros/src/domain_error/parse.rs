use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{Data, DeriveInput, Token};

use crate::attr::{Errors, set_once};

/// The attribute each variant carries.
const DOMAIN: &str = "domain";
const CODE: &str = "code";

/// The kinds, as written in `#[domain(..)]`, with the runtime's variant names.
pub(crate) const KINDS: [(&str, &str); 12] = [
    ("validation", "Validation"),
    ("bad_request", "BadRequest"),
    ("domain", "Domain"),
    ("not_found", "NotFound"),
    ("conflict", "Conflict"),
    ("unauthorized", "Unauthorized"),
    ("forbidden", "Forbidden"),
    ("marshaling", "Marshaling"),
    ("application", "Application"),
    ("internal", "Internal"),
    ("unavailable", "Unavailable"),
    ("timeout", "Timeout"),
];

pub(crate) struct ErrorEnum<'a> {
    pub(crate) ident: &'a syn::Ident,
    pub(crate) variants: Vec<Variant<'a>>,
}

pub(crate) struct Variant<'a> {
    pub(crate) ident: &'a syn::Ident,
    pub(crate) fields: &'a syn::Fields,
    /// The runtime `ErrorKind` variant.
    pub(crate) kind: syn::Ident,
    pub(crate) code: String,
}

/// One item of `#[domain(not_found, code = "X")]`.
enum Arg {
    Kind(syn::Ident),
    Code(syn::Path, syn::LitStr),
}

impl Parse for Arg {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let key: syn::Ident = input.parse()?;
        if key == CODE {
            input.parse::<Token![=]>()?;
            let literal = input.parse().map_err(|e| {
                syn::Error::new(
                    e.span(),
                    "`code` expects a string literal, e.g. `code = \"ARTICLE_NOT_FOUND\"`",
                )
            })?;
            return Ok(Arg::Code(key.into(), literal));
        }
        if input.peek(Token![=]) {
            return Err(syn::Error::new_spanned(
                &key,
                format!(
                    "unknown `#[domain]` key `{key}`; expected a kind and optionally `code = \"..\"`"
                ),
            ));
        }
        Ok(Arg::Kind(key))
    }
}

impl<'a> ErrorEnum<'a> {
    pub(crate) fn parse(input: &'a DeriveInput) -> syn::Result<Self> {
        let data = match &input.data {
            Data::Enum(data) => data,
            Data::Struct(s) => {
                return Err(syn::Error::new_spanned(
                    s.struct_token,
                    "`DomainError` derives on an enum, one variant per error: `enum MyError { #[domain(not_found)] NotFound }`",
                ));
            }
            Data::Union(u) => {
                return Err(syn::Error::new_spanned(
                    u.union_token,
                    "`DomainError` derives on an enum",
                ));
            }
        };
        let mut errors = Errors::default();
        if !input.generics.params.is_empty() {
            errors.spanned(
                &input.generics,
                "a `DomainError` enum cannot be generic: its codes are registered once",
            );
        }
        if data.variants.is_empty() {
            errors.spanned(
                &input.ident,
                "a `DomainError` enum needs at least one variant",
            );
        }
        let prefix = default_code_prefix(&input.ident.to_string());
        let mut variants = Vec::new();
        let mut seen_codes: Vec<(String, &syn::Ident)> = Vec::new();
        for variant in &data.variants {
            let Some(parsed) = parse_variant(variant, &prefix, &mut errors) else {
                continue;
            };
            // One enum claiming a code twice is visible here; across enums, startup reports it.
            if let Some((_, first)) = seen_codes.iter().find(|(code, _)| *code == parsed.code) {
                errors.spanned(
                    &variant.ident,
                    format!("code `{}` is already used by variant `{first}`; each variant needs its own code", parsed.code),
                );
            }
            seen_codes.push((parsed.code.clone(), &variant.ident));
            variants.push(parsed);
        }
        errors.finish()?;
        Ok(ErrorEnum {
            ident: &input.ident,
            variants,
        })
    }
}

fn parse_variant<'a>(
    variant: &'a syn::Variant,
    prefix: &str,
    errors: &mut Errors,
) -> Option<Variant<'a>> {
    let attrs: Vec<&syn::Attribute> = variant
        .attrs
        .iter()
        .filter(|a| a.path().is_ident(DOMAIN))
        .collect();
    let kind_list = KINDS.iter().map(|(k, _)| *k).collect::<Vec<_>>().join(", ");
    let Some(attr) = attrs.first() else {
        errors.spanned(
            &variant.ident,
            format!("variant `{}` needs `#[domain(<kind>)]`, e.g. `#[domain(not_found)]`; kinds: {kind_list}", variant.ident),
        );
        return None;
    };
    if let Some(extra) = attrs.get(1) {
        errors.spanned(
            extra,
            "`#[domain]` specified more than once; put the kind and code in one attribute",
        );
    }
    let args = match attr.parse_args_with(Punctuated::<Arg, Token![,]>::parse_terminated) {
        Ok(args) => args,
        Err(error) => {
            errors.push(error);
            return None;
        }
    };
    let mut kind: Option<syn::Ident> = None;
    // An unknown kind is already reported; do not also say the kind is missing.
    let mut kind_written = false;
    let mut code: Option<String> = None;
    for arg in args {
        match arg {
            Arg::Kind(ident) => {
                kind_written = true;
                match KINDS.iter().find(|(name, _)| ident == name) {
                    Some((_, runtime)) if kind.is_none() => {
                        kind = Some(syn::Ident::new(runtime, ident.span()))
                    }
                    Some(_) => errors.spanned(&ident, "a variant has exactly one kind"),
                    None => errors.spanned(
                        &ident,
                        format!("unknown error kind `{ident}`; expected one of: {kind_list}"),
                    ),
                }
            }
            Arg::Code(key, literal) => {
                let value = literal.value();
                if value.is_empty()
                    || !value
                        .chars()
                        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
                {
                    errors.spanned(
                        &literal,
                        format!(
                            "an error code is SCREAMING_SNAKE_CASE, e.g. \"{}\"",
                            screaming_snake(&value)
                        ),
                    );
                }
                set_once(&mut code, value, &key, errors);
            }
        }
    }
    let Some(kind) = kind else {
        if !kind_written {
            errors.spanned(
                attr,
                format!("`#[domain(..)]` needs a kind, one of: {kind_list}"),
            );
        }
        return None;
    };
    Some(Variant {
        ident: &variant.ident,
        fields: &variant.fields,
        kind,
        code: code
            .unwrap_or_else(|| format!("{prefix}{}", screaming_snake(&variant.ident.to_string()))),
    })
}

/// `ArticleError` -> `ARTICLE_`: the default codes read `ARTICLE_NOT_FOUND`.
fn default_code_prefix(enum_name: &str) -> String {
    let stem = enum_name
        .strip_suffix("Error")
        .filter(|s| !s.is_empty())
        .unwrap_or(enum_name);
    format!("{}_", screaming_snake(stem))
}

/// `NotFound` -> `NOT_FOUND`, `HTTPStatus` -> `HTTP_STATUS`; other characters become `_`.
pub(crate) fn screaming_snake(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if !c.is_ascii_alphanumeric() {
            if !out.is_empty() && !out.ends_with('_') {
                out.push('_');
            }
            continue;
        }
        let previous = i.checked_sub(1).map(|p| chars[p]);
        let next = chars.get(i + 1);
        // A word starts at an upper-case letter after a lower-case one or a digit, or at the
        // last capital of an acronym that a lower-case letter follows (`HTTPS|tatus`).
        let starts_word = c.is_ascii_uppercase()
            && previous.is_some_and(|p| {
                p.is_ascii_lowercase()
                    || p.is_ascii_digit()
                    || (p.is_ascii_uppercase() && next.is_some_and(|n| n.is_ascii_lowercase()))
            });
        if starts_word && !out.ends_with('_') {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out.trim_matches('_').to_owned()
}

#[cfg(test)]
mod tests {
    use super::screaming_snake;

    #[test]
    fn screaming_snake_splits_words_and_acronyms() {
        assert_eq!(screaming_snake("NotFound"), "NOT_FOUND");
        assert_eq!(screaming_snake("HTTPSlug"), "HTTP_SLUG");
        assert_eq!(screaming_snake("Article"), "ARTICLE");
        assert_eq!(screaming_snake("V2Api"), "V2_API");
        assert_eq!(screaming_snake("not-found"), "NOT_FOUND");
    }
}
