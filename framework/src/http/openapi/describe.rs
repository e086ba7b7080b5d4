//! What each handler argument and return type adds to its route's [`Operation`]. The
//! `#[http_route]` expansion calls `(&&&Arg::<T>::new()).describe(op)` for every argument
//! type, and likewise [`Success`] and [`Errors`] for the two sides of a `Result`: method
//! lookup takes the impl on the most references that applies (autoref specialization), so
//! the extractors and responses below are described, and any other type (`Inject<T>`, a
//! header map, a custom extractor) adds nothing.

use std::marker::PhantomData;

use axum::Json;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use utoipa::openapi::RefOr;
use utoipa::openapi::path::ParameterIn;
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, Schema, SchemaFormat, Type};
use utoipa::{IntoParams, PartialSchema, ToSchema};

use super::Operation;
use crate::error::DomainError;
use crate::http::Valid;

/// Adds what a type says of the route to `operation`.
pub trait Describe {
    /// Adds to `operation`.
    fn describe(&self, operation: &mut Operation);
}

macro_rules! marker {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        pub struct $name<T: ?Sized>(PhantomData<fn() -> T>);

        impl<T: ?Sized> $name<T> {
            /// The marker of `T`.
            pub const fn new() -> Self {
                $name(PhantomData)
            }
        }

        impl<T: ?Sized> Default for $name<T> {
            fn default() -> Self {
                Self::new()
            }
        }

        /// Anything else adds nothing.
        impl<T: ?Sized> Describe for &$name<T> {
            fn describe(&self, _operation: &mut Operation) {}
        }
    };
}

marker!(
    /// A handler argument of type `T`.
    Arg
);
marker!(
    /// The success type `T` of a handler (its return type, or the `Ok` side of it).
    Success
);
marker!(
    /// The error type `E` of a handler returning `Result<_, E>`.
    Errors
);

/// Rejections of a JSON body before `Valid` (axum's, rendered by the problem layer), and of
/// a `Content-Encoding` other than gzip (see `http::decompression`).
const JSON_REJECTIONS: [(StatusCode, &str); 5] = [
    (StatusCode::BAD_REQUEST, "BAD_REQUEST"),
    (StatusCode::UNPROCESSABLE_ENTITY, "UNPROCESSABLE_ENTITY"),
    (StatusCode::UNSUPPORTED_MEDIA_TYPE, "UNSUPPORTED_MEDIA_TYPE"),
    (
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "UNSUPPORTED_CONTENT_ENCODING",
    ),
    (StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE"),
];

/// Rejections of a JSON body under `Valid` (see `http::valid`).
const VALID_JSON_REJECTIONS: [(StatusCode, &str); 7] = [
    (StatusCode::BAD_REQUEST, "MALFORMED_JSON"),
    (StatusCode::BAD_REQUEST, "INVALID_BODY"),
    (StatusCode::BAD_REQUEST, "MALFORMED_CONTENT_ENCODING"),
    (StatusCode::BAD_REQUEST, "VALIDATION_FAILED"),
    (StatusCode::UNSUPPORTED_MEDIA_TYPE, "UNSUPPORTED_MEDIA_TYPE"),
    (
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "UNSUPPORTED_CONTENT_ENCODING",
    ),
    (StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE"),
];

fn problems(operation: &mut Operation, rejections: &[(StatusCode, &'static str)]) {
    for (status, code) in rejections {
        operation.problem(*status, code);
    }
}

impl<T: ToSchema> Describe for &&Arg<Json<T>> {
    fn describe(&self, operation: &mut Operation) {
        operation.json_body::<T>();
        problems(operation, &JSON_REJECTIONS);
    }
}

impl<T: ToSchema> Describe for &&Arg<Valid<Json<T>>> {
    fn describe(&self, operation: &mut Operation) {
        operation.json_body::<T>();
        problems(operation, &VALID_JSON_REJECTIONS);
    }
}

impl<T: IntoParams> Describe for &&Arg<Query<T>> {
    fn describe(&self, operation: &mut Operation) {
        operation.parameters(T::into_params(|| Some(ParameterIn::Query)));
        operation.problem(StatusCode::BAD_REQUEST, "BAD_REQUEST");
    }
}

impl<T: IntoParams> Describe for &&Arg<Valid<Query<T>>> {
    fn describe(&self, operation: &mut Operation) {
        operation.parameters(T::into_params(|| Some(ParameterIn::Query)));
        operation.problem(StatusCode::BAD_REQUEST, "INVALID_QUERY");
        operation.problem(StatusCode::BAD_REQUEST, "VALIDATION_FAILED");
    }
}

impl<T: PathParams> Describe for &&Arg<Path<T>> {
    fn describe(&self, operation: &mut Operation) {
        operation.path_schemas = T::schemas();
        // A value that does not parse as the parameter's type.
        operation.problem(StatusCode::BAD_REQUEST, "BAD_REQUEST");
    }
}

impl<T: ToSchema> Describe for &&Success<Json<T>> {
    fn describe(&self, operation: &mut Operation) {
        operation.json_success::<T>("200");
    }
}

/// The status is the handler's choice at run time: any 2xx.
impl<T: ToSchema> Describe for &&Success<(StatusCode, Json<T>)> {
    fn describe(&self, operation: &mut Operation) {
        operation.json_success::<T>("2XX");
    }
}

impl Describe for &&Success<StatusCode> {
    fn describe(&self, operation: &mut Operation) {
        operation.success("2XX", None);
    }
}

impl Describe for &&Success<()> {
    fn describe(&self, operation: &mut Operation) {
        operation.success("200", None);
    }
}

impl<E: DomainError> Describe for &&Errors<E> {
    fn describe(&self, operation: &mut Operation) {
        for (code, kind) in E::catalog() {
            for kind in kind.answered_as() {
                operation.problem(crate::http::status_of(*kind), code);
            }
        }
    }
}

/// Path parameter types, in the order of the route's `{name}`s.
pub trait PathParams {
    /// One schema per parameter.
    fn schemas() -> Vec<RefOr<Schema>>;
}

impl PathParams for uuid::Uuid {
    fn schemas() -> Vec<RefOr<Schema>> {
        let uuid = ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Uuid)));
        vec![uuid.into()]
    }
}

macro_rules! scalar_path_params {
    ($($ty:ty),*) => {$(
        impl PathParams for $ty {
            fn schemas() -> Vec<RefOr<Schema>> {
                vec![<$ty as PartialSchema>::schema()]
            }
        }
    )*};
}

scalar_path_params!(String, bool, i32, i64, u16, u32, u64, usize);

macro_rules! tuple_path_params {
    ($($name:ident),+) => {
        impl<$($name: PathParams),+> PathParams for ($($name,)+) {
            fn schemas() -> Vec<RefOr<Schema>> {
                let mut schemas = Vec::new();
                $(schemas.extend($name::schemas());)+
                schemas
            }
        }
    };
}

tuple_path_params!(A);
tuple_path_params!(A, B);
tuple_path_params!(A, B, C);
