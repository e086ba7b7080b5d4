use std::ops::Deref;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use validator::Validate;

use super::{ConfigError, Settings, de};

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

    /// Reads and validates the section, then [`after_load`](ConfigSection::after_load);
    /// errors name the key and where its value came from.
    fn load(settings: &Settings) -> Result<Self, ConfigError> {
        let section: Self = de::from_settings(settings, Self::PREFIX)?;
        section.validate().map_err(|errors| {
            let (field, messages) = crate::validation::field_errors(&errors)
                .into_iter()
                .next()
                .map(|e| (e.field, e.messages.join("; ")))
                .unwrap_or_default();
            settings.invalid(&de::key_of(Self::PREFIX, &field), messages)
        })?;
        section.after_load(settings)
    }

    /// Checks across keys and defaults taken from other keys, after the fields were read and
    /// validated; report a bad value with [`Settings::invalid`]. Default: the section as read.
    fn after_load(self, settings: &Settings) -> Result<Self, ConfigError> {
        let _ = settings;
        Ok(self)
    }
}

/// An optional text key: empty or blank counts as unset.
pub fn non_blank(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.trim().is_empty())
}

/// An injected, validated config section: a `#[module]` field of type `Config<T>`.
pub struct Config<T>(Arc<T>);

impl<T> Config<T> {
    /// A section that was loaded and validated.
    pub(crate) fn new(section: T) -> Config<T> {
        Config(Arc::new(section))
    }
}

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
