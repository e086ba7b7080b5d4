use framework::axum::extract::Path;
use framework::http_route;

#[http_route(GET, "/files/{name}.json")]
async fn get(Path(name): Path<String>) -> String {
    name
}

fn main() {}
