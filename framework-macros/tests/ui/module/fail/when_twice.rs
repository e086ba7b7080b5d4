use framework::config::Settings;
use framework::module;

fn enabled(_: &Settings) -> bool {
    true
}

#[module(when = enabled, when = framework::db::is_sqlite)]
pub struct Cache;

fn main() {}
