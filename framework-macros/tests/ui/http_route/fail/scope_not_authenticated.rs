use framework::http_route;

#[http_route(POST, "/ping", scope = "a:write", authenticated = false)]
async fn ping() -> &'static str {
    "pong"
}

fn main() {}
