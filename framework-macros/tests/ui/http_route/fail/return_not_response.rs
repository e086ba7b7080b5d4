use framework::http_route;

pub struct Article {
    pub name: String,
}

#[http_route(GET, "/article")]
async fn get() -> Article {
    Article {
        name: "first".to_owned(),
    }
}

fn main() {}
