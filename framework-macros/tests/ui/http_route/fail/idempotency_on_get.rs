use framework::http_route;

#[http_route(GET, "/ping", idempotency)]
async fn ping() -> &'static str {
    "pong"
}

fn main() {}
