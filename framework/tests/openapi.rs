//! `GET /openapi.json`: an OpenAPI 3.1 document listing every `#[http_route]` with its
//! parameters, request body, success response and every error response, as problem+json
//! with the codes of the route's `DomainError` and of the framework's own rejections.
//! (scripts/openapi-check also validates the example service's document against the OpenAPI
//! 3.1 schema and fuzzes the service with schemathesis.)

use framework::Valid;
use framework::axum::Json;
use framework::axum::extract::{Path, Query};
use framework::axum::http::StatusCode;
use framework::axum::response::IntoResponse;
use framework::testing::TestApp;
use framework::utoipa::{self, IntoParams, ToSchema};
use framework::{DomainError, http_route};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

#[derive(Serialize, ToSchema)]
pub struct Widget {
    id: Uuid,
    name: String,
}

#[derive(Deserialize, ToSchema, validator::Validate)]
pub struct NewWidget {
    #[validate(length(min = 1))]
    name: String,
}

#[derive(Deserialize, IntoParams, validator::Validate)]
pub struct Paging {
    #[validate(range(max = 100))]
    limit: Option<u32>,
}

#[derive(Debug, thiserror::Error, DomainError)]
pub enum WidgetError {
    #[error("no such widget")]
    #[domain(not_found, code = "WIDGET_MISSING")]
    Missing,
    #[error("the name is taken")]
    #[domain(conflict, code = "WIDGET_NAME_TAKEN")]
    Taken,
    #[error("the widget store failed")]
    #[domain(internal, code = "WIDGET_STORE")]
    Store,
}

#[http_route(GET, "/widgets/{id}")]
async fn get_widget(Path(id): Path<Uuid>) -> Result<Json<Widget>, WidgetError> {
    Ok(Json(Widget {
        id,
        name: "w".into(),
    }))
}

#[http_route(POST, "/widgets")]
async fn create_widget(
    Valid(Json(new)): Valid<Json<NewWidget>>,
) -> Result<(StatusCode, Json<Widget>), WidgetError> {
    let widget = Widget {
        id: Uuid::nil(),
        name: new.name,
    };
    Ok((StatusCode::CREATED, Json(widget)))
}

#[http_route(GET, "/widgets")]
async fn list_widgets(Valid(Query(_paging)): Valid<Query<Paging>>) -> Json<Vec<Widget>> {
    Json(Vec::new())
}

#[http_route(DELETE, "/widgets/{id}")]
async fn delete_widget(Path(_id): Path<Uuid>) -> Result<StatusCode, WidgetError> {
    Err(WidgetError::Missing)
}

#[http_route(GET, "/version")]
async fn version() -> impl IntoResponse {
    "1"
}

async fn document() -> Value {
    let app = TestApp::start(&[
        ("DATABASE_URL", ""),
        ("APP_NAME", "widgets"),
        ("APP_VERSION", "2.3.4"),
    ])
    .await
    .expect("the app starts");
    let response = reqwest::get(app.url("/openapi.json")).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    let document = response.json().await.unwrap();
    app.shutdown().await.unwrap();
    document
}

/// The codes the `status` response of `operation` lists.
fn codes(operation: &Value, status: &str) -> Vec<String> {
    let schema = &operation["responses"][status]["content"]["application/problem+json"]["schema"];
    assert_eq!(schema["allOf"][0]["$ref"], "#/components/schemas/Problem");
    assert_eq!(
        schema["allOf"][1]["properties"]["status"]["enum"][0],
        status.parse::<u16>().unwrap()
    );
    schema["allOf"][1]["properties"]["code"]["enum"]
        .as_array()
        .unwrap_or_else(|| panic!("no codes for {status}"))
        .iter()
        .map(|code| code.as_str().unwrap().to_owned())
        .collect()
}

