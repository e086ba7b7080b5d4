use framework::http_route;

pub struct Articles;

impl Articles {
    #[http_route(GET, "/articles")]
    async fn list(&self) -> &'static str {
        "[]"
    }
}

fn main() {}
