//! Dependency injection: every `#[module]` is a singleton built once, in dependency order,
//! from the components its fields name by type.

mod container;
mod graph;
mod inject;
mod listeners;
mod records;
mod report;

use std::any::TypeId;
use std::fmt;

pub use container::{Container, Instance};
pub use graph::Graph;
pub use inject::Inject;
pub use listeners::Listeners;
pub use records::{
    BuildContext, BuildError, BuildFuture, Condition, Field, Location, ProviderKind,
    ProviderRecord, StopHook,
};
pub use report::{Candidate, Needer, WiringError, WiringReport, shared};

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

use crate::config::{Config, ConfigError, ConfigSection, Settings};

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

/// A type that can be a `#[module]` field: it names its dependency and resolves it from the
/// built container.
///
/// Implemented for `Arc<T>` (any component, including `Arc<dyn Trait>` bindings),
/// [`crate::config::Config<T>`] and the framework's own components (database pools).
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be injected into a `#[module]` field",
    label = "not injectable",
    note = "inject components as `Arc<T>` or `Arc<dyn Trait>`, config sections as `Config<T>`, pools as `PgPool` or `SqlitePool`, and `Producer`, `Cache` or `Listeners`"
)]
pub trait Injectable: Sized + Send + Sync + 'static {
    /// What this field needs from the graph.
    fn dependency() -> Dependency;
    /// Takes it from the container (called only after validation succeeded).
    fn resolve(container: &Container) -> Result<Self, ResolveError>;
}

/// A dependency could not be resolved while building a component.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// Not in the container (validation should have reported this first).
    #[error("no component `{0}` in the container")]
    Missing(&'static str),
    /// A config section failed to load.
    #[error(transparent)]
    Config(ConfigError),
}

impl<T: ?Sized + Send + Sync + 'static> Injectable for std::sync::Arc<T> {
    fn dependency() -> Dependency {
        Dependency::Component(Key::of::<T>())
    }

    fn resolve(container: &Container) -> Result<Self, ResolveError> {
        container
            .get::<T>()
            .ok_or(ResolveError::Missing(std::any::type_name::<T>()))
    }
}

/// A `#[module]` field `Config<T>`: the section, loaded and checked by the wiring check.
impl<T: ConfigSection> Injectable for Config<T> {
    fn dependency() -> Dependency {
        Dependency::Config {
            type_name: std::any::type_name::<T>(),
            prefix: T::PREFIX,
            check: |settings| T::load(settings).map(drop),
        }
    }

    fn resolve(container: &Container) -> Result<Self, ResolveError> {
        T::load(container.settings())
            .map(Config::new)
            .map_err(ResolveError::Config)
    }
}
