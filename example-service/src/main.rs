//! The example-service binary: `serve` (default), `check`, `wiring`, `migrate`.

// Linked for its registrations: every module, route and error code lives in the library.
use example_service as _;

#[tokio::main]
async fn main() -> framework::Result<()> {
    framework::App::from_env()?.run().await
}
