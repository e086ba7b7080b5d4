framework::migrations!("../migrations");

fn main() {}
