//! Nothing here: see `tests/gates.rs`.
