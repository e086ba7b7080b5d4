use std::ops::Deref;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use validator::Validate;

use super::{ConfigError, Settings, de};
use crate::di::{Container, Dependency, Injectable, ResolveError};

/// A typed configuration section read from the keys that start with [`ConfigSection::PREFIX`].
///
/// ```
/// use framework::config::ConfigSection;
///
/// #[derive(serde::Deserialize, validator::Validate)]
/// pub struct ArticleConfig {
///     /// Read from `ARTICLES_MAX_PAGE_SIZE`.
///     #[validate(range(min = 1, max = 1000))]
///     #[serde(default = "default_page_size")]
///     pub max_page_size: u32,
/// }
/// fn default_page_size() -> u32 { 100 }
///
/// impl ConfigSection for ArticleConfig {
///     const PREFIX: &'static str = "ARTICLES_";
/// }
/// ```
pub trait ConfigSection: DeserializeOwned + Validate + Send + Sync + 'static {
    /// The key prefix, including its trailing `_`.
    const PREFIX: &'static str;

    /// Reads and validates the section; errors name the key and where its value came from.
    fn load(settings: &Settings) -> Result<Self, ConfigError> {
        let section: Self = de::from_settings(settings, Self::PREFIX)?;
        section.validate().map_err(|errors| {
            let (field, messages) = crate::error::field_errors(&errors)
                .into_iter()
                .next()
                .map(|e| (e.field, e.messages.join("; ")))
                .unwrap_or_default();
            settings.invalid(&de::key_of(Self::PREFIX, &field), messages)
        })?;
        Ok(section)
    }
}

/// An injected, validated config section: a `#[module]` field of type `Config<T>`.
pub struct Config<T>(Arc<T>);

impl<T> Clone for Config<T> {
    fn clone(&self) -> Self {
        Config(self.0.clone())
    }
}

impl<T> Deref for Config<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

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
            .map(|t| Config(Arc::new(t)))
            .map_err(ResolveError::Config)
    }
}
