use framework::http_route;

#[http_route(POST, "/ping", rate_limit = "100/fortnight")]
async fn ping() -> &'static str {
    "pong"
}

fn main() {}
