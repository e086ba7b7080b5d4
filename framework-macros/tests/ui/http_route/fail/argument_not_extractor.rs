use framework::axum::extract::Path;
use framework::http_route;

#[http_route(GET, "/articles/{id}")]
async fn get(Path(id): Path<u32>, limit: u32) -> String {
    format!("{id} {limit}")
}

fn main() {}
