//! Authentication over gRPC: each call to a method with a requirement (`#[grpc_service(scope
//! = ..)]`, `#[rpc(scope = ..)]`) is checked before its service sees it. Credentials come in
//! the `authorization` metadata (`Bearer <token>`) or the API key metadata; a refusal is
//! `UNAUTHENTICATED` or `PERMISSION_DENIED` with the error code as `google.rpc.ErrorInfo`.

use std::sync::Arc;

use axum::http::Response;
use tonic::Status;
use tonic::body::Body;

use super::GrpcServiceRecord;
use super::methods::{MethodTable, ServiceTable};
use crate::identity::{AuthError, Authenticator, Principal, Requirement};
use crate::serving::guard::{self, Policy};

/// The principal of a call to a method with a requirement (or `None`), in a
/// `#[grpc_service]` method: `framework::grpc::principal(&request)`.
pub fn principal<T>(request: &tonic::Request<T>) -> Option<&Principal> {
    request.extensions().get::<Principal>()
}

/// What each method of each service requires.
pub(crate) type Requirements = MethodTable<Requirement>;

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
        self.of(path).copied()
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
    let requirements = requirements(services)?;
    Some(guard::Guard::layer(authenticator, requirements, refused))
}

/// What `services` require; `None` when no method has a requirement. A method not found by
/// name requires the service's requirement, else, when some method has one, every scope any
/// method requires.
fn requirements(services: &[&GrpcServiceRecord]) -> Option<Requirements> {
    let guarded = services
        .iter()
        .any(|s| s.requirement.is_some() || s.methods.iter().any(|m| m.requirement.is_some()));
    if !guarded {
        return None;
    }
    let services = services
        .iter()
        .map(|s| {
            let requirements = ServiceTable {
                methods: s.methods.iter().map(|m| (m.name, m.requirement)).collect(),
                unmatched: s.requirement.or_else(|| strictest(s)),
            };
            (s.service, requirements)
        })
        .collect();
    Some(MethodTable::new(services))
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
                rate_limit: None,
            },
            GrpcMethod {
                name: "put_note",
                requirement: Some(WRITE),
                rate_limit: None,
            },
            GrpcMethod {
                name: "super_",
                requirement: Some(ADMIN),
                rate_limit: None,
            },
        ],
        requirement: None,
        rate_limit: None,
        dependencies: Vec::new,
        mount,
        location: Location {
            file: "notes.rs",
            line: 1,
        },
    };

    #[test]
    fn each_method_gets_its_requirement_and_an_unknown_one_the_strictest() {
        let requirements = requirements(&[&NOTES]).unwrap();
        assert_eq!(requirements.of("/notes.v1.Notes/GetNote"), None);
        assert_eq!(requirements.of("/notes.v1.Notes/PutNote"), Some(&WRITE));
        assert_eq!(requirements.of("/notes.v1.Notes/Super"), Some(&ADMIN));
        // A name this guard would map wrongly is not public: it needs every scope.
        let unmatched = requirements
            .of("/notes.v1.Notes/PutNOTE2")
            .copied()
            .unwrap();
        assert_eq!(unmatched.scopes, ["notes:admin", "notes:write"]);
        // Other services and paths are not this guard's.
        assert_eq!(requirements.of("/grpc.health.v1.Health/Check"), None);
        assert_eq!(requirements.of("not-a-path"), None);
    }
}
