//! An article service built only with `framework`: its modules register themselves, so the
//! binary (and every test) only has to link this crate.
//!
//! Run with `cargo run -p example-service` (SQLite, no other server needed);
//! `cargo run -p example-service -- wiring` lists what the framework wired.

pub mod article;
pub mod proto;

framework::migrations!("../migrations");
