//! The document: one operation per route under `HTTP_BASE_PATH`, each error response a
//! problem+json body whose `code` is one of the codes listed for its status.

use std::collections::{BTreeSet, HashMap};

use axum::Router;
use axum::body::Bytes;
use axum::http::{StatusCode, header};
use axum::routing::get;
use utoipa::openapi::path::{HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn, Paths};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::response::{ResponseBuilder, ResponsesBuilder};
use utoipa::openapi::schema::{AllOfBuilder, ArrayBuilder, ObjectBuilder, Schema, Type};
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::{
    ComponentsBuilder, ContentBuilder, InfoBuilder, OpenApi, OpenApiBuilder, Ref, RefOr, Required,
};

use super::Operation;
use crate::config::CoreConfig;
use crate::http::HttpConfig;
use crate::http::PROBLEM_JSON;
use crate::http::RouteRecord;
use crate::identity::{Authenticator, Scheme};

/// `GET /openapi.json`, the document of `routes`, built once.
pub(crate) fn router<S: Clone + Send + Sync + 'static>(
    routes: &[&'static RouteRecord],
    core: &CoreConfig,
    http: &HttpConfig,
    authenticator: Option<&dyn Authenticator>,
) -> Router<S> {
    // The document is plain data: serializing it cannot fail.
    let json = Bytes::from(
        document(routes, core, http, authenticator)
            .to_pretty_json()
            .unwrap_or_default(),
    );
    Router::new().route(
        "/openapi.json",
        get(move || {
            let json = json.clone();
            async move { ([(header::CONTENT_TYPE, "application/json")], json) }
        }),
    )
}

/// The OpenAPI 3.1 document of `routes`, served under `http.base_path`, titled with the
/// service's `APP_NAME` and `APP_VERSION`; the schemes `authenticator` accepts are its
/// `securitySchemes` (`bearer`: HTTP bearer, JWT; `api_key`: the API key header), and each
/// route with a requirement lists them as its `security`, with its scopes.
pub fn document(
    routes: &[&'static RouteRecord],
    core: &CoreConfig,
    http: &HttpConfig,
    authenticator: Option<&dyn Authenticator>,
) -> OpenApi {
    let mut paths = Paths::new();
    let mut components = ComponentsBuilder::new().schema("Problem", problem_schema());
    let schemes = authenticator.map_or(&[][..], |a| a.schemes());
    for scheme in schemes {
        let described = match scheme {
            Scheme::Bearer => SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
            Scheme::ApiKey => SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new(
                authenticator.map_or("", |a| a.api_key_header()),
            ))),
        };
        components = components.security_scheme(scheme.as_str(), described);
    }
    // How many handlers share each function name, counted once (not per route: 1,000 routes
    // would make a million comparisons).
    let mut names: HashMap<&str, usize> = HashMap::new();
    for route in routes {
        *names.entry(function_name(route.handler)).or_default() += 1;
    }
    for route in routes {
        let mut operation = Operation::default();
        (route.openapi)(&mut operation);
        for (name, schema) in std::mem::take(&mut operation.schemas) {
            components = components.schema(name, schema);
        }
        let path = crate::http::full_path(&http.base_path, route.path);
        let (template, parameters) = template_and_parameters(&path);
        let operation = build(route, &names, operation, &parameters, schemes);
        paths.add_path_operation(template, vec![method(route.method)], operation);
    }
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title(&core.app_name)
                .version(&core.app_version),
        )
        .paths(paths)
        .components(Some(components.build()))
        .build()
}

