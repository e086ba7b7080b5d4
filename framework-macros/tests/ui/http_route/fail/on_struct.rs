use framework::http_route;

#[http_route(GET, "/ping")]
pub struct Ping;

fn main() {}
