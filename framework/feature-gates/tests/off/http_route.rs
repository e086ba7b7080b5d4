#[framework::http_route(GET, "/hello")]
async fn hello() -> &'static str {
    "hello"
}

fn main() {}
