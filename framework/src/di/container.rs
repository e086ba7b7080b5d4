use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::Arc;

use super::{Dependency, Key};
use crate::config::{Config, ConfigError, ConfigSection, Settings};

/// One built component, stored as the `Arc<T>` of its key's type.
pub struct Instance {
    key: Key,
    value: Box<dyn Any + Send + Sync>,
}

impl Instance {
    /// Wraps `value` as the component of type `T` (which may be `dyn Trait`).
    pub fn of<T: ?Sized + Send + Sync + 'static>(value: Arc<T>) -> Instance {
        Instance {
            key: Key::of::<T>(),
            value: Box::new(value),
        }
    }

    /// The key it is stored under.
    pub fn key(&self) -> Key {
        self.key
    }
}

/// The built singletons, keyed by type, plus the settings they were built from.
pub struct Container {
    settings: Arc<Settings>,
    instances: HashMap<TypeId, Box<dyn Any + Send + Sync>>,
}

impl Container {
    pub(crate) fn new(settings: Arc<Settings>) -> Self {
        Container {
            settings,
            instances: HashMap::new(),
        }
    }

    pub(crate) fn insert(&mut self, instance: Instance) {
        self.instances.insert(instance.key.type_id, instance.value);
    }

    /// The component of type `T`, if built.
    pub fn get<T: ?Sized + Send + Sync + 'static>(&self) -> Option<Arc<T>> {
        self.instances
            .get(&TypeId::of::<T>())
            .and_then(|value| value.downcast_ref::<Arc<T>>())
            .cloned()
    }

    /// The settings the app was started with.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }
}

/// A type that can be a `#[module]` field: it names its dependency and resolves it from the
/// built container.
///
/// Implemented for `Arc<T>` (any component, including `Arc<dyn Trait>` bindings),
/// [`crate::config::Config<T>`] and the framework's own components (database pools).
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be injected into a `#[module]` field",
    label = "not injectable",
    note = "inject components as `Arc<T>` or `Arc<dyn Trait>`, config sections as `Config<T>`, pools as `PgPool` or `SqlitePool`, and `Producer`, `Cache`, `Listeners` or `Health`"
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
