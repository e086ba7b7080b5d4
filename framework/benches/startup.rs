//! Startup cost for 1,000 routes across 200 modules: collection (config, the core's records and
//! every plugin's), the wiring check, and building every component plus the router (and
//! binding the port).
//!
//! Run with `cargo bench -p framework --bench startup`.

#![allow(dead_code, missing_docs)]

use std::time::{Duration, Instant};

use framework::App;
use framework::config::Settings;

include!(concat!(env!("OUT_DIR"), "/startup_modules.rs"));

fn settings() -> Settings {
    Settings::from_pairs([
        ("DATABASE_URL", ""),
        ("HTTP_PORT", "0"),
        ("LOG_LEVEL", "error"),
    ])
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

#[tokio::main]
async fn main() {
    // `cargo bench` passes `--bench`; under `cargo test` this is a short smoke run.
    let measuring = std::env::args().any(|a| a == "--bench");
    let runs = if measuring { 30 } else { 2 };
    let mut collect = Vec::new();
    let mut validate = Vec::new();
    let mut start = Vec::new();
    for _ in 0..runs {
        let t = Instant::now();
        let app = App::from_settings(settings()).expect("config");
        collect.push(t.elapsed());

        let t = Instant::now();
        app.check().expect("the generated wiring is valid");
        validate.push(t.elapsed());
        let routes = app
            .wiring()
            .lines()
            .filter(|l| l.starts_with("  GET     /m"))
            .count();
        assert_eq!(routes, 1000, "every route registered");

        // What `serve` does before accepting: config, collection, validation, building the
        // 200 singletons, the router with its layers, and the bind.
        let t = Instant::now();
        let app = App::from_settings(settings())
            .expect("config")
            .start()
            .await
            .expect("start");
        start.push(t.elapsed());
        app.shutdown().await.expect("shutdown");
    }
    let (collect, validate, start) = (median(collect), median(validate), median(start));
    println!("startup, 200 modules / 1000 routes, median of {runs} runs:");
    println!("  collection (config, records) {collect:>10.3?}");
    println!("  graph validation           {validate:>10.3?}");
    println!("  full start (config, collection, validation, build, router, bind) {start:>10.3?}");
    if measuring {
        let verdict = if start < Duration::from_millis(50) {
            "met"
        } else {
            "NOT met"
        };
        println!("  target: under 50 ms -> {verdict}");
    } else {
        println!("  (smoke run of a debug build: use `cargo bench` for figures)");
    }
}
