//! The `OTEL_*` keys, as the OpenTelemetry specification's environment variables define them
//! (<https://opentelemetry.io/docs/specs/otel/configuration/sdk-environment-variables/> and
//! <https://opentelemetry.io/docs/specs/otel/protocol/exporter/>), read through the app's
//! layered settings (so `envs/*.env` may set them) and checked at start: a value the SDK would
//! silently replace by its default is an error naming the key.

use std::fmt;
use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry_sdk::trace::Sampler;
use serde::Deserialize;

use crate::config::{ConfigError, ConfigSection, CoreConfig, Settings, non_blank};

/// The `OTEL_*` keys (see `envs/.env`). Its `Debug` shows no header value.
#[derive(Clone, Deserialize, validator::Validate)]
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
    /// `OTEL_EXPORTER_OTLP_TRACES_HEADERS`: the headers of the span exports, in place of
    /// `OTEL_EXPORTER_OTLP_HEADERS`; same form.
    #[serde(default)]
    pub exporter_otlp_traces_headers: Option<String>,
    /// `OTEL_EXPORTER_OTLP_METRICS_HEADERS`: the headers of the metric exports, in place of
    /// `OTEL_EXPORTER_OTLP_HEADERS`; same form.
    #[serde(default)]
    pub exporter_otlp_metrics_headers: Option<String>,
    /// `OTEL_TRACES_EXPORTER`: `otlp` (the default) or `none` (no spans exported).
    #[serde(default)]
    pub traces_exporter: Option<String>,
    /// `OTEL_METRICS_EXPORTER`: `otlp` (the default) or `none` (no metrics exported over
    /// OTLP; `GET /metrics` is the `metrics` plugin's and stays).
    #[serde(default)]
    pub metrics_exporter: Option<String>,
    /// `OTEL_METRIC_EXPORT_INTERVAL`: milliseconds between two metric exports; default
    /// 60000.
    #[serde(default = "default_interval_ms")]
    #[validate(range(min = 1, max = 86400000))]
    pub metric_export_interval: u64,
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

fn default_interval_ms() -> u64 {
    60_000
}

impl fmt::Debug for OtelConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secret = |value: &Option<String>| value.as_ref().map(|_| "***");
        f.debug_struct("OtelConfig")
            .field("sdk_disabled", &self.sdk_disabled)
            .field("exporter_otlp_endpoint", &self.exporter_otlp_endpoint)
            .field("exporter_otlp_protocol", &self.exporter_otlp_protocol)
            .field(
                "exporter_otlp_headers",
                &secret(&self.exporter_otlp_headers),
            )
            .field(
                "exporter_otlp_traces_headers",
                &secret(&self.exporter_otlp_traces_headers),
            )
            .field(
                "exporter_otlp_metrics_headers",
                &secret(&self.exporter_otlp_metrics_headers),
            )
            .field("exporter_otlp_timeout", &self.exporter_otlp_timeout)
            .field("traces_exporter", &self.traces_exporter)
            .field("metrics_exporter", &self.metrics_exporter)
            .field("metric_export_interval", &self.metric_export_interval)
            .field("service_name", &self.service_name)
            .field("resource_attributes", &self.resource_attributes)
            .field("traces_sampler", &self.traces_sampler)
            .field("traces_sampler_arg", &self.traces_sampler_arg)
            .finish()
    }
}

/// The two kinds of telemetry exported, each with its own exporter and keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Signal {
    Traces,
    Metrics,
}

impl Signal {
    /// The `OTEL_EXPORTER_OTLP_{SIGNAL}_HEADERS` key.
    pub(crate) fn headers_key(self) -> &'static str {
        match self {
            Signal::Traces => "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
            Signal::Metrics => "OTEL_EXPORTER_OTLP_METRICS_HEADERS",
        }
    }

    /// The OTLP/HTTP path of its exports.
    pub(crate) fn http_path(self) -> &'static str {
        match self {
            Signal::Traces => "/v1/traces",
            Signal::Metrics => "/v1/metrics",
        }
    }
}

impl ConfigSection for OtelConfig {
    const PREFIX: &'static str = "OTEL_";

