use framework::http_route;

#[http_route(POST, "/ping", scope = "a:read", scope = "a:write")]
async fn ping() -> &'static str {
    "pong"
}

fn main() {}
