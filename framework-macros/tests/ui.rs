//! Compile-time behaviour of the macros: what compiles, and the message for each mistake.
//!
//! Regenerate the `.stderr` snapshots with `TRYBUILD=overwrite cargo test -p framework-macros
//! --test ui`, then read every one you commit.

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.pass("tests/ui/*/pass/*.rs");
    cases.compile_fail("tests/ui/*/fail/*.rs");
}
