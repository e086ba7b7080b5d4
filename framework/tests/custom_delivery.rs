//! Proof of the plugin seam: a whole delivery written here with the public API only, as a
//! user's crate would, with no change to the framework. It serves a line protocol on
//! 127.0.0.1 (`<name>\n` in, `<greeting>, <name> (#n)\n` out) through an injected component,
//! adds a root and a diagnostic to `check`, a section to `wiring`, a unit to health, and
//! drains on shutdown: a line being answered is answered, and no new connection is taken.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use framework::config::{ConfigError, Settings};
use framework::di::{Dependency, Key};
use framework::plugin::{Check, Plugin, PluginRecord, Root, Stage, Wiring};
use framework::registry::{BuildError, Location, Needer, WiringError};
use framework::testing::TestApp;
use framework::{App, Error, module};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// The component the delivery's handler uses: a `#[module]` like any other.
#[module]
pub struct Greeter {
    #[state]
    greeted: AtomicU64,
}

impl Greeter {
    fn greet(&self, greeting: &str, name: &str) -> String {
        let n = self.greeted.fetch_add(1, Ordering::SeqCst) + 1;
        format!("{greeting}, {name} (#{n})\n")
    }
}

framework::plugin::submit! {
    PluginRecord {
        name: "lines",
        order: 500,
        create: Lines::create,
        location: Location { file: file!(), line: line!() },
    }
}

/// The delivery: `LINES_GREETING` (default `hello`) is its config key.
struct Lines {
    greeting: String,
    listener: Option<TcpListener>,
    accepting: Option<JoinHandle<()>>,
}

impl Lines {
    fn create(settings: &Settings) -> Result<Box<dyn Plugin>, ConfigError> {
        Ok(Box::new(Lines {
            greeting: settings.get("LINES_GREETING").unwrap_or("hello").to_owned(),
            listener: None,
            accepting: None,
        }))
    }
}

#[framework::async_trait]
impl Plugin for Lines {
    fn check(&self, check: &mut Check<'_>) {
        let location = Location {
            file: file!(),
            line: line!(),
        };
        check.root(Root {
            label: format!("lines delivery ({location})"),
            needer: Needer {
                description: "the lines delivery".into(),
                location,
            },
            dependencies: vec![Dependency::Component(Key::of::<Greeter>())],
        });
        if self.greeting.trim().is_empty() {
            let error = check
                .settings()
                .invalid("LINES_GREETING", "must not be blank");
            check.error(WiringError::HandlerConfig {
                kind: "delivery",
                handler: "lines",
                location,
                error,
            });
        }
    }

    fn describe(&self, wiring: &mut Wiring<'_>) {
        let greeter = wiring.bound(&Key::of::<Greeter>()).unwrap_or("(unbound)");
        let _ = writeln!(
            wiring,
            "\nlines (greeting {:?}, with {greeter})",
            self.greeting
        );
    }

    fn summary(&self) -> Option<String> {
        Some("1 line delivery".into())
    }

    async fn prepare(&mut self, stage: &mut Stage<'_>) -> Result<(), BuildError> {
        let address = SocketAddr::from(([127, 0, 0, 1], 0));
        let (listener, bound) = framework::plugin::bind(address, "lines", "none").await?;
        stage.listening("lines", bound);
        stage.health().add_unit("lines", || async { Ok(()) });
        self.listener = Some(listener);
        Ok(())
    }

