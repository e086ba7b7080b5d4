use framework::http_route;

#[http_route(POST, "/a", rate_limit = 100)]
async fn a() -> &'static str {
    "a"
}

#[http_route(POST, "/b", rate_limit)]
async fn b() -> &'static str {
    "b"
}

#[http_route(POST, "/c", rate_limit = "1/s", rate_limit = "2/s")]
async fn c() -> &'static str {
    "c"
}

fn main() {}
