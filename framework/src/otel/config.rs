//! The `OTEL_*` keys, as the OpenTelemetry specification's environment variables define them
//! (<https://opentelemetry.io/docs/specs/otel/configuration/sdk-environment-variables/> and
//! <https://opentelemetry.io/docs/specs/otel/protocol/exporter/>), read through the app's
//! layered settings (so `envs/*.env` may set them) and checked at start: a value the SDK would
//! silently replace by its default is an error naming the key.

use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry_sdk::trace::Sampler;
use serde::Deserialize;

use crate::config::{ConfigError, ConfigSection, CoreConfig, Settings, non_blank};

/// The `OTEL_*` keys (see `envs/.env`).
#[derive(Debug, Clone, Deserialize, validator::Validate)]
pub struct OtelConfig {
    /// `OTEL_SDK_DISABLED`: `true` turns the export off whatever else is set; default `false`.
    #[serde(default)]
    pub sdk_disabled: bool,
    /// `OTEL_EXPORTER_OTLP_ENDPOINT`: the OTLP receiver (a collector, Jaeger, Tempo), an
    /// `http://` or `https://` URL: `http://localhost:4317` for gRPC,
    /// `http://localhost:4318` for HTTP (`/v1/traces` and `/v1/metrics` are appended). Empty
    /// or unset: nothing is exported.
    #[serde(default)]
    pub exporter_otlp_endpoint: Option<String>,
    /// `OTEL_EXPORTER_OTLP_PROTOCOL`: `grpc` or `http/protobuf` (the specification's
    /// default); `http/json` is not built in.
    #[serde(default)]
    pub exporter_otlp_protocol: Option<String>,
    /// `OTEL_EXPORTER_OTLP_HEADERS`: headers sent with every export, `key=value` pairs
    /// separated by commas, values percent-encoded (`api-key=abc%20def`); a secret, never
    /// shown.
    #[serde(default)]
    pub exporter_otlp_headers: Option<String>,
    /// `OTEL_EXPORTER_OTLP_TIMEOUT`: milliseconds one export may take; default 10000.
    #[serde(default = "default_timeout_ms")]
    #[validate(range(min = 1, max = 600000))]
    pub exporter_otlp_timeout: u64,
    /// `OTEL_SERVICE_NAME`: the `service.name` resource attribute; `APP_NAME` when empty and
    /// `OTEL_RESOURCE_ATTRIBUTES` has none.
    #[serde(default)]
    pub service_name: Option<String>,
    /// `OTEL_RESOURCE_ATTRIBUTES`: more resource attributes, `key=value` pairs separated by
    /// commas, values percent-encoded (`deployment.environment.name=production`).
    #[serde(default)]
    pub resource_attributes: Option<String>,
    /// `OTEL_TRACES_SAMPLER`: `always_on`, `always_off`, `traceidratio`,
    /// `parentbased_always_on` (the default), `parentbased_always_off` or
    /// `parentbased_traceidratio`.
    #[serde(default)]
    pub traces_sampler: Option<String>,
    /// `OTEL_TRACES_SAMPLER_ARG`: the ratio of the `*traceidratio` samplers, from 0 to 1;
    /// default 1.
    #[serde(default)]
    pub traces_sampler_arg: Option<String>,
}

fn default_timeout_ms() -> u64 {
    10_000
}

impl ConfigSection for OtelConfig {
    const PREFIX: &'static str = "OTEL_";

    fn after_load(mut self, settings: &Settings) -> Result<Self, ConfigError> {
        self.exporter_otlp_endpoint = non_blank(self.exporter_otlp_endpoint);
        self.exporter_otlp_protocol = non_blank(self.exporter_otlp_protocol);
        self.exporter_otlp_headers = non_blank(self.exporter_otlp_headers);
        self.service_name = non_blank(self.service_name);
        self.resource_attributes = non_blank(self.resource_attributes);
        self.traces_sampler = non_blank(self.traces_sampler);
        self.traces_sampler_arg = non_blank(self.traces_sampler_arg);
        // Each is checked whether or not an endpoint is set: a typo shows at once, not on
        // the day the export is turned on.
        self.protocol(settings)?;
        self.endpoint_url(settings)?;
        self.headers(settings)?;
        self.sampler(settings)?;
        pairs(
            settings,
            "OTEL_RESOURCE_ATTRIBUTES",
            &self.resource_attributes,
        )?;
        Ok(self)
    }
}

