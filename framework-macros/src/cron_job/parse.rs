use std::str::FromStr;

use proc_macro2::{Span, TokenStream};
use syn::Token;
use syn::parse::Parser;
use syn::punctuated::Punctuated;

use crate::attr::{Errors, number, set_once, string};

const SCHEDULE: &str = "schedule";
const SINGLETON: &str = "singleton";
const OVERLAP: &str = "overlap";
const TIMEOUT_SECS: &str = "timeout_secs";
const KEYS: &str = "schedule, singleton, overlap, timeout_secs";

/// A validated job.
pub(crate) struct Job {
    pub(crate) item: syn::ItemFn,
    pub(crate) schedule: syn::LitStr,
    pub(crate) singleton: bool,
    /// `overlap = "allow"`: a tick starts a run even while the previous one goes on.
    pub(crate) allow_overlap: bool,
    pub(crate) timeout_secs: Option<u64>,
    /// Each parameter's type, in order.
    pub(crate) params: Vec<syn::Type>,
    /// The `T` of each `Inject<T>`.
    pub(crate) injected: Vec<syn::Type>,
}

/// A schedule is a cron expression with seconds, or `${CONFIG_KEY}` (checked at startup).
fn schedule(value: syn::LitStr, errors: &mut Errors) -> Option<syn::LitStr> {
    let text = value.value();
    let from_config = text.starts_with("${") && text.ends_with('}');
    if !from_config && cron::Schedule::from_str(&text).is_err() {
        // The parser's own message is a caret under the expression: say what is wrong.
        let fields = text.split_whitespace().count();
        let reason = if (6..=7).contains(&fields) {
            "a field is malformed or out of range".to_owned()
        } else {
            format!("it has {fields} fields")
        };
        errors.spanned(
            &value,
            format!(
                "invalid cron expression `{text}`: {reason}; a schedule has 6 or 7 fields, \
                 `sec min hour day-of-month month day-of-week [year]`, e.g. \"0 */5 * * * *\" \
                 (every five minutes)"
            ),
        );
        return None;
    }
    Some(value)
}

impl Job {
    pub(crate) fn parse(args: TokenStream, item: TokenStream) -> syn::Result<Job> {
        let item: syn::ItemFn = syn::parse2(item)
            .map_err(|e| syn::Error::new(e.span(), "`#[cron_job]` goes on an `async fn`"))?;
        let mut errors = Errors::default();
        let (mut schedule_lit, mut singleton, mut allow_overlap, mut timeout_secs) =
            (None, None, None, None);
        // Given but invalid is reported where it is written, not as missing.
        let mut schedule_given = false;
        for crate::attr::FlagArg { key, value } in
            Punctuated::<crate::attr::FlagArg, Token![,]>::parse_terminated.parse2(args)?
        {
            let name = crate::attr::path_name(&key);
            match (name.as_str(), value) {
                (SINGLETON, value) => {
                    if let Some(v) = crate::attr::flag(SINGLETON, value, &mut errors) {
                        set_once(&mut singleton, v, &key, &mut errors);
                    }
                }
                (SCHEDULE | OVERLAP | TIMEOUT_SECS, None) => crate::attr::needs_value(&key, &mut errors),
                (SCHEDULE, Some(value)) => {
                    schedule_given = true;
                    if let Some(v) = string(&value, SCHEDULE, &mut errors)
                        .and_then(|v| schedule(v, &mut errors))
                    {
                        set_once(&mut schedule_lit, v, &key, &mut errors);
                    }
                }
                (OVERLAP, Some(value)) => match string(&value, OVERLAP, &mut errors) {
                    Some(v) if v.value() == "skip" => {
                        set_once(&mut allow_overlap, false, &key, &mut errors);
                    }
                    Some(v) if v.value() == "allow" => {
                        set_once(&mut allow_overlap, true, &key, &mut errors);
                    }
                    Some(v) => errors.spanned(
                        v,
                        "`overlap` is \"skip\" (a tick is skipped while the previous run goes on, the default) or \"allow\"",
                    ),
                    None => {}
                },
                (TIMEOUT_SECS, Some(value)) => {
                    if let Some(v) = number(&value, TIMEOUT_SECS, 1, &mut errors) {
                        set_once(&mut timeout_secs, v, &key, &mut errors);
                    }
                }
                _ => errors.spanned(
                    &key,
                    format!("unknown `#[cron_job]` argument `{name}`; expected one of: {KEYS}"),
                ),
            }
        }
        let sig = &item.sig;
        if !schedule_given {
            errors.spanned(
                &sig.ident,
                "`#[cron_job]` needs `schedule = \"..\"`, e.g. `#[cron_job(schedule = \"0 */5 * * * *\")]` (with seconds) or `schedule = \"${CONFIG_KEY}\"`",
            );
        }
        let (params, injected) = crate::attr::handler_params(
            sig,
            "#[cron_job]",
            "`#[cron_job]`",
            "so that a failed run is reported",
            &mut errors,
        );
        errors.finish()?;
        let missing = || syn::Error::new(Span::call_site(), "unreachable: checked above");
        Ok(Job {
            schedule: schedule_lit.ok_or_else(missing)?,
            singleton: singleton.unwrap_or(false),
            allow_overlap: allow_overlap.unwrap_or(false),
            timeout_secs,
            params,
            injected,
            item,
        })
    }
}
