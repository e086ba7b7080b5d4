use framework::http_route;

#[http_route(GET, "ping")]
async fn ping() -> &'static str {
    "pong"
}

fn main() {}
