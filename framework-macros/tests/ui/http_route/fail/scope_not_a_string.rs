use framework::http_route;

#[http_route(POST, "/ping", scope = 5)]
async fn ping() -> &'static str {
    "pong"
}

fn main() {}
