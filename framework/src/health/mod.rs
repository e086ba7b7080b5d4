//! Liveness, readiness and per-backend health, which the HTTP plugin serves at
//! `GET /health/live`, `/health/ready` and `/health`.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde::Serialize;

/// A unit's check: `Ok` when the backend answers, with what the unit reports beside its
/// status (a backlog, say).
pub type Check = Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Probe> + Send>> + Send + Sync>;

/// What one check of a unit found.
#[derive(Debug, Clone)]
pub struct Probe {
    /// `Ok` when up; why not, for the log.
    pub result: Result<(), String>,
    /// Figures shown beside the unit's status in `GET /health` (`{"backlog": 3}`).
    pub details: Option<serde_json::Map<String, serde_json::Value>>,
}

/// How long one unit may take to answer.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// Where the app is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Building components and starting deliveries.
    Starting,
    /// Serving.
    Ready,
    /// Draining after a shutdown signal.
    ShuttingDown,
}

struct Unit {
    name: &'static str,
    check: Check,
    /// Down only degrades the app (a cache, say); it stays ready.
    optional: bool,
}

/// The app's health: its phase and one unit per backend.
#[derive(Clone)]
pub struct Health {
    inner: Arc<Inner>,
}

struct Inner {
    phase: tokio::sync::watch::Sender<Phase>,
    units: RwLock<Vec<Unit>>,
}

impl Default for Health {
    fn default() -> Self {
        Health {
            inner: Arc::new(Inner {
                phase: tokio::sync::watch::Sender::new(Phase::Starting),
                units: RwLock::new(Vec::new()),
            }),
        }
    }
}

/// The health of one unit.
#[derive(Debug, Clone, Serialize)]
pub struct UnitStatus {
    /// `database`, `redis`, ...
    pub name: &'static str,
    /// `up` or `down`.
    pub status: &'static str,
    /// The app does without it: down, it degrades the app but leaves it ready.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub optional: bool,
    /// What the unit reports beside its status, as fields of the unit.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub details: Option<serde_json::Map<String, serde_json::Value>>,
}

/// A plain check as a [`Check`].
fn checked<F, Fut>(check: F) -> Check
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    Arc::new(move || {
        let result = check();
        Box::pin(async move {
            Probe {
                result: result.await,
                details: None,
            }
        })
    })
}

impl Report {
    /// Whether the app can serve: every required unit is up.
    pub fn serving(&self) -> bool {
        self.status != "down"
    }
}

/// The body of `GET /health`.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// `up` when every unit is up, `degraded` when only optional ones are down, else `down`.
    pub status: &'static str,
    /// Where the app is in its life.
    pub phase: Phase,
    /// Each unit.
    pub units: Vec<UnitStatus>,
}

impl Health {
    /// Adds a backend unit; a unit that is down makes the app not ready.
    pub fn add_unit<F, Fut>(&self, name: &'static str, check: F)
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        self.push(name, checked(check), false);
    }

    /// Adds a unit the app does without (a cache): down, it shows in the report and makes
    /// the app `degraded`, but the app stays ready.
    pub fn add_optional_unit<F, Fut>(&self, name: &'static str, check: F)
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        self.push(name, checked(check), true);
    }

    /// Adds a unit whose check reports figures beside its status ([`Probe::details`]);
    /// `optional` as in [`add_optional_unit`](Health::add_optional_unit).
    pub fn add_probed_unit<F, Fut>(&self, name: &'static str, optional: bool, probe: F)
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Probe> + Send + 'static,
    {
        self.push(name, Arc::new(move || Box::pin(probe())), optional);
    }

    /// Adds the unit `name`, or replaces the one of that name: a unit added twice (a client
    /// built twice under one name) is one unit, its latest check.
    fn push(&self, name: &'static str, check: Check, optional: bool) {
        let unit = Unit {
            name,
            check,
            optional,
        };
        let mut units = self.inner.units.write().unwrap_or_else(|e| e.into_inner());
        match units.iter_mut().find(|u| u.name == name) {
            Some(existing) => *existing = unit,
            None => units.push(unit),
        }
    }

    /// The current phase.
    pub fn phase(&self) -> Phase {
        *self.inner.phase.borrow()
    }

    /// Notified on every phase change.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<Phase> {
        self.inner.phase.subscribe()
    }

    /// Resolves once the app's shutdown is announced (the phase is `ShuttingDown`: at the
    /// signal, before `SHUTDOWN_DELAY_SECS`).
    pub async fn shutting_down(&self) {
        let mut phase = self.subscribe();
        // The sender lives in `self`: `wait_for` cannot fail while this waits.
        let _ = phase.wait_for(|p| *p == Phase::ShuttingDown).await;
    }

    pub(crate) fn set_phase(&self, phase: Phase) {
        self.inner.phase.send_replace(phase);
    }

    /// Checks every unit concurrently, each under a timeout.
    pub async fn report(&self) -> Report {
        let units: Vec<(&'static str, Check, bool)> = self
            .inner
            .units
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|u| (u.name, u.check.clone(), u.optional))
            .collect();
        let mut tasks = tokio::task::JoinSet::new();
        for (index, (name, check, optional)) in units.into_iter().enumerate() {
            tasks.spawn(async move {
                let probe = tokio::time::timeout(CHECK_TIMEOUT, check()).await;
                let details = probe.as_ref().ok().and_then(|p| p.details.clone());
                let up = match probe.map(|p| p.result) {
                    Ok(Ok(())) => true,
                    Ok(Err(error)) => {
                        tracing::warn!(unit = name, %error, "health check failed");
                        false
                    }
                    Err(_) => {
                        tracing::warn!(unit = name, "health check timed out");
                        false
                    }
                };
                (
                    index,
                    UnitStatus {
                        name,
                        status: if up { "up" } else { "down" },
                        optional,
                        details,
                    },
                )
            });
        }
        let mut results: Vec<(usize, UnitStatus)> = tasks.join_all().await;
        results.sort_by_key(|(index, _)| *index);
        let units: Vec<UnitStatus> = results.into_iter().map(|(_, u)| u).collect();
        let down = |optional: bool| {
            units
                .iter()
                .any(|u| u.status != "up" && u.optional == optional)
        };
        let status = match (down(false), down(true)) {
            (true, _) => "down",
            (false, true) => "degraded",
            (false, false) => "up",
        };
        Report {
            status,
            phase: self.phase(),
            units,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hanging_unit_counts_as_down() {
        let health = Health::default();
        health.set_phase(Phase::Ready);
        health.add_unit("slow", std::future::pending);
        let report = health.report().await;
        assert_eq!(report.status, "down");
    }
}
