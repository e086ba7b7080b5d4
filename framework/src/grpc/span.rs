//! The spans of gRPC calls, after OpenTelemetry's RPC conventions (semantic conventions 1.42:
//! `rpc.system.name`, `rpc.method`, `rpc.method_original`, `rpc.response.status_code`, and
//! `error.type` on a failed call).

use std::time::Duration;

use axum::http::{HeaderMap, Request, Response};
use tonic::Code;
use tower_http::classify::GrpcFailureClass;

use super::methods::rust_name;
use super::record::{GrpcMethod, GrpcServiceRecord};
use crate::telemetry::OTHER;
use crate::telemetry::bounded::{MAX_FIELD, truncated};

/// A service the server serves, as its calls' spans name it.
pub(super) struct Served {
    service: &'static str,
    /// The module of its implementation; `None` for the built-in ones.
    module: Option<&'static str>,
    methods: Methods,
}

/// The methods of a served service.
enum Methods {
    /// A `#[grpc_service]`'s, by their Rust names.
    Rust(&'static [GrpcMethod]),
    /// A built-in service's, by their protobuf names.
    Protobuf(&'static [&'static str]),
}

/// The services tonic-health and tonic-reflection serve beside the registered ones.
const BUILT_IN: [(&str, &[&str]); 3] = [
    ("grpc.health.v1.Health", &["Check", "Watch", "List"]),
    (
        "grpc.reflection.v1.ServerReflection",
        &["ServerReflectionInfo"],
    ),
    (
        "grpc.reflection.v1alpha.ServerReflection",
        &["ServerReflectionInfo"],
    ),
];

impl Served {
    /// The registered `services` and the built-in ones, for the rest of the process.
    pub(super) fn leak(services: &[&GrpcServiceRecord]) -> &'static [Served] {
        let registered = services.iter().map(|s| Served {
            service: s.service,
            module: Some(crate::telemetry::module_of(s.implementation)),
            methods: Methods::Rust(s.methods),
        });
        let built_in = BUILT_IN.iter().map(|(service, methods)| Served {
            service,
            module: None,
            methods: Methods::Protobuf(methods),
        });
        registered.chain(built_in).collect::<Vec<_>>().leak()
    }

    /// Whether it has the method named `name` (protobuf's name).
    fn has(&self, name: &str) -> bool {
        match self.methods {
            Methods::Protobuf(names) => names.contains(&name),
            // Only a name that could be a method's is converted: the client chose it.
            Methods::Rust(methods) => {
                let plausible = name.len() <= 128
                    && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
                plausible && {
                    let rust = rust_name(name);
                    methods.iter().any(|m| m.name == rust)
                }
            }
        }
    }
}

/// The service serving the call at `path` (`/{service}/{method}`, PROTOCOL-HTTP2.md), and
/// whether it has the method. A scan: a server has a handful of services, and comparing their
/// names costs less per call than hashing the path's.
fn lookup<'a>(path: &str, served: &'a [Served]) -> Option<(&'a Served, bool)> {
    let rest = path.strip_prefix('/')?;
    served.iter().find_map(|s| {
        let method = rest.strip_prefix(s.service)?.strip_prefix('/')?;
        Some((s, s.has(method)))
    })
}

/// The `rpc.system.name` of gRPC, and the name of a server span whose method is not known.
pub(super) const SYSTEM: &str = "grpc";

/// The server span of the call at `path`, named after its `rpc.method`
/// (`package.Service/Method`). A method the server does not serve is `_OTHER` and the span is
/// named `grpc` (its `rpc.system.name`), the path kept, without its leading `/` and bounded,
/// in `rpc.method_original`. `module` is the module of the service's implementation. The
/// status is recorded by [`on_response`] and [`on_eos`].
fn server_span(path: &str, known: bool, module: Option<&str>) -> tracing::Span {
    let unslashed = path.strip_prefix('/').unwrap_or(path);
    let (name, method, original) = match known {
        true => (unslashed, unslashed, None),
        false => (SYSTEM, OTHER, Some(truncated(unslashed, MAX_FIELD))),
    };
    tracing::info_span!(
        "grpc",
        otel.name = name,
        otel.kind = "server",
        otel.status_code = tracing::field::Empty,
        error.type = tracing::field::Empty,
        rpc.system.name = SYSTEM,
        rpc.method = method,
        rpc.method_original = original.as_deref(),
        rpc.response.status_code = tracing::field::Empty,
        module,
        request_id = tracing::field::Empty,
        trace_id = tracing::field::Empty,
        span_id = tracing::field::Empty,
    )
}

/// Records the status of a trailers-only response (one that failed before any message), on a
/// client's span when `CLIENT`, else a server's.
pub(super) fn on_response<B, const CLIENT: bool>(
    response: &Response<B>,
    _: Duration,
    span: &tracing::Span,
) {
    record_status::<CLIENT>(response.headers(), span);
}

/// Records the status the trailers carry, as [`on_response`] does.
pub(super) fn on_eos<const CLIENT: bool>(
    trailers: Option<&HeaderMap>,
    _: Duration,
    span: &tracing::Span,
) {
    if let Some(trailers) = trailers {
        record_status::<CLIENT>(trailers, span);
    }
}

/// A client's call that failed before any status came (the connection refused or lost): its
/// span's `error.type` is the status when one came, else `transport`. The caller gets the
/// status or error, so logging it is the caller's.
pub(super) fn on_client_failure(failure: GrpcFailureClass, _: Duration, span: &tracing::Span) {
    let error_type = match failure {
        GrpcFailureClass::Code(code) => code_name(Code::from_i32(code.get())),
        GrpcFailureClass::Error(_) => "transport",
    };
    crate::telemetry::record_error(span, error_type);
}