fn statuses(operation: &Value) -> Vec<&str> {
    operation["responses"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect()
}

#[tokio::test]
async fn every_route_is_listed_with_its_error_responses() {
    let document = document().await;
    assert_eq!(document["openapi"], "3.1.0");
    assert_eq!(document["info"]["title"], "widgets");
    assert_eq!(document["info"]["version"], "2.3.4");
    let paths = document["paths"].as_object().unwrap();
    let mut listed: Vec<String> = paths
        .iter()
        .flat_map(|(path, item)| {
            let methods = item.as_object().unwrap().keys();
            methods.map(move |method| format!("{} {path}", method.to_uppercase()))
        })
        .collect();
    listed.sort();
    assert_eq!(
        listed,
        [
            "DELETE /api/v1/widgets/{id}",
            "GET /api/v1/version",
            "GET /api/v1/widgets",
            "GET /api/v1/widgets/{id}",
            "POST /api/v1/widgets",
        ]
    );

    // A typed path parameter, a JSON success and the error type's whole catalog.
    let get = &paths["/api/v1/widgets/{id}"]["get"];
    assert_eq!(get["operationId"], "get_widget");
    assert_eq!(get["tags"][0], "openapi");
    let id = &get["parameters"][0];
    assert_eq!(
        (&id["name"], &id["in"], &id["required"]),
        (&"id".into(), &"path".into(), &true.into())
    );
    assert_eq!(id["schema"]["format"], "uuid");
    assert_eq!(
        statuses(get),
        ["200", "400", "404", "409", "500", "503", "504"]
    );
    let widget = &get["responses"]["200"]["content"]["application/json"]["schema"];
    assert_eq!(widget["required"], serde_json::json!(["id", "name"]));
    assert_eq!(
        codes(get, "400"),
        ["BAD_REQUEST"],
        "an id that is not a UUID"
    );
    assert_eq!(codes(get, "404"), ["WIDGET_MISSING"]);
    assert_eq!(codes(get, "409"), ["WIDGET_NAME_TAKEN"]);
    assert_eq!(codes(get, "500"), ["INTERNAL", "WIDGET_STORE"]);
    // An internal error over a dependency that is down or late answers 503 or 504.
    assert_eq!(codes(get, "503"), ["WIDGET_STORE"]);
    assert_eq!(codes(get, "504"), ["WIDGET_STORE"]);
    let retry_after = &get["responses"]["503"]["headers"]["Retry-After"];
    assert_eq!(retry_after["schema"]["type"], "integer", "{retry_after}");

    // A validated JSON body: its schema and every way the body is refused.
    let create = &paths["/api/v1/widgets"]["post"];
    let body = &create["requestBody"];
    assert_eq!(body["required"], true);
    assert_eq!(
        body["content"]["application/json"]["schema"]["properties"]["name"]["type"],
        "string"
    );
    assert_eq!(
        statuses(create),
        [
            "2XX", "400", "404", "409", "413", "415", "500", "503", "504"
        ]
    );
    assert_eq!(
        codes(create, "400"),
        [
            "INVALID_BODY",
            "MALFORMED_CONTENT_ENCODING",
            "MALFORMED_JSON",
            "VALIDATION_FAILED"
        ]
    );
    assert_eq!(codes(create, "413"), ["PAYLOAD_TOO_LARGE"]);
    assert_eq!(
        codes(create, "415"),
        ["UNSUPPORTED_CONTENT_ENCODING", "UNSUPPORTED_MEDIA_TYPE"]
    );

    // Validated query parameters; no error type, so only the framework's own errors.
    let list = &paths["/api/v1/widgets"]["get"];
    assert_eq!(list["parameters"][0]["name"], "limit");
    assert_eq!(list["parameters"][0]["in"], "query");
    assert_eq!(statuses(list), ["200", "400", "500"]);
    assert_eq!(codes(list, "400"), ["INVALID_QUERY", "VALIDATION_FAILED"]);
    assert_eq!(
        list["responses"]["200"]["content"]["application/json"]["schema"]["type"],
        "array"
    );

    // A bare status: some 2xx, no body.
    let delete = &paths["/api/v1/widgets/{id}"]["delete"];
    assert_eq!(
        statuses(delete),
        ["2XX", "400", "404", "409", "500", "503", "504"]
    );
    assert!(delete["responses"]["2XX"].get("content").is_none());

    // `impl IntoResponse` cannot be described: some 2xx, and the 500 any route can give.
    let version = &paths["/api/v1/version"]["get"];
    assert_eq!(statuses(version), ["2XX", "500"]);
    assert_eq!(codes(version, "500"), ["INTERNAL"]);

    let problem = &document["components"]["schemas"]["Problem"];
    assert_eq!(
        problem["required"],
        serde_json::json!(["type", "title", "status", "code", "detail"])
    );
}
