//! OpenAPI 3.1, generated from the `#[http_route]` registrations and served at
//! `GET /openapi.json`: each route's parameters, request body and success response from its
//! extractors and return type (types deriving [`ToSchema`] or [`IntoParams`] are described in
//! full), and every error response it can give, as problem+json with the codes of its
//! `DomainError` catalog and of the framework's own rejections.
//!
//! ```ignore
//! use framework::utoipa::{self, ToSchema};
//!
//! #[derive(Serialize, ToSchema)]
//! pub struct Article { id: Uuid, name: String }
//! ```

mod describe;
mod document;

pub use describe::{Arg, Describe, Errors, PathParams, Success};
pub(crate) use document::router;
pub use utoipa::{IntoParams, ToSchema};

use std::collections::{BTreeMap, BTreeSet};

use axum::http::StatusCode;
use utoipa::openapi::RefOr;
use utoipa::openapi::path::Parameter;
use utoipa::openapi::schema::Schema;

/// What one route's arguments and return type say of it; the document is built from these.
#[derive(Default)]
pub struct Operation {
    parameters: Vec<Parameter>,
    /// The schemas of the path parameters, in template order.
    path_schemas: Vec<RefOr<Schema>>,
    body: Option<RefOr<Schema>>,
    success: Option<(&'static str, Option<RefOr<Schema>>)>,
    problems: BTreeMap<u16, BTreeSet<&'static str>>,
    schemas: Vec<(String, RefOr<Schema>)>,
}

impl Operation {
    /// Parameters (path, query) the route reads.
    pub(crate) fn parameters(&mut self, parameters: impl IntoIterator<Item = Parameter>) {
        self.parameters.extend(parameters);
    }

    /// The JSON request body, and the schemas it refers to.
    pub(crate) fn json_body<T: ToSchema>(&mut self) {
        self.body = Some(T::schema());
        T::schemas(&mut self.schemas);
    }

    /// The success response: its status (`200`, or `2XX` when the handler picks it at run
    /// time) and JSON body, if any.
    pub(crate) fn success(&mut self, status: &'static str, body: Option<RefOr<Schema>>) {
        self.success = Some((status, body));
    }

    /// A JSON success body, and the schemas it refers to.
    pub(crate) fn json_success<T: ToSchema>(&mut self, status: &'static str) {
        self.success(status, Some(T::schema()));
        T::schemas(&mut self.schemas);
    }

    /// A problem response the route can give.
    pub(crate) fn problem(&mut self, status: StatusCode, code: &'static str) {
        self.problems
            .entry(status.as_u16())
            .or_default()
            .insert(code);
    }
}
