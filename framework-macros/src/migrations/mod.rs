//! `framework::migrations!("../migrations")`: embeds `<dir>/postgres/*.sql` and
//! `<dir>/sqlite/*.sql` (named `<version>_<description>.sql`) and registers them.

use std::path::{Path, PathBuf};

use proc_macro2::TokenStream;
use quote::quote;

const BACKENDS: [&str; 2] = ["postgres", "sqlite"];

pub(crate) fn expand(input: TokenStream) -> TokenStream {
    expand_inner(input).unwrap_or_else(syn::Error::into_compile_error)
}

struct File {
    version: i64,
    description: String,
    path: PathBuf,
}

fn expand_inner(input: TokenStream) -> syn::Result<TokenStream> {
    let literal: syn::LitStr = syn::parse2(input).map_err(|e| {
        syn::Error::new(e.span(), "expected the migrations directory, relative to Cargo.toml: `migrations!(\"../migrations\")`")
    })?;
    let manifest = std::env::var("CARGO_MANIFEST_DIR").map_err(|_| {
        syn::Error::new_spanned(&literal, "CARGO_MANIFEST_DIR is not set; build with cargo")
    })?;
    let dir = Path::new(&manifest).join(literal.value());
    let mut sets = Vec::new();
    for backend in BACKENDS {
        sets.push(read_backend(&dir.join(backend), &literal)?);
    }
    let versions = |files: &[File]| files.iter().map(|f| f.version).collect::<Vec<_>>();
    if versions(&sets[0]) != versions(&sets[1]) {
        return Err(syn::Error::new_spanned(
            &literal,
            format!(
                "postgres/ and sqlite/ must hold the same migration versions; postgres: {:?}, sqlite: {:?}",
                versions(&sets[0]),
                versions(&sets[1])
            ),
        ));
    }
    let [postgres, sqlite] = [&sets[0], &sets[1]].map(|files| {
        let entries = files.iter().map(|f| {
            let (version, description) = (f.version, &f.description);
            let path = f.path.to_string_lossy();
            quote! {
                __framework::EmbeddedMigration { version: #version, description: #description, sql: ::core::include_str!(#path) }
            }
        });
        quote! { &[#(#entries),*] }
    });
    let location = crate::attr::location(literal.span());
    Ok(quote! {
        const _: () = {
            use ::framework::__private as __framework;

            /// The migrations, as the runtime collects them at startup.
            #[doc(hidden)]
            const __FRAMEWORK_RECORD: __framework::MigrationsRecord = __framework::MigrationsRecord {
                postgres: #postgres,
                sqlite: #sqlite,
                location: #location,
            };
            __framework::inventory::submit!(__FRAMEWORK_RECORD);
        };
    })
}

fn read_backend(dir: &Path, literal: &syn::LitStr) -> syn::Result<Vec<File>> {
    let error = |message: String| syn::Error::new_spanned(literal, message);
    let entries =
        std::fs::read_dir(dir).map_err(|e| error(format!("cannot read {}: {e}", dir.display())))?;
    let mut files = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| error(e.to_string()))?.path();
        if path.extension().is_none_or(|e| e != "sql") {
            continue;
        }
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        let parsed = stem.split_once('_').and_then(|(version, description)| {
            Some((version.parse::<i64>().ok()?, description.replace('_', " ")))
        });
        let Some((version, description)) = parsed else {
            return Err(error(format!(
                "migration file {} must be named `<version>_<description>.sql`, e.g. `20250101000000_create_articles.sql`",
                path.display()
            )));
        };
        files.push(File {
            version,
            description,
            path,
        });
    }
    files.sort_by_key(|f| f.version);
    Ok(files)
}
