//! The cache as a plugin: `REDIS_URL` is read and checked when the app is created (a value
//! that is neither a Redis URL nor an in-process store's name fails `check` and the start).
//! The `Cache` itself is a framework component, built only when a component needs one, with
//! its `redis` health unit (see the module above).

use super::RedisConfig;
use crate::config::{ConfigError, ConfigSection, Settings};
use crate::di::Location;
use crate::plugin::{Plugin, PluginRecord};

inventory::submit! {
    PluginRecord {
        name: "cache",
        order: 1100,
        create: CachePlugin::create,
        location: Location { file: file!(), line: line!() },
    }
}

struct CachePlugin;

impl CachePlugin {
    fn create(settings: &Settings) -> Result<Box<dyn Plugin>, ConfigError> {
        RedisConfig::load(settings)?;
        Ok(Box::new(CachePlugin))
    }
}

impl Plugin for CachePlugin {}
