use framework::http_route;

#[http_route(get, "/ping")]
async fn ping() -> &'static str {
    "pong"
}

fn main() {}
