//! The `AUTH_*` keys are read and checked when the app is created (an HMAC algorithm, a
//! JWKS URL without issuer or audience, a short API key fail `check` and the start); the
//! `wiring` listing says which schemes are accepted.

use std::fmt::Write;

use super::AuthConfig;
use crate::config::{ConfigError, ConfigSection, Settings};
use crate::di::Location;
use crate::plugin::{Plugin, PluginRecord, Wiring};

inventory::submit! {
    PluginRecord {
        name: "auth",
        order: 50,
        create: AuthPlugin::create,
        location: Location { file: file!(), line: line!() },
    }
}

struct AuthPlugin {
    config: AuthConfig,
    api_keys: usize,
}

impl AuthPlugin {
    fn create(settings: &Settings) -> Result<Box<dyn Plugin>, ConfigError> {
        let config = AuthConfig::load(settings)?;
        let api_keys = config
            .api_keys
            .as_deref()
            .and_then(|keys| super::api_key::ApiKeys::parse(keys).ok())
            .map_or(0, |keys| keys.len());
        Ok(Box::new(AuthPlugin { config, api_keys }))
    }
}

impl Plugin for AuthPlugin {
    fn describe(&self, wiring: &mut Wiring<'_>) {
        let config = &self.config;
        let _ = writeln!(wiring, "\nauthentication:");
        if !config.is_configured() {
            let _ = writeln!(
                wiring,
                "  none (set AUTH_JWKS_URL or AUTH_API_KEYS to accept credentials)"
            );
            return;
        }
        if let Some(url) = &config.jwks_url {
            let _ = writeln!(
                wiring,
                "  bearer   JWKS {}, issuer {}, audience {}, {}",
                crate::config::redact_url(url),
                config.issuer.as_deref().unwrap_or_default(),
                config.audience.as_deref().unwrap_or_default(),
                config.algorithms
            );
        }
        if self.api_keys > 0 {
            let _ = writeln!(
                wiring,
                "  api_key  {} key(s), header {}",
                self.api_keys, config.api_key_header
            );
        }
    }
}
