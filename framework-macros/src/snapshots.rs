//! Expansion snapshots: each `tests/expand/<macro>.rs` expanded by this crate's macros (and
//! only them: `serde`, `thiserror` and the like stay as written), pretty-printed and compared
//! with `tests/expand/<macro>.expanded.rs`, which is what `cargo expand` shows a user of the
//! wiring. Regenerate with `EXPAND=overwrite cargo test -p framework-macros --lib`, then read
//! every snapshot you commit.

use std::path::{Path, PathBuf};

use proc_macro2::TokenStream;
use quote::ToTokens;

#[test]
fn expansions_match_their_snapshots() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/expand");
    let overwrite = std::env::var("EXPAND").is_ok_and(|v| v == "overwrite");
    let mut stale = Vec::new();
    for input in inputs(&dir) {
        let source = std::fs::read_to_string(&input).unwrap();
        let file = syn::parse_file(&source).unwrap_or_else(|e| panic!("{input:?}: {e}"));
        let expanded: TokenStream = file.items.into_iter().map(expand_item).collect();
        let expanded = syn::parse2::<syn::File>(expanded)
            .unwrap_or_else(|e| panic!("{input:?} expands to invalid Rust: {e}"));
        let expanded = prettyplease::unparse(&expanded);
        let snapshot = input.with_extension("expanded.rs");
        if overwrite {
            std::fs::write(&snapshot, &expanded).unwrap();
        } else if std::fs::read_to_string(&snapshot).ok().as_deref() != Some(expanded.as_str()) {
            stale.push(snapshot);
        }
    }
    assert!(
        stale.is_empty(),
        "expansions differ from {stale:?}; rerun with EXPAND=overwrite and read the diff"
    );
}

/// The inputs, `tests/expand/*.rs` without the snapshots, in name order.
fn inputs(dir: &Path) -> Vec<PathBuf> {
    let mut inputs: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            let name = path.file_name().unwrap().to_string_lossy();
            name.ends_with(".rs") && !name.ends_with(".expanded.rs")
        })
        .collect();
    inputs.sort();
    assert!(!inputs.is_empty(), "no inputs in {dir:?}");
    inputs
}

/// `item` with this crate's attribute macro or `DomainError` derive applied, as the compiler
/// would apply it.
fn expand_item(mut item: syn::Item) -> TokenStream {
    let Some(attrs) = attrs_mut(&mut item) else {
        return item.into_token_stream();
    };
    if let Some(at) = attrs.iter().position(|a| macro_name(a).is_some()) {
        let attr = attrs.remove(at);
        let name = macro_name(&attr).unwrap();
        let args = match attr.meta {
            syn::Meta::List(list) => list.tokens,
            _ => TokenStream::new(),
        };
        let item = item.into_token_stream();
        return match name {
            "module" => crate::module::expand(args, item),
            "http_route" => crate::http_route::expand(args, item),
            "kafka_consumer" => crate::kafka_consumer::expand(args, item),
            "cron_job" => crate::cron_job::expand(args, item),
            _ => crate::grpc_service::expand(args, item),
        };
    }
    let derives_domain_error = attrs.iter().any(|attr| {
        attr.path().is_ident("derive")
            && attr
                .meta
                .to_token_stream()
                .to_string()
                .contains("DomainError")
    });
    let mut out = item.to_token_stream();
    if derives_domain_error {
        out.extend(crate::domain_error::expand(item.into_token_stream()));
    }
    out
}

fn macro_name(attr: &syn::Attribute) -> Option<&'static str> {
    let name = attr.path().segments.last()?.ident.to_string();
    [
        "module",
        "http_route",
        "kafka_consumer",
        "cron_job",
        "grpc_service",
    ]
    .into_iter()
    .find(|known| *known == name)
}

fn attrs_mut(item: &mut syn::Item) -> Option<&mut Vec<syn::Attribute>> {
    match item {
        syn::Item::Struct(item) => Some(&mut item.attrs),
        syn::Item::Enum(item) => Some(&mut item.attrs),
        syn::Item::Fn(item) => Some(&mut item.attrs),
        syn::Item::Impl(item) => Some(&mut item.attrs),
        _ => None,
    }
}
