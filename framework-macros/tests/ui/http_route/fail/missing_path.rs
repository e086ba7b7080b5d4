use framework::http_route;

#[http_route(GET)]
async fn ping() -> &'static str {
    "pong"
}

fn main() {}
