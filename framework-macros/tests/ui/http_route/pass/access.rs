//! Routes that declare who may call them, and handlers that take the caller: the records say
//! what each requires.

use framework::axum::Json;
use framework::{Claims, Principal, http_route};

#[derive(serde::Deserialize)]
pub struct Tenant {
    tenant: String,
}

#[http_route(POST, "/notes", scope = "notes:write notes:read")]
async fn create() -> &'static str {
    "created"
}

#[http_route(GET, "/me", authenticated)]
async fn me(principal: Principal) -> String {
    principal.subject().to_owned()
}

// A `Principal` argument makes the route authenticated by itself.
#[http_route(GET, "/whoami")]
async fn whoami(principal: Principal) -> String {
    principal.subject().to_owned()
}

#[http_route(GET, "/tenant")]
async fn tenant(Claims(claims): Claims<Tenant>) -> Json<String> {
    Json(claims.tenant)
}

// Anyone; a caller who sends credentials is known.
#[http_route(GET, "/hello")]
async fn hello(principal: Option<Principal>) -> String {
    principal.map_or_else(|| "stranger".to_owned(), |p| p.subject().to_owned())
}

// Each caller gets its own allowance; the quota as written, or from a setting.
#[http_route(POST, "/limited", scope = "notes:write", rate_limit = "100/min")]
async fn limited() -> &'static str {
    "created"
}

#[http_route(GET, "/configured", rate_limit = "${NOTES_READ_RATE_LIMIT}")]
async fn configured() -> &'static str {
    "read"
}

fn main() {
    let _ = (create, me, whoami, tenant, hello, limited, configured);
}
