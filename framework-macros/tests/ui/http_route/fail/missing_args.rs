use framework::http_route;

#[http_route]
async fn ping() -> &'static str {
    "pong"
}

fn main() {}
