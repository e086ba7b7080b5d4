use framework::http_route;

#[http_route(GET, "/ping")]
fn ping() -> &'static str {
    "pong"
}

fn main() {}
