//! Liveness, readiness and per-backend health: `GET /health/live`, `/health/ready`, `/health`.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

/// A unit's check: `Ok` when the backend answers.
pub type Check =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>> + Send + Sync>;

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
        self.push(name, Arc::new(move || Box::pin(check())), false);
    }

    /// Adds a unit the app does without (a cache): down, it shows in the report and makes
    /// the app `degraded`, but the app stays ready.
    pub fn add_optional_unit<F, Fut>(&self, name: &'static str, check: F)
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        self.push(name, Arc::new(move || Box::pin(check())), true);
    }

    fn push(&self, name: &'static str, check: Check, optional: bool) {
        self.inner
            .units
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .push(Unit {
                name,
                check,
                optional,
            });
    }

    /// The current phase.
    pub fn phase(&self) -> Phase {
        *self.inner.phase.borrow()
    }

    /// Notified on every phase change.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<Phase> {
        self.inner.phase.subscribe()
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
                let up = match tokio::time::timeout(CHECK_TIMEOUT, check()).await {
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

pub(crate) fn router<S: Clone + Send + Sync + 'static>(health: Health) -> Router<S> {
    Router::new()
        .route(
            "/health/live",
            get(|| async { Json(serde_json::json!({ "status": "up" })) }),
        )
        .route("/health/ready", get(ready))
        .route("/health", get(full))
        .with_state(health)
}

async fn ready(State(health): State<Health>) -> impl IntoResponse {
    let phase = health.phase();
    if phase != Phase::Ready {
        let body = serde_json::json!({ "status": "down", "phase": phase });
        return (StatusCode::SERVICE_UNAVAILABLE, Json(body));
    }
    let report = health.report().await;
    (status_of(&report), Json(serde_json::json!(report)))
}

async fn full(State(health): State<Health>) -> impl IntoResponse {
    let report = health.report().await;
    (status_of(&report), Json(report))
}

fn status_of(report: &Report) -> StatusCode {
    if report.serving() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    }
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    use super::*;

    async fn get(health: &Health, path: &str) -> (StatusCode, serde_json::Value) {
        let response = router::<()>(health.clone())
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        (status, serde_json::from_slice(&body).unwrap())
    }

    #[tokio::test]
    async fn readiness_follows_the_phase_and_the_units() {
        let health = Health::default();
        let (status, body) = get(&health, "/health/ready").await;
        assert_eq!(
            (status, body["phase"].as_str()),
            (StatusCode::SERVICE_UNAVAILABLE, Some("starting"))
        );
        assert_eq!(get(&health, "/health/live").await.0, StatusCode::OK);

        health.set_phase(Phase::Ready);
        health.add_unit("database", || async { Ok(()) });
        assert_eq!(get(&health, "/health/ready").await.0, StatusCode::OK);

        health.add_unit("cache", || async { Err("connection refused".to_owned()) });
        let (status, body) = get(&health, "/health").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            body,
            serde_json::json!({
                "status": "down",
                "phase": "ready",
                "units": [{ "name": "database", "status": "up" }, { "name": "cache", "status": "down" }]
            })
        );
        assert_eq!(
            get(&health, "/health/ready").await.0,
            StatusCode::SERVICE_UNAVAILABLE
        );

        health.set_phase(Phase::ShuttingDown);
        let (status, body) = get(&health, "/health/ready").await;
        assert_eq!(
            (status, body["phase"].as_str()),
            (StatusCode::SERVICE_UNAVAILABLE, Some("shutting_down"))
        );
    }

    #[tokio::test]
    async fn an_optional_unit_down_degrades_but_keeps_the_app_ready() {
        let health = Health::default();
        health.set_phase(Phase::Ready);
        health.add_unit("database", || async { Ok(()) });
        health.add_optional_unit("redis", || async { Err("connection refused".to_owned()) });
        let (status, body) = get(&health, "/health").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            body,
            serde_json::json!({
                "status": "degraded",
                "phase": "ready",
                "units": [
                    { "name": "database", "status": "up" },
                    { "name": "redis", "status": "down", "optional": true }
                ]
            })
        );
        assert_eq!(get(&health, "/health/ready").await.0, StatusCode::OK);
    }

    #[tokio::test]
    async fn a_hanging_unit_counts_as_down() {
        let health = Health::default();
        health.set_phase(Phase::Ready);
        health.add_unit("slow", std::future::pending);
        let report = health.report().await;
        assert_eq!(report.status, "down");
    }
}