/// How spans and metrics travel to the receiver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// OTLP over gRPC (`grpc`), usually port 4317.
    Grpc,
    /// OTLP over HTTP with protobuf bodies (`http/protobuf`), usually port 4318.
    HttpProtobuf,
}

/// What to export where, resolved from the keys when the app is made (no I/O).
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    /// The receiver, without a trailing `/`.
    pub(crate) endpoint: String,
    pub(crate) protocol: Protocol,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) timeout: Duration,
    pub(crate) sampler: Sampler,
    pub(crate) resource: Vec<KeyValue>,
}

impl OtelConfig {
    /// Whether spans and metrics are exported: an endpoint is set and the SDK not disabled.
    pub fn exports(&self) -> bool {
        !self.sdk_disabled && self.exporter_otlp_endpoint.is_some()
    }

    /// The export these keys ask for; `None` when nothing is exported.
    pub(crate) fn plan(
        &self,
        core: &CoreConfig,
        settings: &Settings,
    ) -> Result<Option<Plan>, ConfigError> {
        let Some(endpoint) = self.endpoint_url(settings)?.filter(|_| self.exports()) else {
            return Ok(None);
        };
        Ok(Some(Plan {
            endpoint,
            protocol: self.protocol(settings)?,
            headers: self.headers(settings)?,
            timeout: self.timeout(),
            sampler: self.sampler(settings)?,
            resource: self.resource(core, settings)?,
        }))
    }

    /// `OTEL_EXPORTER_OTLP_PROTOCOL`.
    pub fn protocol(&self, settings: &Settings) -> Result<Protocol, ConfigError> {
        match self.exporter_otlp_protocol.as_deref().map(str::trim) {
            None | Some("http/protobuf") => Ok(Protocol::HttpProtobuf),
            Some("grpc") => Ok(Protocol::Grpc),
            Some("http/json") => Err(settings.invalid(
                "OTEL_EXPORTER_OTLP_PROTOCOL",
                "http/json is not built in: use `grpc` or `http/protobuf`",
            )),
            Some(_) => Err(settings.invalid(
                "OTEL_EXPORTER_OTLP_PROTOCOL",
                "expected `grpc` or `http/protobuf`",
            )),
        }
    }

    /// `OTEL_EXPORTER_OTLP_ENDPOINT`, checked, without a trailing `/`; `None` when unset.
    pub fn endpoint_url(&self, settings: &Settings) -> Result<Option<String>, ConfigError> {
        let Some(endpoint) = self.exporter_otlp_endpoint.as_deref().map(str::trim) else {
            return Ok(None);
        };
        let rest = endpoint
            .strip_prefix("http://")
            .or_else(|| endpoint.strip_prefix("https://"));
        let host = rest.map(|rest| rest.split(['/', '?', '#']).next().unwrap_or_default());
        match host {
            Some(host) if !host.is_empty() && !host.contains('@') => {
                Ok(Some(endpoint.trim_end_matches('/').to_owned()))
            }
            _ => Err(settings.invalid(
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                "expected an http:// or https:// URL with a host, such as http://localhost:4317",
            )),
        }
    }

    /// `OTEL_EXPORTER_OTLP_HEADERS`, decoded.
    pub fn headers(&self, settings: &Settings) -> Result<Vec<(String, String)>, ConfigError> {
        let key = "OTEL_EXPORTER_OTLP_HEADERS";
        let headers = pairs(settings, key, &self.exporter_otlp_headers)?;
        for (name, value) in &headers {
            let valid =
                axum_free_header_name(name) && value.bytes().all(|b| b >= 0x20 && b != 0x7f);
            if !valid {
                return Err(settings.invalid(key, format!("`{name}` is not a valid header")));
            }
        }
        Ok(headers)
    }

