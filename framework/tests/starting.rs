//! While components are being built the port is already open: readiness answers 503
//! `starting`, other requests a 503 problem, and each connection is closed so clients reach
//! the real router once it is ready.

use std::time::{Duration, Instant};

use framework::testing::TestApp;
use framework::{Inject, http_route, module};

/// Takes a while to construct, like a module warming a cache.
#[derive(Debug)]
pub struct SlowToBuild;

impl Default for SlowToBuild {
    fn default() -> Self {
        std::thread::sleep(Duration::from_millis(1500));
        SlowToBuild
    }
}

#[module]
pub struct Warm {
    #[state]
    _slow: SlowToBuild,
}

#[http_route(GET, "/warm")]
async fn warm(_warm: Inject<Warm>) -> &'static str {
    "warm"
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_is_503_while_components_are_built() {
    let port = free_port();
    let url = move |path: &str| format!("http://127.0.0.1:{port}{path}");

    // The probe runs on a worker while the test's own thread starts the app, as `main` does.
    let probe = tokio::spawn(async move {
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(1);
        let ready = loop {
            match client.get(url("/health/ready")).send().await {
                Ok(response) => break response,
                Err(_) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(20)).await
                }
                Err(error) => panic!("the port did not open while starting: {error}"),
            }
        };
        assert_eq!(ready.status(), 503);
        assert_eq!(ready.headers()["connection"], "close");
        let body: serde_json::Value = ready.json().await.unwrap();
        assert_eq!(body["phase"], "starting");
        assert_eq!(
            client
                .get(url("/health/live"))
                .send()
                .await
                .unwrap()
                .status(),
            200
        );

        let early = client.get(url("/api/v1/warm")).send().await.unwrap();
        assert_eq!(early.status(), 503);
        assert!(early.headers().contains_key("x-request-id"));
        let body: serde_json::Value = early.json().await.unwrap();
        assert_eq!(body["code"], "SERVICE_STARTING");
        Instant::now()
    });

    let port_text = port.to_string();
    let app = TestApp::start(&[("DATABASE_URL", ""), ("HTTP_PORT", port_text.as_str())])
        .await
        .expect("the app starts");
    let started = Instant::now();
    let probed = probe.await.expect("the probe saw the starting phase");
    assert!(
        probed < started,
        "the probe finished while the app was still starting"
    );

    let client = reqwest::Client::new();
    assert_eq!(
        client
            .get(url("/health/ready"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let warm = client.get(url("/api/v1/warm")).send().await.unwrap();
    assert_eq!(warm.status(), 200);
    assert_eq!(warm.text().await.unwrap(), "warm");
    app.shutdown().await.unwrap();
}
