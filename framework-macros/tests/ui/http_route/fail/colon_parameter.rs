use framework::axum::extract::Path;
use framework::http_route;

#[http_route(GET, "/articles/:id")]
async fn get(Path(id): Path<u32>) -> String {
    id.to_string()
}

fn main() {}
