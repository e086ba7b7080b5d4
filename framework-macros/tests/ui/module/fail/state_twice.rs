use std::sync::Mutex;

use framework::module;

#[module]
pub struct Counter {
    #[state]
    #[state]
    count: Mutex<u64>,
}

fn main() {}