    /// `OTEL_EXPORTER_OTLP_TIMEOUT`.
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.exporter_otlp_timeout)
    }

    /// `OTEL_TRACES_SAMPLER` with `OTEL_TRACES_SAMPLER_ARG`.
    pub fn sampler(&self, settings: &Settings) -> Result<Sampler, ConfigError> {
        let ratio = match self.traces_sampler_arg.as_deref().map(str::trim) {
            None => 1.0,
            Some(arg) => match arg.parse::<f64>() {
                Ok(ratio) if (0.0..=1.0).contains(&ratio) => ratio,
                _ => {
                    return Err(settings.invalid(
                        "OTEL_TRACES_SAMPLER_ARG",
                        "expected a ratio from 0 to 1, such as 0.25",
                    ));
                }
            },
        };
        let parent_based = |root| Sampler::ParentBased(Box::new(root));
        Ok(match self.traces_sampler.as_deref().map(str::trim) {
            None | Some("parentbased_always_on") => parent_based(Sampler::AlwaysOn),
            Some("always_on") => Sampler::AlwaysOn,
            Some("always_off") => Sampler::AlwaysOff,
            Some("traceidratio") => Sampler::TraceIdRatioBased(ratio),
            Some("parentbased_always_off") => parent_based(Sampler::AlwaysOff),
            Some("parentbased_traceidratio") => parent_based(Sampler::TraceIdRatioBased(ratio)),
            Some(_) => {
                return Err(settings.invalid(
                    "OTEL_TRACES_SAMPLER",
                    "expected always_on, always_off, traceidratio, parentbased_always_on, \
                     parentbased_always_off or parentbased_traceidratio",
                ));
            }
        })
    }

    /// The resource attributes: `OTEL_RESOURCE_ATTRIBUTES`, then `service.name` (from
    /// `OTEL_SERVICE_NAME`, else the attributes', else `APP_NAME`), `service.version`
    /// (`APP_VERSION`) and `deployment.environment.name` (`APP_ENV`, when set) unless the
    /// attributes give them.
    pub fn resource(
        &self,
        core: &CoreConfig,
        settings: &Settings,
    ) -> Result<Vec<KeyValue>, ConfigError> {
        let given = pairs(
            settings,
            "OTEL_RESOURCE_ATTRIBUTES",
            &self.resource_attributes,
        )?;
        let has = |key: &str| given.iter().any(|(k, _)| k == key);
        let mut resource: Vec<KeyValue> = Vec::with_capacity(given.len() + 3);
        let service = match &self.service_name {
            Some(name) => Some(name.clone()),
            None if has("service.name") => None,
            None => Some(core.app_name.clone()),
        };
        resource.extend(service.map(|name| KeyValue::new("service.name", name)));
        if !has("service.version") {
            resource.push(KeyValue::new("service.version", core.app_version.clone()));
        }
        if !has("deployment.environment.name") && !core.app_env.is_empty() {
            let env = core.app_env.clone();
            resource.push(KeyValue::new("deployment.environment.name", env));
        }
        let named = |key: &str| resource.iter().any(|kv| kv.key.as_str() == key);
        let rest: Vec<_> = given
            .into_iter()
            .filter(|(key, _)| !(key == "service.name" && named("service.name")))
            .map(|(key, value)| KeyValue::new(key, value))
            .collect();
        resource.extend(rest);
        Ok(resource)
    }
}

