use framework::http_route;

#[http_route(FETCH, "/ping")]
async fn ping() -> &'static str {
    "pong"
}

fn main() {}
