//! Circuit breakers: while a dependency is known to be down, calls that need it fail at once
//! ([`CircuitOpen`], answered as unavailable: 503 with `Retry-After`, gRPC `UNAVAILABLE`, a
//! retry for a consumer) instead of each waiting out its own timeout.
//!
//! A breaker is **closed** while calls go through. `BREAKER_FAILURES` consecutive calls that
//! found the dependency *unavailable* (it refused or reset the connection, or none could be
//! had: see [`crate::error::transient`]) **open** it for `BREAKER_OPEN_MS`. Any other outcome
//! counts as a success: a refused statement, a missing row or a statement that ran out of
//! time is the call's own business, and the dependency answered. Then it is **half-open**:
//! one call at a time goes through as a trial, the others are refused; a trial that
//! succeeds closes it, one that fails opens it again. The outcome of a call admitted before
//! the last change of state is not counted.
//!
//! Written here rather than taken from `failsafe` or `tower-circuitbreaker`: the first lets
//! every call through when half-open (each then waits out the dependency's timeout), the
//! second is a tower layer only (a database pool is not a tower service), and neither says
//! how long the breaker stays open, which `Retry-After` tells the client.
//!
//! A backend plugin keeps one per backend: the database's (`PostgreSQL` or `SQLite`, see
//! `framework::db::Pool`), Redis's (`redis`, where an open breaker is a cache miss) and the
//! Kafka producer's (`kafka`); and each `framework::grpc::GrpcClient` has its own. Its state is in `/health` (the backend's unit) and in the metrics
//! `circuit_breaker_state{breaker, state}` (1 for the current state) and
//! `circuit_breaker_rejected_total{breaker}`.

use std::error::Error;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Deserialize;
use tokio::time::Instant;

use crate::config::ConfigSection;
use crate::error::ErrorKind;
use crate::error::transient::{self, Classifier};

/// The `BREAKER_*` keys, shared by every breaker of the app.
#[derive(Debug, Clone, Copy, Deserialize, validator::Validate)]
pub struct BreakerConfig {
    /// `BREAKER_FAILURES`: consecutive transient failures that open a breaker; default 5,
    /// 1 to 1000.
    #[serde(default = "default_failures")]
    #[validate(range(min = 1, max = 1000))]
    pub failures: u32,
    /// `BREAKER_OPEN_MS`: how long an open breaker refuses calls before it lets a trial
    /// through; default 2000, 10 to 600000.
    #[serde(default = "default_open_ms")]
    #[validate(range(min = 10, max = 600_000))]
    pub open_ms: u64,
}

fn default_failures() -> u32 {
    5
}
fn default_open_ms() -> u64 {
    2000
}

/// The defaults of the keys: 5 failures, open 2 s.
impl Default for BreakerConfig {
    fn default() -> BreakerConfig {
        BreakerConfig {
            failures: default_failures(),
            open_ms: default_open_ms(),
        }
    }
}

impl ConfigSection for BreakerConfig {
    const PREFIX: &'static str = "BREAKER_";
}

/// A breaker's state, as `/health` and the metrics name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CircuitState {
    /// Calls go through.
    Closed,
    /// Calls are refused until the open time is over.
    Open,
    /// One trial call at a time goes through.
    HalfOpen,
}

impl CircuitState {
    const ALL: [CircuitState; 3] = [
        CircuitState::Closed,
        CircuitState::Open,
        CircuitState::HalfOpen,
    ];

    /// `closed`, `open` or `half_open`.
    pub fn as_str(self) -> &'static str {
        match self {
            CircuitState::Closed => "closed",
            CircuitState::Open => "open",
            CircuitState::HalfOpen => "half_open",
        }
    }
}

/// A call refused because its dependency's breaker is open: the dependency is known to be
/// down. Answered as [`ErrorKind::Unavailable`] wherever it is in a source chain, with
/// `Retry-After` from [`retry_after`](CircuitOpen::retry_after).
#[derive(Debug, Clone, thiserror::Error)]
#[error("`{breaker}` is down: its circuit breaker is open")]
pub struct CircuitOpen {
    /// The breaker's name: `PostgreSQL`, `SQLite`, `redis`, `kafka`, or a `GrpcClient`'s own.
    pub breaker: &'static str,
    /// How long until it lets a trial through.
    pub retry_after: Duration,
}

