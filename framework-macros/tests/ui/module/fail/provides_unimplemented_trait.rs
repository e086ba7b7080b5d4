use framework::module;

pub trait Repo: Send + Sync {}

#[module(provides = dyn Repo)]
pub struct MemoryRepo;

fn main() {}
