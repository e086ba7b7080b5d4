//! A unit's panic, caught where its delivery can still answer for it: an HTTP 500, a gRPC
//! `INTERNAL`, a retried or dead-lettered record, a failed job run.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;

use futures_util::FutureExt;

/// A panic caught in a unit of work: its message, `panic!`'s text (`(no message)` for a
/// payload that is not a string).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Panicked {
    /// What the panic said.
    pub message: String,
}

impl Panicked {
    /// The panic of `payload`, as `catch_unwind`, a `JoinError` or tower-http's
    /// `CatchPanicLayer` hands it over.
    pub fn of(payload: Box<dyn Any + Send>) -> Panicked {
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("(no message)");
        Panicked {
            message: message.to_owned(),
        }
    }
}

impl fmt::Display for Panicked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Runs `work`; a panic in it is `Err(Panicked)` instead of unwinding through the delivery.
/// An [`Observer`](super::Observer) sees the panic through the panic hook, in the unit's
/// scope, before this returns.
pub async fn catch<F: Future>(work: F) -> Result<F::Output, Panicked> {
    AssertUnwindSafe(work)
        .catch_unwind()
        .await
        .map_err(Panicked::of)
}

/// [`catch`] for synchronous work.
pub fn catch_now<R>(work: impl FnOnce() -> R) -> Result<R, Panicked> {
    std::panic::catch_unwind(AssertUnwindSafe(work)).map_err(Panicked::of)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panic_is_caught_with_its_message() {
        let text: Result<(), _> = catch(async { panic!("boom {}", 7) }).await;
        assert_eq!(text.unwrap_err().message, "boom 7");
        let literal: Result<(), _> = catch_now(|| panic!("plain"));
        assert_eq!(literal.unwrap_err().to_string(), "plain");
        let other: Result<(), _> = catch_now(|| std::panic::panic_any(42_u8));
        assert_eq!(other.unwrap_err().message, "(no message)");
        assert_eq!(catch(async { 5 }).await, Ok(5));
    }
}
