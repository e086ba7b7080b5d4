//! `#[cron_job(schedule = "..")]`: parse, validate (the schedule at compile time), expand.

mod expand;
mod parse;

use proc_macro2::TokenStream;

pub(crate) fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    parse::Job::parse(args, item.clone())
        .map(|job| expand::expand(&job))
        .unwrap_or_else(|error| crate::attr::with_item(error, item))
}
