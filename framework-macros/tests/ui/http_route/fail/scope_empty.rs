use framework::http_route;

#[http_route(POST, "/ping", scope = "")]
async fn ping() -> &'static str {
    "pong"
}

fn main() {}
