//! Keys that connect a backend this build does not have (its cargo feature is off): set, each
//! is a configuration error naming the feature, so a service is never started without the
//! database, broker, cache or error reporting its config asks for.

use crate::config::{ConfigError, Settings};

/// A key of a plugin that is not built, and the values that need it (none is, with every
/// feature on).
#[allow(dead_code)]
struct Unbuilt {
    key: &'static str,
    /// The feature to enable, as the message names it.
    feature: &'static str,
    needs: fn(&str) -> bool,
}

#[allow(dead_code)]
fn any_value(_: &str) -> bool {
    true
}

/// The in-process store (`memory`, `memory://name`) needs no feature.
#[cfg(not(feature = "redis"))]
fn not_in_process(value: &str) -> bool {
    crate::config::in_process_name(value).is_none()
}

const UNBUILT: &[Unbuilt] = &[
    #[cfg(not(any(feature = "postgres", feature = "sqlite")))]
    Unbuilt {
        key: "DATABASE_URL",
        feature: "`postgres` or `sqlite`",
        needs: any_value,
    },
    #[cfg(not(feature = "kafka"))]
    Unbuilt {
        key: "KAFKA_BROKERS",
        feature: "`kafka`",
        needs: any_value,
    },
    #[cfg(not(feature = "redis"))]
    Unbuilt {
        key: "REDIS_URL",
        feature: "`redis`",
        needs: not_in_process,
    },
    #[cfg(not(feature = "sentry"))]
    Unbuilt {
        key: "SENTRY_DSN",
        feature: "`sentry`",
        needs: any_value,
    },
];

/// An error for the first key of `settings` that needs a feature this build does not have.
pub(crate) fn check(settings: &Settings) -> Result<(), ConfigError> {
    for unbuilt in UNBUILT {
        let Some(value) = settings.get(unbuilt.key).map(str::trim) else {
            continue;
        };
        if !value.is_empty() && (unbuilt.needs)(value) {
            return Err(settings.invalid(
                unbuilt.key,
                format!(
                    "framework was built without its {} feature: enable it, or leave {} empty",
                    unbuilt.feature, unbuilt.key
                ),
            ));
        }
    }
    Ok(())
}

// Tested on a build without them: framework/tests/http_only.rs.
