//! The health endpoints: `GET /health/live`, `/health/ready` and `/health`, outside the base
//! path; 200 while the app serves, 503 with the report otherwise.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};

use crate::health::{Health, Phase, Report};

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
}