/// A header name as RFC 9110 allows it (a token), without naming the `http` crate.
fn axum_free_header_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// `key=value` pairs separated by commas, values percent-decoded (the W3C Baggage format the
/// specification uses for `OTEL_RESOURCE_ATTRIBUTES` and `OTEL_EXPORTER_OTLP_HEADERS`).
fn pairs(
    settings: &Settings,
    key: &str,
    value: &Option<String>,
) -> Result<Vec<(String, String)>, ConfigError> {
    let Some(value) = value else {
        return Ok(Vec::new());
    };
    value
        .split(',')
        .filter(|pair| !pair.trim().is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').ok_or_else(|| {
                settings.invalid(key, "expected `key=value` pairs separated by commas")
            })?;
            let decoded = percent_encoding::percent_decode_str(value.trim()).decode_utf8();
            match (name.trim(), decoded) {
                ("", _) => Err(settings.invalid(key, "a pair has an empty key")),
                (name, Ok(value)) => Ok((name.to_owned(), value.into_owned())),
                (_, Err(_)) => Err(settings.invalid(key, "a value is not UTF-8 once decoded")),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(pairs: &[(&str, &str)]) -> Result<OtelConfig, ConfigError> {
        let settings = Settings::from_pairs(pairs.iter().copied());
        OtelConfig::load(&settings)
    }

    fn error_of(pairs: &[(&str, &str)]) -> String {
        load(pairs).expect_err("invalid").to_string()
    }

    #[test]
    fn off_without_an_endpoint_or_when_disabled() {
        assert!(!load(&[]).unwrap().exports());
        let endpoint = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4317");
        assert!(load(&[endpoint]).unwrap().exports());
        assert!(
            !load(&[endpoint, ("OTEL_SDK_DISABLED", "true")])
                .unwrap()
                .exports()
        );
    }

    #[test]
    fn bad_values_name_their_key() {
        let cases = [
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "localhost:4317"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "udp"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "0"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "api-key"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "bad name=1"),
            ("OTEL_TRACES_SAMPLER", "sometimes"),
            ("OTEL_TRACES_SAMPLER_ARG", "1.5"),
            ("OTEL_RESOURCE_ATTRIBUTES", "=x"),
            ("OTEL_RESOURCE_ATTRIBUTES", "a=%ff"),
        ];
        for (key, value) in cases {
            let error = error_of(&[(key, value)]);
            assert!(error.contains(key), "{key}={value}: {error}");
        }
    }

    #[test]
    fn headers_are_a_secret_and_decoded() {
        let error = error_of(&[("OTEL_EXPORTER_OTLP_HEADERS", "api-key=s3cret,x")]);
        assert!(!error.contains("s3cret"), "{error}");
        let config = load(&[("OTEL_EXPORTER_OTLP_HEADERS", "api-key=a%20b, x-team = core")]);
        let settings = Settings::from_pairs::<&str, &str>([]);
        let headers = config.unwrap().headers(&settings).unwrap();
        assert_eq!(
            headers,
            [
                ("api-key".to_owned(), "a b".to_owned()),
                ("x-team".to_owned(), "core".to_owned())
            ]
        );
    }

    #[test]
    fn the_resource_names_the_service() {
        let settings = Settings::from_pairs([("APP_NAME", "articles"), ("APP_ENV", "stage")]);
        let core = CoreConfig::load(&settings).unwrap();
        let resource = |pairs: &[(&str, &str)]| {
            let config = load(pairs).unwrap();
            let resource = config.resource(&core, &settings).unwrap();
            resource
                .into_iter()
                .map(|kv| (kv.key.to_string(), kv.value.to_string()))
                .collect::<Vec<_>>()
        };
        let of = |pairs: &[(String, String)], key: &str| {
            let values: Vec<_> = pairs.iter().filter(|(k, _)| k == key).collect();
            assert!(values.len() <= 1, "{key} once: {pairs:?}");
            values.first().map(|(_, v)| v.clone())
        };
        let plain = resource(&[]);
        assert_eq!(of(&plain, "service.name").as_deref(), Some("articles"));
        assert_eq!(
            of(&plain, "deployment.environment.name").as_deref(),
            Some("stage")
        );
        let given = resource(&[("OTEL_RESOURCE_ATTRIBUTES", "service.name=a,team=core")]);
        assert_eq!(of(&given, "service.name").as_deref(), Some("a"));
        assert_eq!(of(&given, "team").as_deref(), Some("core"));
        let both = resource(&[
            ("OTEL_RESOURCE_ATTRIBUTES", "service.name=a"),
            ("OTEL_SERVICE_NAME", "b"),
        ]);
        assert_eq!(of(&both, "service.name").as_deref(), Some("b"));
    }
}
