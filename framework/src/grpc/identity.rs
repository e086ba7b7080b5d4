//! Authentication over gRPC: each call to a method with a requirement (`#[grpc_service(scope
//! = ..)]`, `#[rpc(scope = ..)]`) is checked before its service sees it. Credentials come in
//! the `authorization` metadata (`Bearer <token>`) or the API key metadata; a refusal is
//! `UNAUTHENTICATED` or `PERMISSION_DENIED` with the error code as `google.rpc.ErrorInfo`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::http::Response;
use heck::ToSnakeCase;
use tonic::Status;
use tonic::body::Body;

use super::GrpcServiceRecord;
use crate::identity::{AuthError, Authenticator, Principal, Requirement};
use crate::serving::guard::{self, Policy};

/// The principal of a call to a method with a requirement (or `None`), in a
/// `#[grpc_service]` method: `framework::grpc::principal(&request)`.
pub fn principal<T>(request: &tonic::Request<T>) -> Option<&Principal> {
    request.extensions().get::<Principal>()
}

/// What each method of a service requires.
struct ServiceRequirements {
    /// By the method's Rust name.
    methods: HashMap<&'static str, Option<Requirement>>,
    /// What a method not found by name requires: the service's own requirement, else, when
    /// some method has one, every scope any method requires (a name this guard maps wrongly
    /// must not make a guarded method public).
    unmatched: Option<Requirement>,
}

/// What each method of each service requires.
pub(crate) struct Requirements {
    /// By protobuf service name.
    services: HashMap<&'static str, ServiceRequirements>,
}

impl Requirements {
    /// The requirement of the call at `path` (`/{service}/{method}`, PROTOCOL-HTTP2.md);
    /// `None` for a public method or a path no service serves.
    fn of(&self, path: &str) -> Option<Requirement> {
        let (service, method) = path.strip_prefix('/')?.split_once('/')?;
        let service = self.services.get(service)?;
        match service.methods.get(rust_name(method).as_str()) {
            Some(requirement) => *requirement,
            None => service.unmatched,
        }
    }
}

/// The Rust name prost-build gives the method `name` (its `to_snake` and
/// `sanitize_identifier`): snake case, with `_` after the names Rust cannot use even raw
/// (keywords it escapes as `r#type` are recorded unescaped).
fn rust_name(name: &str) -> String {
    let mut snake = name.to_snake_case();
    if matches!(snake.as_str(), "self" | "super" | "crate" | "extern") {
        snake.push('_');
    }
    snake
}

/// Every scope the methods of `service` require (leaked once per process, at startup); `None`
/// when no method has a requirement.
fn strictest(service: &GrpcServiceRecord) -> Option<Requirement> {
    let guarded: Vec<&Requirement> = service
        .methods
        .iter()
        .filter_map(|m| m.requirement.as_ref())
        .collect();
    if guarded.is_empty() {
        return None;
    }
    let mut scopes: Vec<&'static str> = guarded
        .iter()
        .flat_map(|r| r.scopes.iter().copied())
        .collect();
    scopes.sort_unstable();
    scopes.dedup();
    Some(Requirement {
        scopes: Vec::leak(scopes),
    })
}

impl Policy for Requirements {
    fn requirement(&self, path: &str) -> Option<Requirement> {
        self.of(path)
    }
}

/// The guard of the server's services, innermost: a refused call never reaches its service.
pub(crate) type GuardLayer = guard::GuardLayer<Requirements, Body>;

/// The guard of `services`; `None` when none declares a requirement (the server then has no
/// guard in the way). The wiring check made sure there is an authenticator when one does;
/// without one, guarded calls fail.
pub(crate) fn guard(
    services: &[&GrpcServiceRecord],
    authenticator: Option<Arc<dyn Authenticator>>,
) -> Option<GuardLayer> {
    let requirements = Requirements::of_services(services)?;
    Some(guard::GuardLayer::new(authenticator, requirements, refused))
}

impl Requirements {
    /// What `services` require; `None` when no method has a requirement.
    fn of_services(services: &[&GrpcServiceRecord]) -> Option<Requirements> {
        let guarded = services
            .iter()
            .any(|s| s.requirement.is_some() || s.methods.iter().any(|m| m.requirement.is_some()));
        if !guarded {
            return None;
        }
        let services = services
            .iter()
            .map(|s| {
                let requirements = ServiceRequirements {
                    methods: s.methods.iter().map(|m| (m.name, m.requirement)).collect(),
                    unmatched: s.requirement.or_else(|| strictest(s)),
                };
                (s.service, requirements)
            })
            .collect();
        Some(Requirements { services })
    }
}

/// The status of a refusal, or `INTERNAL` without an authenticator.
fn refused(refusal: Option<(&AuthError, &dyn Authenticator)>) -> Response<Body> {
    match refusal {
        Some((error, _)) => super::status_from_domain_error(error).into_http(),
        None => Status::internal("the server failed to handle the call").into_http(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::di::{Container, Location, ResolveError};
    use crate::grpc::record::{GrpcMethod, MountOptions};

    fn mount(
        _: &Container,
        _: &MountOptions,
        _: &mut tonic::service::RoutesBuilder,
    ) -> Result<(), ResolveError> {
        Ok(())
    }

    const WRITE: Requirement = Requirement {
        scopes: &["notes:write"],
    };
    const ADMIN: Requirement = Requirement {
        scopes: &["notes:admin"],
    };

    static NOTES: GrpcServiceRecord = GrpcServiceRecord {
        service: "notes.v1.Notes",
        implementation: "notes::NotesGrpc",
        methods: &[
            GrpcMethod {
                name: "get_note",
                requirement: None,
            },
            GrpcMethod {
                name: "put_note",
                requirement: Some(WRITE),
            },
            GrpcMethod {
                name: "super_",
                requirement: Some(ADMIN),
            },
        ],
        requirement: None,
        dependencies: Vec::new,
        mount,
        location: Location {
            file: "notes.rs",
            line: 1,
        },
    };

    #[test]
    fn each_method_gets_its_requirement_and_an_unknown_one_the_strictest() {
        let requirements = Requirements::of_services(&[&NOTES]).unwrap();
        assert_eq!(requirements.of("/notes.v1.Notes/GetNote"), None);
        assert_eq!(requirements.of("/notes.v1.Notes/PutNote"), Some(WRITE));
        assert_eq!(requirements.of("/notes.v1.Notes/Super"), Some(ADMIN));
        // A name this guard would map wrongly is not public: it needs every scope.
        let unmatched = requirements.of("/notes.v1.Notes/PutNOTE2").unwrap();
        assert_eq!(unmatched.scopes, ["notes:admin", "notes:write"]);
        // Other services and paths are not this guard's.
        assert_eq!(requirements.of("/grpc.health.v1.Health/Check"), None);
        assert_eq!(requirements.of("not-a-path"), None);
    }

    #[test]
    fn method_names_map_as_prost_derives_them() {
        assert_eq!(rust_name("CreateArticle"), "create_article");
        assert_eq!(rust_name("GetHTTPStatus"), "get_http_status");
        assert_eq!(rust_name("ListV2"), "list_v2");
        assert_eq!(rust_name("Super"), "super_");
        // Raw identifiers are recorded unescaped.
        assert_eq!(rust_name("Type"), "type");
    }
}
