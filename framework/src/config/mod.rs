//! Layered configuration: `envs/.env` -> `envs/$APP_ENV.env` -> process environment.
//!
//! Every value remembers where it came from, so an error can name the key and its source.

mod core;
mod de;
mod redact;
mod section;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

pub use self::core::{CoreConfig, LogFormat};
pub use self::redact::{redact_url, redact_value};
pub use self::section::{Config, ConfigSection, non_blank};

/// Where a configuration value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A line of an env file.
    File(PathBuf),
    /// The process environment.
    Environment,
    /// Set in code, for example by a test.
    Override,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::File(path) => write!(f, "{}", path.display()),
            Origin::Environment => f.write_str("the process environment"),
            Origin::Override => f.write_str("an override set in code"),
        }
    }
}

/// A configuration error; it names the key and where its value came from.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ConfigError {
    /// A required key has no value anywhere.
    #[error(
        "missing config key `{key}`: set it in envs/.env, envs/$APP_ENV.env or the environment"
    )]
    Missing {
        /// The missing key.
        key: String,
    },
    /// A value could not be parsed or failed validation.
    #[error("invalid config key `{key}`={value:?} (from {origin}): {reason}")]
    Invalid {
        /// The offending key.
        key: String,
        /// Its value, redacted (see [`redact_value`]).
        value: String,
        /// Where the value came from.
        origin: Origin,
        /// What is wrong with it.
        reason: String,
    },
    /// An env file could not be read or parsed.
    #[error("cannot read env file {path}: {reason}")]
    File {
        /// The file.
        path: PathBuf,
        /// Why it failed.
        reason: String,
    },
}

#[derive(Debug, Clone)]
struct Entry {
    value: String,
    origin: Origin,
}

/// The name of the in-process backend a setting asks for: `memory` is `memory`,
/// `memory://<name>` is `<name>`; anything else names a real server.
pub fn in_process_name(value: &str) -> Option<&str> {
    match value.trim().strip_prefix("memory")? {
        "" => Some("memory"),
        rest => rest.strip_prefix("://"),
    }
}

/// The merged key/value configuration of one process.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    entries: BTreeMap<String, Entry>,
}

impl Settings {
    /// Loads the layers from the env directory and the process environment.
    pub fn load() -> Result<Self, ConfigError> {
        Self::load_with(std::iter::empty::<(String, String)>())
    }

    /// Like [`Settings::load`], with `overrides` applied last (they win over the environment).
    pub fn load_with<K, V>(overrides: impl IntoIterator<Item = (K, V)>) -> Result<Self, ConfigError>
    where
        K: Into<String>,
        V: Into<String>,
    {
        let overrides: Vec<(String, String)> = overrides
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        let lookup = |key: &str| {
            overrides
                .iter()
                .rev()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.clone())
                .or_else(|| std::env::var(key).ok())
        };

        let mut settings = Settings::default();
        if let Some(dir) = envs_dir(lookup("ENVS_DIR"))? {
            settings.merge_file(&dir.join(".env"), true)?;
            let app_env = lookup("APP_ENV").or_else(|| settings.get("APP_ENV").map(str::to_owned));
            if let Some(app_env) = app_env.filter(|e| !e.is_empty()) {
                settings.merge_file(&dir.join(format!("{app_env}.env")), false)?;
            }
        }
        for (key, value) in std::env::vars() {
            settings.set(key, value, Origin::Environment);
        }
        for (key, value) in overrides {
            settings.set(key, value, Origin::Override);
        }
        Ok(settings)
    }

    /// Builds settings from explicit pairs only (no files, no environment).
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        let mut settings = Settings::default();
        for (key, value) in pairs {
            settings.set(key.into(), value.into(), Origin::Override);
        }
        settings
    }

    fn set(&mut self, key: String, value: String, origin: Origin) {
        self.entries.insert(key, Entry { value, origin });
    }

    fn merge_file(&mut self, path: &Path, optional: bool) -> Result<(), ConfigError> {
        if optional && !path.exists() {
            return Ok(());
        }
        let file_error = |reason: String| ConfigError::File {
            path: path.to_owned(),
            reason,
        };
        let iter = dotenvy::from_path_iter(path).map_err(|e| file_error(e.to_string()))?;
        for item in iter {
            let (key, value) = item.map_err(|e| file_error(e.to_string()))?;
            self.set(key, value, Origin::File(path.to_owned()));
        }
        Ok(())
    }

    /// The raw value of `key`, if set.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries.get(key).map(|e| e.value.as_str())
    }

    /// `name` as an attribute wrote it: the value of `KEY` when it is `${KEY}`, else itself.
    pub fn resolve(&self, name: &str) -> Result<String, ConfigError> {
        match name.strip_prefix("${").and_then(|n| n.strip_suffix('}')) {
            Some(key) => match self.get(key).map(str::trim) {
                Some(value) if !value.is_empty() => Ok(value.to_owned()),
                _ => Err(ConfigError::Missing {
                    key: key.to_owned(),
                }),
            },
            None => Ok(name.to_owned()),
        }
    }

    /// Where the value of `key` came from, if set.
    pub fn origin(&self, key: &str) -> Option<&Origin> {
        self.entries.get(key).map(|e| &e.origin)
    }

    /// An [`ConfigError::Invalid`] for `key` with its current value (redacted) and origin.
    pub fn invalid(&self, key: &str, reason: impl fmt::Display) -> ConfigError {
        let entry = self.entries.get(key);
        ConfigError::Invalid {
            key: key.to_owned(),
            value: entry
                .map(|e| redact_value(key, &e.value))
                .unwrap_or_default(),
            origin: entry.map(|e| e.origin.clone()).unwrap_or(Origin::Override),
            reason: reason.to_string(),
        }
    }
}

