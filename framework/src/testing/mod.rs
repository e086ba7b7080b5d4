//! Helpers for tests that boot the real app: every registration of the test binary, real
//! config layering (with `APP_ENV=test` unless overridden), an ephemeral port.

use std::net::SocketAddr;

use crate::app::Checked;
use crate::app::{App, Result, RunningApp};
use crate::config::Settings;

/// A running app on an ephemeral port.
pub struct TestApp {
    running: RunningApp,
}

impl TestApp {
    /// Starts the app with `overrides` applied over the env files and the environment.
    pub async fn start(overrides: &[(&str, &str)]) -> Result<TestApp> {
        let app = app(overrides)?;
        crate::telemetry::init_for_tests(app.config(), app.tracing_layers());
        Ok(TestApp {
            running: app.start().await?,
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.running.http_addr()
    }

    /// `http://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.running.http_addr())
    }

    /// `http://127.0.0.1:<grpc port>`, when the program has a `#[grpc_service]`.
    pub fn grpc_url(&self) -> Option<String> {
        self.running
            .grpc_addr()
            .map(|addr| format!("http://{addr}"))
    }

    /// The running app.
    pub fn running(&self) -> &RunningApp {
        &self.running
    }

    /// Shuts the app down gracefully.
    pub async fn shutdown(self) -> Result<()> {
        self.running.shutdown().await
    }
}

/// What `<service> check` does, with `overrides`.
pub fn check(overrides: &[(&str, &str)]) -> Result<Checked> {
    app(overrides)?.check()
}

fn app(overrides: &[(&str, &str)]) -> Result<App> {
    let defaults = [
        ("APP_ENV", "test"),
        ("HTTP_HOST", "127.0.0.1"),
        ("HTTP_PORT", "0"),
    ];
    let settings = Settings::load_with(defaults.iter().chain(overrides).map(|&(k, v)| (k, v)))?;
    App::from_settings(settings)
}