    fn after_load(mut self, settings: &Settings) -> Result<Self, ConfigError> {
        self.exporter_otlp_endpoint = non_blank(self.exporter_otlp_endpoint);
        self.exporter_otlp_protocol = non_blank(self.exporter_otlp_protocol);
        self.exporter_otlp_headers = non_blank(self.exporter_otlp_headers);
        self.exporter_otlp_traces_headers = non_blank(self.exporter_otlp_traces_headers);
        self.exporter_otlp_metrics_headers = non_blank(self.exporter_otlp_metrics_headers);
        self.traces_exporter = non_blank(self.traces_exporter);
        self.metrics_exporter = non_blank(self.metrics_exporter);
        self.service_name = non_blank(self.service_name);
        self.resource_attributes = non_blank(self.resource_attributes);
        self.traces_sampler = non_blank(self.traces_sampler);
        self.traces_sampler_arg = non_blank(self.traces_sampler_arg);
        // Each is checked whether or not an endpoint is set: a typo shows at once, not on
        // the day the export is turned on.
        self.protocol(settings)?;
        self.endpoint_url(settings)?;
        self.headers(settings, Signal::Traces)?;
        self.headers(settings, Signal::Metrics)?;
        self.exporter(settings, Signal::Traces)?;
        self.exporter(settings, Signal::Metrics)?;
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
#[derive(Clone)]
pub(crate) struct Plan {
    /// The receiver, without a trailing `/`.
    pub(crate) endpoint: String,
    pub(crate) protocol: Protocol,
    /// The headers of the span exports (secret).
    pub(crate) trace_headers: Vec<(String, String)>,
    /// The headers of the metric exports (secret).
    pub(crate) metric_headers: Vec<(String, String)>,
    pub(crate) timeout: Duration,
    /// Whether spans are exported (`OTEL_TRACES_EXPORTER`).
    pub(crate) traces: bool,
    /// How often metrics are exported; `None`: they are not (`OTEL_METRICS_EXPORTER`).
    pub(crate) metrics: Option<Duration>,
    pub(crate) sampler: Sampler,
    pub(crate) resource: Vec<KeyValue>,
}

impl Plan {
    /// The headers of `signal`'s exports.
    pub(crate) fn headers(&self, signal: Signal) -> &[(String, String)] {
        match signal {
            Signal::Traces => &self.trace_headers,
            Signal::Metrics => &self.metric_headers,
        }
    }
}

impl OtelConfig {
    /// Whether anything is exported: an endpoint is set, the SDK not disabled, and spans or
    /// metrics have the `otlp` exporter.
    pub fn exports(&self) -> bool {
        let otlp = |value: &Option<String>| value.as_deref().is_none_or(|v| v.trim() == "otlp");
        !self.sdk_disabled
            && self.exporter_otlp_endpoint.is_some()
            && (otlp(&self.traces_exporter) || otlp(&self.metrics_exporter))
    }

    /// `OTEL_TRACES_EXPORTER` or `OTEL_METRICS_EXPORTER`: whether `signal` is exported over
    /// OTLP (`otlp`, the default) or not (`none`).
    fn exporter(&self, settings: &Settings, signal: Signal) -> Result<bool, ConfigError> {
        let (key, value) = match signal {
            Signal::Traces => ("OTEL_TRACES_EXPORTER", &self.traces_exporter),
            Signal::Metrics => ("OTEL_METRICS_EXPORTER", &self.metrics_exporter),
        };
        match value.as_deref().map(str::trim) {
            None | Some("otlp") => Ok(true),
            Some("none") => Ok(false),
            Some(_) => Err(settings.invalid(key, "expected `otlp` or `none`")),
        }
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
            trace_headers: self.headers(settings, Signal::Traces)?,
            metric_headers: self.headers(settings, Signal::Metrics)?,
            timeout: self.timeout(),
            traces: self.exporter(settings, Signal::Traces)?,
            metrics: self
                .exporter(settings, Signal::Metrics)?
                .then(|| Duration::from_millis(self.metric_export_interval)),
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
        let host = rest.map(|rest| rest.split('/').next().unwrap_or_default());
        match host {
            // The signal's path is appended: a query or fragment would end up before it.
            _ if endpoint.contains(['?', '#']) => Err(settings.invalid(
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                "expected a URL without a query or fragment",
            )),
            Some(host) if !host.is_empty() && !host.contains('@') => {
                Ok(Some(endpoint.trim_end_matches('/').to_owned()))
            }
            _ => Err(settings.invalid(
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                "expected an http:// or https:// URL with a host, such as http://localhost:4317",
            )),
        }
    }

    /// The headers of `signal`'s exports, decoded: `OTEL_EXPORTER_OTLP_{SIGNAL}_HEADERS`, or
    /// else `OTEL_EXPORTER_OTLP_HEADERS`. Names are RFC 9110 tokens, not ending in `-bin`
    /// (gRPC's binary metadata); values visible ASCII and spaces (what both transports
    /// carry). An error names the key and the pair's position, never its text.
    pub(crate) fn headers(
        &self,
        settings: &Settings,
        signal: Signal,
    ) -> Result<Vec<(String, String)>, ConfigError> {
        let own = match signal {
            Signal::Traces => &self.exporter_otlp_traces_headers,
            Signal::Metrics => &self.exporter_otlp_metrics_headers,
        };
        let (key, value) = match own {
            Some(_) => (signal.headers_key(), own),
            None => ("OTEL_EXPORTER_OTLP_HEADERS", &self.exporter_otlp_headers),
        };
        let headers = pairs(settings, key, value)?;
        for (at, (name, value)) in headers.iter().enumerate() {
            let valid = header_name(name)
                && !name.to_ascii_lowercase().ends_with("-bin")
                && value.bytes().all(|b| (0x20..0x7f).contains(&b));
            if !valid {
                let at = at + 1;
                return Err(settings.invalid(key, format!("pair {at} is not a valid header")));
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
fn header_name(name: &str) -> bool {
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
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/?a=b"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318#x"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "x-key-bin=AAE="),
            ("OTEL_EXPORTER_OTLP_HEADERS", "x-team=caf%C3%A9"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "x-team=a%0Ab"),
            ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "bad name=1"),
            ("OTEL_EXPORTER_OTLP_METRICS_HEADERS", "x"),
            ("OTEL_TRACES_EXPORTER", "jaeger"),
            ("OTEL_METRICS_EXPORTER", "prometheus"),
            ("OTEL_METRIC_EXPORT_INTERVAL", "0"),
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
        // Written as HTTP writes it: the name part holds the secret.
        let error = error_of(&[("OTEL_EXPORTER_OTLP_HEADERS", "Authorization: Basic czNj=")]);
        assert!(!error.contains("czNj"), "{error}");
        let config = load(&[
            ("OTEL_EXPORTER_OTLP_HEADERS", "api-key=s3cret"),
            ("OTEL_EXPORTER_OTLP_METRICS_HEADERS", "api-key=m3trics"),
        ])
        .unwrap();
        let shown = format!("{config:?}");
        assert!(
            !shown.contains("s3cret") && !shown.contains("m3trics"),
            "{shown}"
        );
        let settings = Settings::from_pairs::<&str, &str>([]);
        let of = |signal| config.headers(&settings, signal).unwrap()[0].1.clone();
        assert_eq!(of(Signal::Traces), "s3cret");
        assert_eq!(of(Signal::Metrics), "m3trics");
        let config = load(&[("OTEL_EXPORTER_OTLP_HEADERS", "api-key=a%20b, x-team = core")]);
        let headers = config.unwrap().headers(&settings, Signal::Traces).unwrap();
        assert_eq!(
            headers,
            [
                ("api-key".to_owned(), "a b".to_owned()),
                ("x-team".to_owned(), "core".to_owned())
            ]
        );
    }

    #[test]
    fn each_signal_can_be_turned_off() {
        let settings = Settings::from_pairs::<&str, &str>([("APP_NAME", "a")]);
        let core = CoreConfig::load(&settings).unwrap();
        let plan = |pairs: &[(&str, &str)]| {
            let mut pairs = pairs.to_vec();
            pairs.push(("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4317"));
            let config = load(&pairs).unwrap();
            config
                .plan(&core, &settings)
                .unwrap()
                .map(|plan| (plan.traces, plan.metrics))
        };
        let minute = Some(Duration::from_secs(60));
        assert_eq!(plan(&[]), Some((true, minute)));
        assert_eq!(
            plan(&[("OTEL_METRIC_EXPORT_INTERVAL", "500")]),
            Some((true, Some(Duration::from_millis(500))))
        );
        assert_eq!(
            plan(&[("OTEL_TRACES_EXPORTER", "none")]),
            Some((false, minute))
        );
        assert_eq!(
            plan(&[("OTEL_METRICS_EXPORTER", "none")]),
            Some((true, None))
        );
        let neither = [
            ("OTEL_TRACES_EXPORTER", "none"),
            ("OTEL_METRICS_EXPORTER", "none"),
        ];
        assert_eq!(plan(&neither), None);
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
