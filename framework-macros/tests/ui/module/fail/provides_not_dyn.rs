use framework::module;

pub struct Repo;

#[module(provides = Repo)]
pub struct MemoryRepo;

fn main() {}
