use std::sync::Arc;

use framework::module;

#[module]
pub struct Repo;

#[module]
pub struct Service {
    repo: Arc<Repo>,
    name: String,
}

fn main() {}
