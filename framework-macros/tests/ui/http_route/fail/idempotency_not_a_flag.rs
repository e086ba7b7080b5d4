use framework::http_route;

#[http_route(POST, "/ping", idempotency = "yes")]
async fn ping() -> &'static str {
    "pong"
}

fn main() {}
