use proc_macro2::{Span, TokenStream};
use syn::Token;
use syn::parse::Parser;
use syn::punctuated::Punctuated;

use crate::attr::{Errors, FlagArg, flag, number, set_once, string};

const TOPIC: &str = "topic";
const GROUP: &str = "group";
const CONCURRENCY: &str = "concurrency";
const RETRIES: &str = "retries";
const BACKOFF_MS: &str = "backoff_ms";
const DEAD_LETTER: &str = "dead_letter";
const IDEMPOTENT: &str = "idempotent";
const KEYS: &str = "topic, group, concurrency, retries, backoff_ms, dead_letter, idempotent";

/// A validated consumer.
pub(crate) struct Consumer {
    pub(crate) item: syn::ItemFn,
    pub(crate) topic: syn::LitStr,
    pub(crate) group: syn::LitStr,
    pub(crate) concurrency: usize,
    pub(crate) retries: u32,
    pub(crate) backoff_ms: u64,
    pub(crate) dead_letter: Option<syn::LitStr>,
    /// The group's inbox skips a record handled before.
    pub(crate) idempotent: bool,
    /// Each parameter's type, in order.
    pub(crate) params: Vec<syn::Type>,
    /// The `T` of each `Inject<T>`.
    pub(crate) injected: Vec<syn::Type>,
}

impl Consumer {
    pub(crate) fn parse(args: TokenStream, item: TokenStream) -> syn::Result<Consumer> {
        let item: syn::ItemFn = syn::parse2(item).map_err(|e| {
            syn::Error::new(
                e.span(),
                "`#[kafka_consumer]` goes on an `async fn` handler",
            )
        })?;
        let mut errors = Errors::default();
        let (mut topic, mut group, mut dead_letter) = (None, None, None);
        let (mut concurrency, mut retries, mut backoff_ms) = (None, None, None);
        let mut idempotent = None;
        for FlagArg { key, value } in
            Punctuated::<FlagArg, Token![,]>::parse_terminated.parse2(args)?
        {
            let name = crate::attr::path_name(&key);
            if name == IDEMPOTENT {
                if let Some(v) = flag(IDEMPOTENT, value, &mut errors) {
                    set_once(&mut idempotent, v, &key, &mut errors);
                }
                continue;
            }
            let unknown = |errors: &mut Errors| {
                errors.spanned(
                    &key,
                    format!(
                        "unknown `#[kafka_consumer]` argument `{name}`; expected one of: {KEYS}"
                    ),
                );
            };
            let Some(value) = value else {
                match name.as_str() {
                    TOPIC | GROUP | DEAD_LETTER | CONCURRENCY | RETRIES | BACKOFF_MS => {
                        crate::attr::needs_value(&key, &mut errors)
                    }
                    _ => unknown(&mut errors),
                }
                continue;
            };
            match name.as_str() {
                TOPIC => {
                    if let Some(v) = string(&value, TOPIC, &mut errors) {
                        set_once(&mut topic, v, &key, &mut errors);
                    }
                }
                GROUP => {
                    if let Some(v) = string(&value, GROUP, &mut errors) {
                        set_once(&mut group, v, &key, &mut errors);
                    }
                }
                DEAD_LETTER => {
                    if let Some(v) = string(&value, DEAD_LETTER, &mut errors) {
                        set_once(&mut dead_letter, v, &key, &mut errors);
                    }
                }
                CONCURRENCY => {
                    if let Some(v) = number(&value, CONCURRENCY, 1, &mut errors) {
                        set_once(&mut concurrency, v, &key, &mut errors);
                    }
                }
                RETRIES => {
                    if let Some(v) = number(&value, RETRIES, 0, &mut errors) {
                        set_once(&mut retries, v, &key, &mut errors);
                    }
                }
                BACKOFF_MS => {
                    if let Some(v) = number(&value, BACKOFF_MS, 1, &mut errors) {
                        set_once(&mut backoff_ms, v, &key, &mut errors);
                    }
                }
                _ => unknown(&mut errors),
            }
        }
        let sig = &item.sig;
        let at_name = |what: &str| {
            syn::Error::new(
                sig.ident.span(),
                format!(
                    "`#[kafka_consumer]` needs `{what} = \"..\"`, e.g. `#[kafka_consumer(topic = \"articles.created\", group = \"projector\")]`"
                ),
            )
        };
        if topic.is_none() {
            errors.push(at_name(TOPIC));
        }
        if group.is_none() {
            errors.push(at_name(GROUP));
        }
        let (params, injected) = crate::attr::handler_params(
            sig,
            "#[kafka_consumer]",
            "`#[kafka_consumer]` handler",
            "which decides retry or dead-letter",
            &mut errors,
        );
        errors.finish()?;
        let missing = || syn::Error::new(Span::call_site(), "unreachable: checked above");
        Ok(Consumer {
            topic: topic.ok_or_else(missing)?,
            group: group.ok_or_else(missing)?,
            concurrency: concurrency.unwrap_or(4),
            retries: retries.unwrap_or(3),
            backoff_ms: backoff_ms.unwrap_or(100),
            dead_letter,
            idempotent: idempotent.unwrap_or(false),
            params,
            injected,
            item,
        })
    }
}
