//! Every method, no arguments, and a unit return; the handler stays a plain `async fn` that
//! can be called directly.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use framework::http_route;

#[http_route(HEAD, "/")]
async fn root() {}

#[http_route(OPTIONS, "/ping")]
async fn ping() -> &'static str {
    "pong"
}

#[http_route(PATCH, "/ping")]
pub async fn patch_ping() -> &'static str {
    "patched"
}

/// Polls a future that never waits.
fn now<F: Future>(future: F) -> F::Output {
    match pin!(future).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => output,
        Poll::Pending => unreachable!("the handlers never wait"),
    }
}

fn main() {
    now(root());
    assert_eq!(now(ping()), "pong");
    assert_eq!(now(patch_ping()), "patched");
}