/// A client's call failed unless it is `OK`; a server failed only for the codes of
/// [`is_server_error`] (the conventions' rule for each side). A failed call's `error.type` is
/// its status's name (`UNAVAILABLE`).
fn record_status<const CLIENT: bool>(metadata: &HeaderMap, span: &tracing::Span) {
    let Some(code) = metadata
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i32>().ok())
        .map(Code::from_i32)
    else {
        return;
    };
    span.record("rpc.response.status_code", code_name(code));
    let failed = match CLIENT {
        true => code != Code::Ok,
        false => is_server_error(code),
    };
    if failed {
        crate::telemetry::record_error(span, code_name(code));
    }
}

/// Whether a server answering `code` failed, as the conventions list them: the other codes are
/// the client's doing (or no failure at all).
fn is_server_error(code: Code) -> bool {
    matches!(
        code,
        Code::Unknown
            | Code::DeadlineExceeded
            | Code::Unimplemented
            | Code::Internal
            | Code::Unavailable
            | Code::DataLoss
    )
}

/// The canonical name of `code` (`DEADLINE_EXCEEDED`), as gRPC's `statuscodes.md` spells it.
fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

/// The call's server span, its module tagged on the observer's scope; the span maker of
/// the server's `WorkContextLayer`.
pub(super) fn of_request<B>(request: &Request<B>, served: &[Served]) -> tracing::Span {
    let path = request.uri().path();
    let found = lookup(path, served);
    let module = found.and_then(|(s, _)| s.module);
    if crate::work::is_observed() {
        let method = truncated(path, MAX_FIELD);
        crate::work::tag(&[("module", module.unwrap_or_default()), ("method", &method)]);
    }
    server_span(path, found.is_some_and(|(_, known)| known), module)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::capture::spans_of;

    const fn method(name: &'static str) -> GrpcMethod {
        GrpcMethod {
            name,
            requirement: None,
            rate_limit: None,
        }
    }

    #[test]
    fn a_method_the_server_does_not_serve_is_other_in_a_span_named_grpc() {
        let spans = spans_of(|| {
            server_span(
                "/articles.v1.Articles/Delete",
                false,
                Some("crate::articles"),
            );
            server_span("/articles.v1.Articles/Get", true, Some("crate::articles"));
        });
        let unknown = &spans[0];
        assert_eq!(unknown["otel.name"], "grpc");
        assert_eq!(unknown["rpc.method"], OTHER);
        assert_eq!(
            unknown["rpc.method_original"],
            "articles.v1.Articles/Delete"
        );
        let known = &spans[1];
        assert_eq!(known["otel.name"], "articles.v1.Articles/Get");
        assert_eq!(known["rpc.method"], "articles.v1.Articles/Get");
        assert!(!known.contains_key("rpc.method_original"));
    }

    #[test]
    fn a_failed_call_has_its_status_name_as_error_type() {
        let status = |code: &str| {
            let mut trailers = HeaderMap::new();
            trailers.insert("grpc-status", code.parse().unwrap());
            trailers
        };
        let spans = spans_of(|| {
            for code in ["14", "5"] {
                let span = server_span("/a.v1.A/Get", true, None);
                on_eos::<false>(Some(&status(code)), Duration::ZERO, &span);
            }
        });
        assert_eq!(spans[0]["rpc.response.status_code"], "UNAVAILABLE");
        assert_eq!(spans[0]["otel.status_code"], "error");
        assert_eq!(spans[0]["error.type"], "UNAVAILABLE");
        // The client's doing: not the server's error.
        assert_eq!(spans[1]["rpc.response.status_code"], "NOT_FOUND");
        assert!(!spans[1].contains_key("otel.status_code"));
        assert!(!spans[1].contains_key("error.type"));
    }

    static ARTICLES: [GrpcMethod; 2] = [method("get"), method("create_article")];
    static ADMIN: [GrpcMethod; 1] = [method("purge")];

    #[test]
    fn a_call_is_found_by_its_service_and_method() {
        let served = [
            Served {
                service: "articles.v1.Articles",
                module: Some("crate::articles"),
                methods: Methods::Rust(&ARTICLES),
            },
            Served {
                service: "articles.v1.ArticlesAdmin",
                module: Some("crate::admin"),
                methods: Methods::Rust(&ADMIN),
            },
            Served {
                service: "grpc.health.v1.Health",
                module: None,
                methods: Methods::Protobuf(&["Check"]),
            },
        ];
        let of = |path| lookup(path, &served).map(|(s, known)| (s.module, known));
        assert_eq!(
            of("/articles.v1.Articles/Get"),
            Some((Some("crate::articles"), true))
        );
        assert_eq!(
            of("/articles.v1.Articles/CreateArticle"),
            Some((Some("crate::articles"), true))
        );
        assert_eq!(
            of("/articles.v1.ArticlesAdmin/Purge"),
            Some((Some("crate::admin"), true))
        );
        assert_eq!(of("/grpc.health.v1.Health/Check"), Some((None, true)));
        // A method the service does not have, or could not have.
        assert_eq!(
            of("/articles.v1.Articles/Delete"),
            Some((Some("crate::articles"), false))
        );
        let long = format!("/articles.v1.Articles/{}", "M".repeat(8_000));
        assert_eq!(of(&long), Some((Some("crate::articles"), false)));
        assert_eq!(of("/grpc.health.v1.Health/check"), Some((None, false)));
        // A service whose name only starts like one that is served, or none at all.
        assert_eq!(of("/articles.v1.ArticlesX/Get"), None);
        assert_eq!(of("/articles.v1.Articles"), None);
        assert_eq!(of("articles.v1.Articles/Get"), None);
        assert_eq!(of("/"), None);
        assert_eq!(of(""), None);
    }
}
