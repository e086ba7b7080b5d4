use framework::axum::extract::Path;
use framework::http_route;

#[http_route(PUT, "/articles/{id}")]
async fn put(body: String, Path(id): Path<u32>) -> String {
    format!("{id} {body}")
}

fn main() {}
