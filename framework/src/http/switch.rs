//! Serving while the app is still being built: connections accepted before the router is
//! ready get the "starting" router (health answers, with readiness 503; anything else is a 503
//! problem with `connection: close`). Once the real router is set, new connections get it.
//! The choice is made per connection, so requests pay nothing for it.

use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;

use super::HttpConfig;
use super::Problem;
use crate::health::Health;

/// The router each new connection gets (see [`super::serve`]).
#[derive(Clone)]
pub(crate) struct Switch {
    ready: Arc<OnceLock<Router>>,
    starting: Router,
}

impl Switch {
    pub(crate) fn new(config: &HttpConfig, health: Health) -> Switch {
        let starting = super::health::router(health).fallback(|| async {
            Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "SERVICE_STARTING",
                "The service is starting.",
            )
        });
        // Close each connection after its answer, so a keep-alive client reconnects and
        // reaches the real router once it is ready.
        let starting = super::apply_standard_layers(starting, config).layer(
            axum::middleware::map_response(|mut response: Response| async move {
                response
                    .headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
                response
            }),
        );
        Switch {
            ready: Arc::new(OnceLock::new()),
            starting: starting.with_state(()),
        }
    }

    /// The router for a new connection.
    pub(crate) fn router(&self) -> Router {
        self.ready.get().unwrap_or(&self.starting).clone()
    }

    /// From now on, new connections are served by `router`.
    pub(crate) fn set(&self, router: Router) {
        // `with_state(())` turns each method router into a finished route (what `axum::serve`
        // does for a plain `Router`); without it every request pays for the conversion.
        let _ = self.ready.set(router.with_state(()));
    }
}
