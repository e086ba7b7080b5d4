use framework::module;

pub struct Handle(u32);

#[module]
pub struct Pool {
    #[state]
    handle: Handle,
}

fn main() {}