/// When a client should try again after an `unavailable` answer, unless a circuit breaker
/// knows better: long enough for a restarted or failed-over dependency.
pub const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(5);

/// When a client should try again after `error` (an `unavailable` one): the time left of the
/// first [`CircuitOpen`] in it or its sources, else [`DEFAULT_RETRY_AFTER`]; at least 1 s.
/// HTTP sends it as `Retry-After`, gRPC as `google.rpc.RetryInfo`.
pub fn retry_after(error: &(dyn Error + 'static)) -> Duration {
    transient::refused_for(error)
        .unwrap_or(DEFAULT_RETRY_AFTER)
        .max(Duration::from_secs(1))
}

/// Whether `error` or a source of it is a breaker's refusal ([`CircuitOpen`]).
pub fn is_refusal(error: &(dyn Error + 'static)) -> bool {
    transient::refused_for(error).is_some()
}

// How `transient::refused_for` (which `error` answers without importing this module) finds
// a refusal: `retry_after` and `is_refusal` above go through it too.
inventory::submit!(transient::Refusal {
    retry_after: |error| error
        .downcast_ref::<CircuitOpen>()
        .map(|open| open.retry_after)
});

inventory::submit!(Classifier {
    classify: |error| error.is::<CircuitOpen>().then_some(ErrorKind::Unavailable)
});

#[derive(Debug)]
enum State {
    Closed { failures: u32 },
    Open { until: Instant },
    HalfOpen { trial: bool },
}

impl State {
    /// Its name, as an open breaker had it when it opened.
    fn circuit(&self) -> CircuitState {
        match self {
            State::Closed { .. } => CircuitState::Closed,
            State::Open { .. } => CircuitState::Open,
            State::HalfOpen { .. } => CircuitState::HalfOpen,
        }
    }
}

/// One dependency's breaker; clones share it.
#[derive(Clone)]
pub struct Breaker {
    inner: Arc<Inner>,
}

struct Inner {
    name: &'static str,
    failures: u32,
    open_for: Duration,
    state: Mutex<Period>,
}

/// The state, and how many times it changed: a permit counts only in the period it was
/// given in.
#[derive(Debug)]
struct Period {
    state: State,
    epoch: u64,
}

impl std::fmt::Debug for Breaker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Breaker")
            .field("name", &self.inner.name)
            .field("state", &self.state())
            .finish()
    }
}

impl Breaker {
    /// A closed breaker named `name` (a metric label: a fixed name, never client input).
    pub fn new(name: &'static str, config: BreakerConfig) -> Breaker {
        let breaker = Breaker {
            inner: Arc::new(Inner {
                name,
                failures: config.failures.max(1),
                open_for: Duration::from_millis(config.open_ms),
                state: Mutex::new(Period {
                    state: State::Closed { failures: 0 },
                    epoch: 0,
                }),
            }),
        };
        breaker.publish(CircuitState::Closed);
        breaker
    }

    /// The state now (an open breaker whose time is over is half-open).
    pub fn state(&self) -> CircuitState {
        match self.lock().state {
            State::Open { until } if Instant::now() >= until => CircuitState::HalfOpen,
            ref state => state.circuit(),
        }
    }

