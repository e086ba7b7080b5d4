use framework::module;

fn enabled() -> bool {
    true
}

#[module(when = enabled)]
pub struct Cache;

fn main() {}