/// `$ENVS_DIR` if set (it must exist), else the first `envs/` in the working directory or
/// one of its parents, so `cargo run` and `cargo test` find the workspace's env files.
fn envs_dir(explicit: Option<String>) -> Result<Option<PathBuf>, ConfigError> {
    if let Some(dir) = explicit.filter(|d| !d.is_empty()) {
        let dir = PathBuf::from(dir);
        return if dir.is_dir() {
            Ok(Some(dir))
        } else {
            Err(ConfigError::File {
                path: dir,
                reason: "ENVS_DIR does not name a directory".into(),
            })
        };
    }
    let cwd = std::env::current_dir().map_err(|e| ConfigError::File {
        path: PathBuf::from("."),
        reason: e.to_string(),
    })?;
    Ok(cwd
        .ancestors()
        .map(|d| d.join("envs"))
        .find(|d| d.join(".env").is_file()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_process_names() {
        assert_eq!(in_process_name(" memory "), Some("memory"));
        assert_eq!(in_process_name("memory://orders"), Some("orders"));
        assert_eq!(in_process_name("memoryless:9092"), None);
        assert_eq!(in_process_name("redis://127.0.0.1:6379"), None);
    }

    /// A fresh env directory with the given files.
    fn envs(files: &[(&str, &str)]) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("framework-envs-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        for (name, content) in files {
            std::fs::write(dir.join(name), content).unwrap();
        }
        dir
    }

    fn load(dir: &Path, overrides: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let dir = dir.to_str().unwrap();
        Settings::load_with(
            [("ENVS_DIR", dir)]
                .iter()
                .chain(overrides)
                .map(|&(k, v)| (k, v)),
        )
    }

    #[test]
    fn layers_apply_in_order_and_remember_their_origin() {
        let dir = envs(&[
            (".env", "APP_ENV=stage\nFW_TEST_A=1\nFW_TEST_B=1\n"),
            ("stage.env", "FW_TEST_B=2\nFW_TEST_C=2\n"),
        ]);
        let settings = load(&dir, &[("FW_TEST_C", "3")]).unwrap();
        assert_eq!(settings.get("FW_TEST_A"), Some("1"));
        assert_eq!(
            settings.origin("FW_TEST_A"),
            Some(&Origin::File(dir.join(".env")))
        );
        assert_eq!(settings.get("FW_TEST_B"), Some("2"));
        assert_eq!(
            settings.origin("FW_TEST_B"),
            Some(&Origin::File(dir.join("stage.env")))
        );
        assert_eq!(settings.get("FW_TEST_C"), Some("3"));
        assert_eq!(settings.origin("FW_TEST_C"), Some(&Origin::Override));
    }

    #[test]
    fn an_app_env_without_its_file_is_an_error_naming_the_file() {
        let dir = envs(&[(".env", "")]);
        let error = load(&dir, &[("APP_ENV", "qa")]).unwrap_err();
        assert!(
            error
                .to_string()
                .contains(&format!("{}", dir.join("qa.env").display())),
            "{error}"
        );
    }

    #[test]
    fn a_missing_envs_dir_is_an_error() {
        let error = Settings::load_with([("ENVS_DIR", "/nonexistent/envs")]).unwrap_err();
        assert!(error.to_string().contains("/nonexistent/envs"), "{error}");
    }

    #[test]
    fn a_malformed_env_file_is_an_error_naming_the_file() {
        let dir = envs(&[(".env", "GOOD=1\nthis line is not KEY=VALUE\n")]);
        let error = load(&dir, &[]).unwrap_err();
        assert!(matches!(error, ConfigError::File { .. }), "{error}");
        assert!(error.to_string().contains(".env"), "{error}");
    }

    #[test]
    fn core_config_errors_name_key_value_and_file() {
        let dir = envs(&[(".env", "SHUTDOWN_TIMEOUT_SECS=eighty\n")]);
        let settings = load(&dir, &[]).unwrap();
        let error = CoreConfig::load(&settings).unwrap_err().to_string();
        assert!(
            error.contains("`SHUTDOWN_TIMEOUT_SECS`=\"eighty\""),
            "{error}"
        );
        assert!(
            error.contains(&dir.join(".env").display().to_string()),
            "{error}"
        );

        let settings = Settings::from_pairs([("LOG_FORMAT", "yaml")]);
        let error = CoreConfig::load(&settings).unwrap_err().to_string();
        assert!(error.contains("`LOG_FORMAT`=\"yaml\""), "{error}");
        assert!(error.contains("expected one of text, json"), "{error}");
    }

    #[test]
    fn core_config_defaults_and_parsing() {
        let settings = Settings::from_pairs([("LOG_FORMAT", "JSON")]);
        let core = CoreConfig::load(&settings).unwrap();
        assert_eq!(core.log_format, LogFormat::Json);
        assert_eq!(core.shutdown_timeout_secs, 30);
    }
}
