//! The scheduler's clock: UTC read through tokio's clock, so that a test that pauses tokio's
//! time (`#[tokio::test(start_paused = true)]`) drives the schedule, the waits between ticks,
//! the overlap skipping and the run timeouts alike.

use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::time::Instant;

/// Maps tokio's monotonic instants onto UTC from one anchor, taken when the scheduler
/// starts: now is `anchor_utc + (Instant::now() - anchor_instant)`.
///
/// After the anchor, the wall clock is not read again: a step of the system clock (or a
/// suspend, which the monotonic clock does not count) is not followed until the next start.
/// Tick keys of singleton jobs are the ticks' own times, so replicas still agree on them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    utc: DateTime<Utc>,
    instant: Instant,
}

impl Clock {
    /// A clock anchored at the wall clock's now.
    pub(crate) fn start() -> Clock {
        Clock::anchored(Utc::now())
    }

    /// A clock that reads `utc` now (a test pins the schedule with it).
    pub(crate) fn anchored(utc: DateTime<Utc>) -> Clock {
        Clock {
            utc,
            instant: Instant::now(),
        }
    }

    /// Now, in UTC.
    pub(crate) fn now(&self) -> DateTime<Utc> {
        self.utc + self.instant.elapsed()
    }

    /// The instant of `at`; a time before the anchor is the anchor, which has passed.
    pub(crate) fn instant_at(&self, at: DateTime<Utc>) -> Instant {
        self.instant + (at - self.utc).to_std().unwrap_or(Duration::ZERO)
    }

    /// Waits until `at`.
    pub(crate) async fn sleep_until(&self, at: DateTime<Utc>) {
        tokio::time::sleep_until(self.instant_at(at)).await;
    }
}