fn build(
    route: &RouteRecord,
    names: &HashMap<&str, usize>,
    operation: Operation,
    path_parameters: &[String],
    schemes: &[Scheme],
) -> utoipa::openapi::path::Operation {
    let Operation {
        mut parameters,
        path_schemas,
        body,
        success,
        mut problems,
        schemas: _,
    } = operation;
    // Every template parameter is declared: typed when a `Path<T>` says how, else a string.
    for (index, name) in path_parameters.iter().enumerate().rev() {
        let schema = path_schemas
            .get(index)
            .cloned()
            .unwrap_or_else(|| ObjectBuilder::new().schema_type(Type::String).into());
        let parameter = ParameterBuilder::new()
            .name(name)
            .parameter_in(ParameterIn::Path)
            .required(Required::True)
            .schema(Some(schema));
        parameters.insert(0, parameter.build());
    }
    if route.idempotency {
        // draft-ietf-httpapi-idempotency-key-header: a string, quoted or not.
        let key = ObjectBuilder::new()
            .schema_type(Type::String)
            .min_length(Some(1))
            .max_length(Some(crate::http::idempotency::MAX_KEY_LEN))
            // Visible ASCII but `"` and `\`, bare or as a structured-field string.
            .pattern(Some(r#"^([!#-\[\]-~]+|"[!#-\[\]-~]+")$"#));
        let parameter = ParameterBuilder::new()
            .name(crate::http::idempotency::IDEMPOTENCY_KEY.as_str())
            .parameter_in(ParameterIn::Header)
            .required(Required::False)
            .description(Some(
                "Makes a retry safe: the first response for a key is kept and replayed \
                 (with `idempotent-replayed: true`) to a retry of the same request.",
            ))
            .schema(Some(key));
        parameters.push(parameter.build());
        for (status, code) in [
            (StatusCode::BAD_REQUEST, "IDEMPOTENCY_KEY_INVALID"),
            (StatusCode::CONFLICT, "IDEMPOTENCY_KEY_IN_USE"),
            (StatusCode::UNPROCESSABLE_ENTITY, "IDEMPOTENCY_KEY_REUSED"),
        ] {
            problems.entry(status.as_u16()).or_default().insert(code);
        }
    }
    if let Some(requirement) = route.requirement {
        // The refusals of the guard (`crate::identity::AuthError`).
        let mut refusals = vec![
            (StatusCode::UNAUTHORIZED, "AUTHENTICATION_REQUIRED"),
            (StatusCode::UNAUTHORIZED, "INVALID_CREDENTIALS"),
            (StatusCode::UNAUTHORIZED, "SCHEME_NOT_ACCEPTED"),
            (StatusCode::BAD_REQUEST, "MALFORMED_CREDENTIALS"),
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "AUTHENTICATION_UNAVAILABLE",
            ),
        ];
        if !requirement.scopes.is_empty() {
            refusals.push((StatusCode::FORBIDDEN, "INSUFFICIENT_SCOPE"));
        }
        for (status, code) in refusals {
            problems.entry(status.as_u16()).or_default().insert(code);
        }
    }
    if route.rate_limit.is_some() {
        // The limiter's refusal (`crate::http::rate_limit`).
        problems
            .entry(StatusCode::TOO_MANY_REQUESTS.as_u16())
            .or_default()
            .insert("RATE_LIMITED");
    }
    // Any route can fail: a panic or an infrastructure error is a 500.
    problems
        .entry(StatusCode::INTERNAL_SERVER_ERROR.as_u16())
        .or_default()
        .insert("INTERNAL");

    let (status, success_body) = success.unwrap_or(("2XX", None));
    let mut ok = ResponseBuilder::new().description("Success");
    if let Some(schema) = success_body {
        ok = ok.content(
            "application/json",
            ContentBuilder::new().schema(Some(schema)).build(),
        );
    }
    let mut responses = ResponsesBuilder::new().response(status, ok.build());
    for (status, codes) in &problems {
        responses = responses.response(status.to_string(), problem_response(*status, codes));
    }

    let mut builder = OperationBuilder::new()
        .operation_id(Some(operation_id(route, names)))
        .tag(crate::telemetry::module_of(route.handler))
        .responses(responses.build());
    for parameter in parameters {
        builder = builder.parameter(parameter);
    }
    // Alternatives: any one accepted scheme, holding the route's scopes.
    if let Some(requirement) = route.requirement {
        for scheme in schemes {
            builder = builder.security(SecurityRequirement::new(
                scheme.as_str(),
                requirement.scopes.iter().copied(),
            ));
        }
    }
    if let Some(schema) = body {
        let content = ContentBuilder::new().schema(Some(schema)).build();
        let body = RequestBodyBuilder::new()
            .content("application/json", content)
            .required(Some(Required::True));
        builder = builder.request_body(Some(body.build()));
    }
    builder.build()
}

/// The handler's name, or its whole path where two handlers share a name.
fn operation_id(route: &RouteRecord, names: &HashMap<&str, usize>) -> String {
    let name = function_name(route.handler);
    if names.get(name).is_some_and(|&count| count > 1) {
        route.handler.replace("::", ".")
    } else {
        name.to_owned()
    }
}

/// `get_article` of `example_service::article::http::get_article`.
fn function_name(handler: &str) -> &str {
    handler.rsplit("::").next().unwrap_or(handler)
}

fn method(method: &str) -> HttpMethod {
    match method {
        "GET" => HttpMethod::Get,
        "POST" => HttpMethod::Post,
        "PUT" => HttpMethod::Put,
        "DELETE" => HttpMethod::Delete,
        "PATCH" => HttpMethod::Patch,
        "HEAD" => HttpMethod::Head,
        "OPTIONS" => HttpMethod::Options,
        _ => HttpMethod::Trace,
    }
}

/// axum's `/a/{id}/{*rest}` as OpenAPI's `/a/{id}/{rest}`, with the parameter names.
fn template_and_parameters(path: &str) -> (String, Vec<String>) {
    let mut names = Vec::new();
    let template = path
        .split('/')
        .map(
            |segment| match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(name) => {
                    let name = name.trim_start_matches('*');
                    names.push(name.to_owned());
                    format!("{{{name}}}")
                }
                None => segment.to_owned(),
            },
        )
        .collect::<Vec<_>>()
        .join("/");
    (template, names)
}

