//! The HTTP-only example (`examples/notes`), built as a user would build it: `cargo build -p
//! framework --example notes --no-default-features --features http,sqlite`; then started, and
//! it serves its routes, answers problem+json, lists only HTTP in `wiring`, and stops on
//! SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// The example's executable, built with only the `http` and `sqlite` features.
fn build() -> String {
    let output = Command::new(env!("CARGO"))
        .args([
            "build",
            "-p",
            "framework",
            "--example",
            "notes",
            "--no-default-features",
            "--features",
            "http,sqlite",
            "--message-format=json",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stderr(Stdio::inherit())
        .output()
        .expect("cargo runs");
    assert!(
        output.status.success(),
        "the HTTP-only example does not build"
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|message| message["target"]["name"] == "notes")
        .find_map(|message| message["executable"].as_str().map(str::to_owned))
        .expect("cargo names the example's executable")
}

/// `program` with the example's own config: no backend named in this process's environment
/// (a developer's, CI's) reaches it.
fn command(program: &str) -> Command {
    let mut command = Command::new(program);
    for key in [
        "APP_ENV",
        "DATABASE_URL",
        "REDIS_URL",
        "KAFKA_BROKERS",
        "SENTRY_DSN",
    ] {
        command.env_remove(key);
    }
    command
}

/// The example, on a port the system picks.
fn start(executable: &str) -> (Child, String) {
    let mut child = command(executable)
        .env("HTTP_PORT", "0")
        .env("LOG_FORMAT", "json")
        .stdout(Stdio::piped())
        .spawn()
        .expect("the example starts");
    let stdout = child.stdout.take().expect("piped");
    let (found, address) = std::sync::mpsc::channel();
    // The bound address is in the log; the rest of the log is echoed for a failing run.
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            println!("{line}");
            if let Ok(log) = serde_json::from_str::<Value>(&line)
                && log["message"] == "HTTP listening"
                && let Some(address) = log["address"].as_str()
            {
                let _ = found.send(address.to_owned());
            }
        }
    });
    let address = address
        .recv_timeout(Duration::from_secs(30))
        .expect("the example logs its address");
    (child, format!("http://{address}"))
}

#[tokio::test]
async fn the_http_only_example_serves_its_routes() {
    let executable = build();
    let (mut child, base) = start(&executable);
    let client = reqwest::Client::new();

    let ready = Instant::now();
    loop {
        let status = client.get(format!("{base}/health/ready")).send().await;
        if status.is_ok_and(|r| r.status() == 200) {
            break;
        }
        assert!(ready.elapsed() < Duration::from_secs(30), "never ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let created = client
        .post(format!("{base}/notes"))
        .json(&json!({ "text": "hello" }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let note: Value = created.json().await.unwrap();
    assert_eq!(note["text"], "hello");

    let got = client
        .get(format!("{base}/notes/{}", note["id"]))
        .send()
        .await
        .unwrap();
    assert_eq!(got.status(), 200);
    assert_eq!(got.json::<Value>().await.unwrap(), note);

    let missing = client
        .get(format!("{base}/notes/999"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    assert_eq!(
        missing.headers()["content-type"],
        "application/problem+json"
    );
    assert_eq!(
        missing.json::<Value>().await.unwrap()["code"],
        "NOTE_NOT_FOUND"
    );

    let blank = client
        .post(format!("{base}/notes"))
        .json(&json!({ "text": " " }))
        .send()
        .await
        .unwrap();
    assert_eq!(blank.status(), 400);

    // Built without the metrics and openapi features: neither endpoint exists.
    for path in ["/metrics", "/openapi.json"] {
        let response = client.get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(response.status(), 404, "{path}");
    }

    let stopped = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(stopped.success());
    let exit = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            exit.elapsed() < Duration::from_secs(10),
            "no exit after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(status.success(), "{status}");

    let wiring = command(&executable).arg("wiring").output().unwrap();
    assert!(wiring.status.success());
    let wiring = String::from_utf8_lossy(&wiring.stdout);
    assert!(
        wiring.starts_with("service notes (APP_ENV=\"\", database sqlite::memory:)"),
        "{wiring}"
    );
    assert!(wiring.contains("GET     /notes/{id}"), "{wiring}");
    for absent in ["gRPC", "kafka", "cron", "jobs"] {
        assert!(!wiring.contains(absent), "{absent} in {wiring}");
    }

    // Config that asks for a backend this build does not have is an error naming the
    // feature, at `check` as at startup; the in-process cache needs no feature.
    for (key, value, feature) in [
        ("KAFKA_BROKERS", "127.0.0.1:9092", "`kafka`"),
        ("KAFKA_BROKERS", "memory", "`kafka`"),
        ("REDIS_URL", "redis://127.0.0.1:6379", "`redis`"),
        ("SENTRY_DSN", "https://key@127.0.0.1/1", "`sentry`"),
        (
            "DATABASE_URL",
            "postgres://app@127.0.0.1/notes",
            "`postgres`",
        ),
    ] {
        for command in ["check", "serve"] {
            // Bounded, should it start after all.
            let output = self::command("timeout")
                .args(["30", &executable, command])
                .env(key, value)
                .env("HTTP_PORT", "0")
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(!output.status.success(), "{command} with {key}={value}");
            assert!(
                stderr.contains(&format!("`{key}`")) && stderr.contains(feature),
                "{command} with {key}={value}: {stderr}"
            );
        }
    }
    let memory = command(&executable)
        .arg("check")
        .env("REDIS_URL", "memory")
        .output()
        .unwrap();
    assert!(memory.status.success(), "{memory:?}");
}
