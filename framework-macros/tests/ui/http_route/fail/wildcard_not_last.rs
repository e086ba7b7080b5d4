use framework::http_route;

#[http_route(GET, "/files/{*path}/meta")]
async fn meta() {}

fn main() {}
