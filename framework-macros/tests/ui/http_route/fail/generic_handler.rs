use framework::http_route;

#[http_route(GET, "/ping")]
async fn ping<T: Default + ToString>() -> String {
    T::default().to_string()
}

fn main() {}
