use framework::module;

#[module]
pub enum Store {
    Memory,
    Disk,
}

fn main() {}
