//! The records of components (`#[module]`s and the framework's own), and what their factories
//! see while the app builds them.

use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;

use super::{Container, Dependency, Instance, Key};
use crate::config::{CoreConfig, Settings};
use crate::health::Health;

/// Where a registration was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Location {
    /// The source file, as `file!()` gives it.
    pub file: &'static str,
    /// The line.
    pub line: u32,
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// A predicate on the settings that switches a binding on (`when = ...` of `#[module]`).
#[derive(Clone, Copy)]
pub struct Condition {
    /// The predicate's path as written, for reports.
    pub name: &'static str,
    /// The predicate.
    pub check: fn(&Settings) -> bool,
    /// What to set for it to hold, for the `help:` of a missing component that only an
    /// inactive provider provides (`REDIS_URL (redis://host:port, or memory)`); `None` for a
    /// `#[module(when = ...)]`.
    pub hint: Option<&'static str>,
}

/// Who registered a provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderKind {
    /// A user's `#[module]`: built whenever its condition holds.
    Module,
    /// Built-in infrastructure (a database pool): built only when something needs it.
    Framework,
}

/// The future a provider's factory returns.
pub type BuildFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Vec<Instance>, BuildError>> + Send + 'a>>;

/// A component failed to build (a connection failed, a config section was invalid, ...).
pub type BuildError = Box<dyn std::error::Error + Send + Sync>;

/// A work item run at shutdown, in reverse build order.
pub type StopHook = Box<dyn FnOnce() -> Pin<Box<dyn Future<Output = ()> + Send>> + Send>;

/// What a provider's factory sees: the components built so far, and the app's shared parts.
pub struct BuildContext {
    pub(crate) container: Container,
    pub(crate) config: CoreConfig,
    pub(crate) health: Health,
    pub(crate) stop_hooks: Mutex<Vec<StopHook>>,
    /// The bound listeners, for the [`Listeners`](crate::di::Listeners) component.
    pub(crate) listeners: super::Listeners,
}

impl BuildContext {
    /// The components built so far.
    pub fn container(&self) -> &Container {
        &self.container
    }

    /// The core config, parsed once at startup.
    pub fn config(&self) -> &CoreConfig {
        &self.config
    }

    /// The settings, to read a plugin's own section from (see
    /// [`ConfigSection`](crate::config::ConfigSection)).
    pub fn settings(&self) -> &Settings {
        self.container.settings()
    }

    /// The app's health registry, to add a unit for a backend.
    pub fn health(&self) -> &Health {
        &self.health
    }

    /// The built components and the stop hooks, in build order.
    pub(crate) fn finish(self) -> (Container, Vec<StopHook>) {
        let hooks = self
            .stop_hooks
            .into_inner()
            .unwrap_or_else(|e| e.into_inner());
        (self.container, hooks)
    }

    /// Runs `hook` at shutdown, after deliveries have stopped.
    pub fn on_stop(&self, hook: StopHook) {
        self.stop_hooks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(hook);
    }
}

/// A singleton component: a `#[module]` or a framework-provided component.
pub struct ProviderRecord {
    /// The type's path.
    pub name: &'static str,
    /// The keys it is stored under: itself and each `provides = dyn Trait`.
    pub provides: fn() -> Vec<Key>,
    /// One entry per injected field.
    pub fields: fn() -> Vec<Field>,
    /// Built only when this holds.
    pub condition: Option<Condition>,
    /// The factory.
    pub build: for<'a> fn(&'a BuildContext) -> BuildFuture<'a>,
    /// Module or framework.
    pub kind: ProviderKind,
    /// Where it was declared.
    pub location: Location,
}

impl ProviderRecord {
    /// Whether its condition holds for `settings`.
    pub fn is_active(&self, settings: &Settings) -> bool {
        self.condition.is_none_or(|c| (c.check)(settings))
    }

    /// The type name without its module path.
    pub fn short_name(&self) -> &'static str {
        self.name.rsplit("::").next().unwrap_or(self.name)
    }
}

/// An injected field of a `#[module]`.
pub struct Field {
    /// The field's name.
    pub name: &'static str,
    /// Its line, in the provider's file.
    pub line: u32,
    /// What it needs.
    pub dependency: Dependency,
}

inventory::collect!(ProviderRecord);
