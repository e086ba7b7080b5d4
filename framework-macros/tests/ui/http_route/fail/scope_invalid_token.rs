use framework::http_route;

#[http_route(POST, "/ping", scope = "articles:write notes:écrire")]
async fn ping() -> &'static str {
    "pong"
}

fn main() {}
