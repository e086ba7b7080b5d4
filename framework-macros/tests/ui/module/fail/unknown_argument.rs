use framework::module;

pub trait Repo: Send + Sync {}

#[module(implements = dyn Repo)]
pub struct MemoryRepo;

impl Repo for MemoryRepo {}

fn main() {}
