use framework::{Principal, http_route};

#[http_route(GET, "/me", authenticated = false)]
async fn me(principal: Principal) -> String {
    principal.subject().to_owned()
}

fn main() {}