    async fn start(&mut self, stage: &mut Stage<'_>) -> Result<(), BuildError> {
        let greeter = stage
            .component::<Greeter>()
            .ok_or("the wiring check guarantees a Greeter")?;
        let listener = self.listener.take().ok_or("prepared before started")?;
        let (shutdown, tracker) = (stage.shutdown().clone(), stage.tracker().clone());
        let greeting = self.greeting.clone();
        self.accepting = Some(tokio::spawn(async move {
            loop {
                let (stream, _) = tokio::select! {
                    accepted = listener.accept() => match accepted {
                        Ok(accepted) => accepted,
                        Err(_) => continue,
                    },
                    () = shutdown.cancelled() => return,
                };
                let (greeter, greeting) = (greeter.clone(), greeting.clone());
                // On the app's tracker: shutdown waits for the line in hand.
                tracker.spawn(async move {
                    let (read, mut write) = stream.into_split();
                    let mut line = String::new();
                    if BufReader::new(read).read_line(&mut line).await.is_err() {
                        return;
                    }
                    let name = match line.trim().strip_prefix("slow ") {
                        Some(name) => {
                            tokio::time::sleep(Duration::from_millis(500)).await;
                            name
                        }
                        None => line.trim(),
                    };
                    let _ = write
                        .write_all(greeter.greet(&greeting, name).as_bytes())
                        .await;
                });
            }
        }));
        Ok(())
    }

    async fn drain(&mut self) {
        if let Some(accepting) = self.accepting.take() {
            let _ = accepting.await;
        }
    }
}

async fn ask(address: SocketAddr, line: &str) -> String {
    let mut stream = TcpStream::connect(address).await.expect("connect");
    stream.write_all(line.as_bytes()).await.expect("send");
    let mut answer = String::new();
    BufReader::new(stream)
        .read_line(&mut answer)
        .await
        .expect("answer");
    answer
}

fn overrides(greeting: &'static str) -> [(&'static str, &'static str); 3] {
    [
        ("LINES_GREETING", greeting),
        ("DATABASE_URL", ""),
        ("HTTP_PORT", "0"),
    ]
}

#[tokio::test]
async fn a_custom_delivery_serves_through_an_injected_component_and_shows_in_health() {
    let app = TestApp::start(&overrides("hi")).await.expect("start");
    let lines = app.running().listener("lines").expect("bound in prepare");
    assert!(lines.ip().is_loopback());
    assert_eq!(ask(lines, "ada\n").await, "hi, ada (#1)\n");
    assert_eq!(ask(lines, "grace\n").await, "hi, grace (#2)\n");

    let health: serde_json::Value = reqwest::get(app.url("/health"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let units = health["units"].as_array().expect("units");
    assert!(
        units
            .iter()
            .any(|u| u["name"] == "lines" && u["status"] == "up"),
        "{health}"
    );
    app.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn a_custom_delivery_adds_roots_diagnostics_and_wiring_lines() {
    let app = App::from_settings(Settings::from_pairs(overrides("hi"))).expect("config");
    let wiring = app.wiring();
    assert!(
        wiring.contains("\nlines (greeting \"hi\", with Greeter)\n"),
        "{wiring}"
    );
    let checked = app.check().expect("sound wiring");
    assert!(
        checked.plugins.contains(&"1 line delivery".to_owned()),
        "{checked}"
    );
    assert!(checked.components >= 1, "{checked}");

    let Err(Error::Wiring(report)) = framework::testing::check(&overrides(" ")) else {
        panic!("a blank greeting passed the check");
    };
    let text = report.to_string();
    assert!(
        text.contains("delivery `lines` at framework/tests/custom_delivery.rs:"),
        "{text}"
    );
    assert!(text.contains("`LINES_GREETING`"), "{text}");
    assert!(text.contains("must not be blank"), "{text}");
}

#[tokio::test]
async fn a_custom_delivery_drains_the_line_in_hand_and_takes_no_new_one() {
    let app = TestApp::start(&overrides("hello")).await.expect("start");
    let lines = app.running().listener("lines").expect("bound");
    let greeter = app.running().component::<Greeter>().expect("built");
    let slow = tokio::spawn(ask(lines, "slow ada\n"));
    // The line is being answered (500 ms) when shutdown starts.
    tokio::time::sleep(Duration::from_millis(100)).await;
    app.shutdown().await.expect("shutdown");
    // Shutdown returned only once the line in hand was answered.
    assert_eq!(greeter.greeted.load(Ordering::SeqCst), 1);
    assert_eq!(slow.await.unwrap(), "hello, ada (#1)\n");
    assert!(
        TcpStream::connect(lines).await.is_err(),
        "the listener is closed"
    );
}
