//! Writes the source of the startup benchmark (`benches/startup.rs`): 200 `#[module]`s and
//! 1,000 `#[http_route]`s, too many to write by hand. Only that bench includes it.

use std::fmt::Write;

const MODULES: usize = 200;
const ROUTES_PER_MODULE: usize = 5;

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    let mut source = String::new();
    for i in 0..MODULES {
        // Each module depends on its parent in a binary tree: a real graph to validate.
        let dependency = match i {
            0 => String::new(),
            _ => format!("    parent: ::std::sync::Arc<M{}>,\n", (i - 1) / 2),
        };
        let _ = writeln!(
            source,
            "#[::framework::module]\npub struct M{i} {{\n{dependency}}}"
        );
        for j in 0..ROUTES_PER_MODULE {
            let _ = writeln!(
                source,
                "#[::framework::http_route(GET, \"/m{i}/r{j}/{{id}}\")]\n\
                 async fn m{i}_r{j}(_m: ::framework::Inject<M{i}>) -> &'static str {{ \"ok\" }}"
            );
        }
    }
    let out = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    std::fs::write(format!("{out}/startup_modules.rs"), source)
        .expect("write the generated bench source");
}