/// A problem+json response whose `status` and `code` are the ones this route gives.
fn problem_response(status: u16, codes: &BTreeSet<&'static str>) -> utoipa::openapi::Response {
    let reason = StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Error");
    let narrowed = ObjectBuilder::new()
        .property(
            "status",
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .enum_values(Some([status])),
        )
        .property(
            "code",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(codes.iter().copied())),
        );
    let schema = AllOfBuilder::new()
        .item(Ref::from_schema_name("Problem"))
        .item(narrowed);
    let codes: Vec<&str> = codes.iter().copied().collect();
    let mut response = ResponseBuilder::new()
        .description(format!("{reason}: {}", codes.join(", ")))
        .content(
            PROBLEM_JSON,
            ContentBuilder::new().schema(Some(schema)).build(),
        );
    let retry = match status {
        503 => Some("Seconds until the dependency that is down may be back."),
        429 => Some("Seconds until the client's next request would be admitted."),
        _ => None,
    };
    if let Some(description) = retry {
        // RFC 9110 §10.2.3, in its delay-seconds form.
        let seconds = ObjectBuilder::new()
            .schema_type(Type::Integer)
            .minimum(Some(0));
        response = response.header(
            "Retry-After",
            utoipa::openapi::header::HeaderBuilder::new()
                .schema(seconds)
                .description(Some(description))
                .build(),
        );
    }
    response.build()
}

/// RFC 9457 problem details, as `error::Problem` serializes them.
fn problem_schema() -> RefOr<Schema> {
    let string = || ObjectBuilder::new().schema_type(Type::String);
    let field_error = ObjectBuilder::new()
        .property("field", string())
        .property("messages", ArrayBuilder::new().items(string()))
        .required("field")
        .required("messages");
    ObjectBuilder::new()
        .description(Some(
            "RFC 9457 problem details; `code` identifies the problem.",
        ))
        .property("type", string())
        .property("title", string())
        .property("status", ObjectBuilder::new().schema_type(Type::Integer))
        .property("code", string())
        .property("detail", string())
        .property("request_id", string())
        .property("errors", ArrayBuilder::new().items(field_error))
        .required("type")
        .required("title")
        .required("status")
        .required("code")
        .required("detail")
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_keep_names_and_drop_wildcard_stars() {
        let (template, names) = template_and_parameters("/api/v1/files/{id}/{*rest}");
        assert_eq!(template, "/api/v1/files/{id}/{rest}");
        assert_eq!(names, ["id", "rest"]);
    }

    fn route(path: &'static str, handler: &'static str) -> RouteRecord {
        RouteRecord {
            method: "GET",
            path,
            handler,
            mount: axum::routing::MethodRouter::new,
            dependencies: Vec::new,
            transactional: || false,
            idempotency: false,
            requirement: None,
            rate_limit: None,
            openapi: |_| {},
            location: crate::di::Location {
                file: "f.rs",
                line: 1,
            },
        }
    }

    #[test]
    fn a_function_name_two_handlers_share_is_qualified_in_the_operation_id() {
        let routes = [
            route("/a", "svc::a::list"),
            route("/b", "svc::b::list"),
            route("/c", "svc::a::get"),
        ];
        let routes: Vec<&'static RouteRecord> = routes
            .into_iter()
            .map(|r| &*Box::leak(Box::new(r)))
            .collect();
        let core = CoreConfig::load(&Default::default());
        let http = HttpConfig::default();
        let document = document(&routes, &core.unwrap(), &http, None);
        let json = serde_json::to_value(&document).unwrap();
        let id = |path: &str| {
            json["paths"][format!("{}{path}", http.base_path)]["get"]["operationId"].clone()
        };
        assert_eq!(id("/a"), "svc.a.list");
        assert_eq!(id("/b"), "svc.b.list");
        assert_eq!(id("/c"), "get");
    }
}
