use std::sync::Arc;

use framework::module;

#[module]
pub struct Service<R: Send + Sync + 'static> {
    repo: Arc<R>,
}

fn main() {}
