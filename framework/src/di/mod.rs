//! Dependency injection: every `#[module]` is a singleton built once, in dependency order,
//! from the components its fields name by type.

pub(crate) mod container;
pub(crate) mod graph;
mod health;
mod inject;
mod listeners;
pub(crate) mod records;
pub(crate) mod report;

use std::any::TypeId;
use std::fmt;

// What the macros' generated code and the framework's own plugins use; outside the crate,
// only through `framework::__private`, so none of it is public API.
pub(crate) use container::{Container, Injectable, Instance, ResolveError};
pub(crate) use graph::Graph;
pub(crate) use records::{
    BuildContext, BuildFuture, Condition, ProviderKind, ProviderRecord, StopHook,
};
pub(crate) use report::shared;

pub use inject::Inject;
pub use listeners::Listeners;
pub use records::{BuildError, Location};
pub use report::{Candidate, Needer, WiringError, WiringReport};

/// One root of the wiring check: something that is not a component but needs components (a
/// route, a gRPC service, a consumer, a job), added by a plugin's `check`.
pub struct Root {
    /// How the dependency path names it: `GET /articles/{id} (src/http.rs:12)`.
    pub label: String,
    /// Who needs the dependencies, for reports.
    pub needer: Needer,
    /// What it needs.
    pub dependencies: Vec<Dependency>,
}

use crate::config::{ConfigError, Settings};

/// A component's identity: the type it is stored and injected as (`ArticleService`,
/// `dyn ArticleRepository`, `PgPool`, ...).
#[derive(Clone, Copy)]
pub struct Key {
    /// The type's id.
    pub type_id: TypeId,
    /// The type's name, for reports.
    pub type_name: &'static str,
}

impl Key {
    /// The key of `T`.
    pub fn of<T: ?Sized + 'static>() -> Key {
        Key {
            type_id: TypeId::of::<T>(),
            type_name: std::any::type_name::<T>(),
        }
    }

    /// The type name without module paths: `dyn example_service::a::Repo` -> `dyn Repo`.
    pub fn short_name(&self) -> String {
        short_type_name(self.type_name)
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        self.type_id == other.type_id
    }
}
impl Eq for Key {}
impl std::hash::Hash for Key {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.type_id.hash(state);
    }
}
impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.type_name)
    }
}

/// Strips module paths from every path segment of a type name.
pub(crate) fn short_type_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut segment = String::new();
    for c in name.chars() {
        if c.is_alphanumeric() || c == '_' || c == ':' {
            segment.push(c);
        } else {
            out.push_str(segment.rsplit("::").next().unwrap_or(""));
            segment.clear();
            out.push(c);
        }
    }
    out.push_str(segment.rsplit("::").next().unwrap_or(""));
    out
}

/// What one injected field needs.
#[derive(Clone, Copy)]
pub enum Dependency {
    /// A component provided by a `#[module]` or by the framework.
    Component(Key),
    /// A config section, checked against the settings during validation.
    Config {
        /// The section's type.
        type_name: &'static str,
        /// Its key prefix.
        prefix: &'static str,
        /// Loads and validates the section.
        check: fn(&Settings) -> Result<(), ConfigError>,
    },
}
