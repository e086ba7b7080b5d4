use framework::http_route;

#[http_route(POST, "/ping", public)]
async fn ping() -> &'static str {
    "pong"
}

fn main() {}
