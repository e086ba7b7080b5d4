use framework::module;

#[module(when = "framework::db::is_sqlite")]
pub struct Cache;

fn main() {}
