//! `framework` with no plugin feature: each plugin's macro is a compile error at the macro
//! that names the feature to enable, and what needs no plugin (`#[module]`,
//! `#[derive(DomainError)]`) still compiles. The registration records, the graph and the
//! container are not public API: naming them outside `framework::__private` is an error.
//!
//! Regenerate the `.stderr` snapshots with `TRYBUILD=overwrite cargo test -p
//! framework-feature-gates`, then read every one you commit.

#[test]
fn plugin_macros_name_their_feature() {
    let cases = trybuild::TestCases::new();
    cases.pass("tests/on/*.rs");
    cases.compile_fail("tests/off/*.rs");
}
