use std::sync::Arc;

use framework::module;

pub struct Repo;

#[module]
pub struct Service(Arc<Repo>);

fn main() {}
