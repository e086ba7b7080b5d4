use framework::module;

pub struct Service;

#[module]
impl Service {}

fn main() {}
