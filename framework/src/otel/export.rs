//! What the span and metric exporters share: the OTLP transport `Plan` asks for (endpoint,
//! timeout, headers, TLS), and the runtime their gRPC channels live on.

use std::collections::HashMap;
use std::sync::OnceLock;

use opentelemetry_otlp::{WithExportConfig, WithHttpConfig, WithTonicConfig};

use super::config::{Plan, Signal};

/// An exporter over OTLP/gRPC to `plan`'s endpoint.
pub(super) fn grpc<B: WithExportConfig + WithTonicConfig>(
    builder: B,
    plan: &Plan,
    signal: Signal,
) -> B {
    let mut builder = builder
        .with_endpoint(plan.endpoint.clone())
        .with_timeout(plan.timeout)
        .with_metadata(metadata(headers(plan, signal)));
    if plan.endpoint.starts_with("https://") {
        let tls = tonic::transport::ClientTlsConfig::new().with_enabled_roots();
        builder = builder.with_tls_config(tls);
    }
    builder
}

/// An exporter over OTLP/HTTP (protobuf) to `plan`'s endpoint and `signal`'s path.
pub(super) fn http<B: WithExportConfig + WithHttpConfig>(
    builder: B,
    plan: &Plan,
    signal: Signal,
) -> B {
    // reqwest's rustls needs a process-wide crypto provider; if the program installed one
    // already, that one stays.
    let _ = rustls::crypto::ring::default_provider().install_default();
    // The HTTP exporter percent-decodes the values it is given, which are decoded already:
    // encoded again, a `%` in a value stays one.
    let headers = headers(plan, signal)
        .iter()
        .map(|(name, value)| (name.clone(), value.replace('%', "%25")))
        .collect::<HashMap<_, _>>();
    builder
        .with_endpoint(format!("{}{}", plan.endpoint, signal.http_path()))
        .with_timeout(plan.timeout)
        .with_headers(headers)
}

/// The headers to give the SDK for `signal`. opentelemetry-otlp also reads
/// `OTEL_EXPORTER_OTLP_{SIGNAL}_HEADERS` or else `OTEL_EXPORTER_OTLP_HEADERS` from the process
/// environment and adds them to those it is given: when the process environment has one, the
/// SDK's copy is the only one (else each header would be sent twice). The app's settings
/// include the process environment, so [`OtelConfig`](super::OtelConfig) checked it.
fn headers(plan: &Plan, signal: Signal) -> &[(String, String)] {
    let in_process_env = [signal.headers_key(), "OTEL_EXPORTER_OTLP_HEADERS"]
        .iter()
        .any(|key| std::env::var_os(key).is_some());
    if in_process_env {
        &[]
    } else {
        plan.headers(signal)
    }
}

/// Headers as gRPC metadata (`OtelConfig::headers` checked them).
fn metadata(headers: &[(String, String)]) -> tonic::metadata::MetadataMap {
    let mut metadata = tonic::metadata::MetadataMap::new();
    for (name, value) in headers {
        let name = tonic::metadata::MetadataKey::from_bytes(name.to_ascii_lowercase().as_bytes());
        if let (Ok(name), Ok(value)) = (name, value.parse()) {
            metadata.insert(name, value);
        }
    }
    metadata
}

/// The runtime the exporters' gRPC channels are made on, and their connections run on: the
/// process's export outlives the app (and the Tokio runtime) that started it, as the tests'
/// apps do one after another. One worker thread, named `otel-export`.
pub(super) fn runtime() -> Result<&'static tokio::runtime::Runtime, &'static str> {
    // Built inside `get_or_init`: a runtime built by a racing caller and dropped in an async
    // context would panic.
    static RUNTIME: OnceLock<Result<tokio::runtime::Runtime, String>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name("otel-export")
                .enable_all()
                .build()
                .map_err(|error| format!("cannot start the export thread: {error}"))
        })
        .as_ref()
        .map_err(String::as_str)
}