    /// Its name (the `breaker` label of its metrics).
    pub fn name(&self) -> &'static str {
        self.inner.name
    }

    /// Its state as a health unit's detail: `{"circuit": "closed" | "open" | "half_open"}`.
    pub fn health_details(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut details = serde_json::Map::new();
        details.insert("circuit".into(), self.state().as_str().into());
        details
    }

    /// Asks to make a call: a [`Permit`] to report its outcome with, or [`CircuitOpen`]
    /// when the dependency is known to be down (or a trial is already under way).
    pub fn admit(&self) -> Result<Permit, CircuitOpen> {
        let mut period = self.lock();
        let trial = match period.state {
            State::Closed { .. } => false,
            State::Open { until } => {
                let now = Instant::now();
                if now < until {
                    drop(period);
                    return Err(self.refuse(until - now));
                }
                self.enter(&mut period, State::HalfOpen { trial: true });
                true
            }
            State::HalfOpen { trial: true } => {
                drop(period);
                return Err(self.refuse(Duration::ZERO));
            }
            State::HalfOpen { trial: false } => {
                period.state = State::HalfOpen { trial: true };
                true
            }
        };
        Ok(Permit {
            breaker: self.clone(),
            epoch: period.epoch,
            trial,
            finished: false,
        })
    }

    fn refuse(&self, retry_after: Duration) -> CircuitOpen {
        metrics::counter!("circuit_breaker_rejected_total", "breaker" => self.inner.name)
            .increment(1);
        CircuitOpen {
            breaker: self.inner.name,
            retry_after,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Period> {
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Moves to `state`, a new period; the gauges follow under the lock, so that they end on
    /// the last state.
    fn enter(&self, period: &mut Period, state: State) {
        let current = state.circuit();
        period.state = state;
        period.epoch += 1;
        self.publish(current);
    }

    /// Records the outcome of a call admitted in period `epoch`.
    fn record(&self, epoch: u64, trial: bool, failed: bool) {
        let mut period = self.lock();
        if period.epoch != epoch {
            // Admitted before the last change: it says nothing of the dependency now.
            return;
        }
        match (&mut period.state, failed) {
            (State::Closed { failures }, false) => *failures = 0,
            (State::Closed { failures }, true) => {
                *failures += 1;
                if *failures >= self.inner.failures {
                    self.open(&mut period);
                }
            }
            (State::HalfOpen { .. }, false) if trial => {
                self.enter(&mut period, State::Closed { failures: 0 });
                tracing::info!(breaker = self.inner.name, "circuit breaker closed");
            }
            (State::HalfOpen { .. }, true) if trial => self.open(&mut period),
            _ => {}
        }
    }

    fn open(&self, period: &mut Period) {
        let until = Instant::now() + self.inner.open_for;
        self.enter(period, State::Open { until });
        tracing::warn!(
            breaker = self.inner.name,
            open_ms = self.inner.open_for.as_millis() as u64,
            "circuit breaker opened: calls fail at once until a trial succeeds"
        );
    }

    /// A trial given up on without an outcome: the next call may try.
    fn release(&self, epoch: u64) {
        let mut period = self.lock();
        if period.epoch == epoch
            && let State::HalfOpen { trial } = &mut period.state
        {
            *trial = false;
        }
    }

    fn publish(&self, current: CircuitState) {
        for state in CircuitState::ALL {
            metrics::gauge!(
                "circuit_breaker_state",
                "breaker" => self.inner.name,
                "state" => state.as_str()
            )
            .set(if state == current { 1.0 } else { 0.0 });
        }
    }
}

/// Leave to make one call; report its outcome with [`finish`](Permit::finish). Dropped
/// without it (the call was given up on), it counts neither way.
#[must_use = "report the call's outcome with `finish`"]
pub struct Permit {
    breaker: Breaker,
    epoch: u64,
    trial: bool,
    finished: bool,
}

impl Permit {
    /// Records the outcome: `None` for success; an error counts as a failure only when it
    /// or a source of it says the dependency is unavailable
    /// ([`transient::dependency_failure`]), anything else as a success: the dependency
    /// answered.
    pub fn finish(mut self, error: Option<&(dyn Error + 'static)>) {
        self.finished = true;
        let failed = error.and_then(transient::dependency_failure) == Some(ErrorKind::Unavailable);
        self.breaker.record(self.epoch, self.trial, failed);
    }

    /// Records a failure that the caller knows means the dependency is unavailable, whatever
    /// its error says: a Redis command that timed out, say, where a command is a lookup that
    /// only a stuck server does not answer.
    pub fn fail(mut self) {
        self.finished = true;
        self.breaker.record(self.epoch, self.trial, true);
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if !self.finished && self.trial {
            self.breaker.release(self.epoch);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io;

    use super::*;

    fn breaker() -> Breaker {
        Breaker::new(
            "test",
            BreakerConfig {
                failures: 2,
                open_ms: 1000,
            },
        )
    }

    fn refused() -> io::Error {
        io::ErrorKind::ConnectionRefused.into()
    }

    #[tokio::test(start_paused = true)]
    async fn consecutive_transient_failures_open_it_and_a_trial_closes_it() {
        let breaker = breaker();
        breaker.admit().unwrap().finish(Some(&refused()));
        assert_eq!(breaker.state(), CircuitState::Closed);
        breaker.admit().unwrap().finish(Some(&refused()));
        assert_eq!(breaker.state(), CircuitState::Open);
        let open = breaker.admit().err().unwrap();
        assert_eq!(open.retry_after, Duration::from_secs(1));

        tokio::time::advance(Duration::from_millis(1001)).await;
        assert_eq!(breaker.state(), CircuitState::HalfOpen);
        let trial = breaker.admit().unwrap();
        // One trial at a time.
        assert!(breaker.admit().is_err());
        trial.finish(None);
        assert_eq!(breaker.state(), CircuitState::Closed);
        breaker.admit().unwrap().finish(None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_trial_opens_it_again_and_a_dropped_one_lets_the_next_try() {
        let breaker = breaker();
        for _ in 0..2 {
            breaker.admit().unwrap().finish(Some(&refused()));
        }
        tokio::time::advance(Duration::from_millis(1001)).await;
        drop(breaker.admit().unwrap());
        let trial = breaker.admit().unwrap();
        trial.finish(Some(&refused()));
        assert_eq!(breaker.state(), CircuitState::Open);
    }

    #[tokio::test(start_paused = true)]
    async fn an_error_of_the_call_itself_is_no_failure_of_the_dependency() {
        let breaker = breaker();
        for _ in 0..5 {
            let denied = io::Error::from(io::ErrorKind::PermissionDenied);
            breaker.admit().unwrap().finish(Some(&denied));
        }
        assert_eq!(breaker.state(), CircuitState::Closed);
        // A success in between starts the count again.
        breaker.admit().unwrap().finish(Some(&refused()));
        breaker.admit().unwrap().finish(None);
        breaker.admit().unwrap().finish(Some(&refused()));
        assert_eq!(breaker.state(), CircuitState::Closed);
    }

    #[tokio::test(start_paused = true)]
    async fn an_outcome_of_an_earlier_period_is_not_counted() {
        let breaker = breaker();
        let before = breaker.admit().unwrap();
        for _ in 0..2 {
            breaker.admit().unwrap().finish(Some(&refused()));
        }
        tokio::time::advance(Duration::from_millis(1001)).await;
        breaker.admit().unwrap().finish(None);
        assert_eq!(breaker.state(), CircuitState::Closed);
        // Admitted while it was first closed, failed once it had been open and closed again.
        before.finish(Some(&refused()));
        breaker.admit().unwrap().finish(Some(&refused()));
        assert_eq!(breaker.state(), CircuitState::Closed);
    }

    #[tokio::test(start_paused = true)]
    async fn a_statement_that_ran_out_of_time_is_no_outage() {
        let breaker = breaker();
        for _ in 0..5 {
            let late = io::Error::from(io::ErrorKind::TimedOut);
            breaker.admit().unwrap().finish(Some(&late));
        }
        assert_eq!(breaker.state(), CircuitState::Closed);
    }

    #[test]
    fn an_open_circuit_is_unavailable_wherever_it_is_in_the_chain() {
        #[derive(Debug, thiserror::Error)]
        #[error("storage")]
        struct Storage(#[source] CircuitOpen);
        let open = CircuitOpen {
            breaker: "test",
            retry_after: Duration::ZERO,
        };
        assert_eq!(
            transient::classified(&Storage(open), ErrorKind::Internal),
            ErrorKind::Unavailable
        );
    }
}
