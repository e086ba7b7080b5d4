use framework::module;

#[module]
pub struct Repo;

#[module]
pub struct Service {
    repo: Repo,
}

fn main() {}
