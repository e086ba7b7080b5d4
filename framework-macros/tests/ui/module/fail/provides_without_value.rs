use framework::module;

#[module(provides)]
pub struct MemoryRepo;

fn main() {}
