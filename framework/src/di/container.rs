use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::Arc;

use super::Key;
use crate::config::Settings;

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
