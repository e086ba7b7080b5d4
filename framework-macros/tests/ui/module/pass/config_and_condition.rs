//! A `Config<T>` field, a module that provides two ports, and two adapters of one port
//! selected by `when = predicate`.

use std::sync::Arc;

use framework::config::{ConfigSection, Settings};
use framework::{Config, module};

#[derive(serde::Deserialize, validator::Validate)]
pub struct GreetingConfig {
    #[serde(default = "default_greeting")]
    #[validate(length(min = 1))]
    pub greeting: String,
}

fn default_greeting() -> String {
    "hello".to_owned()
}

impl ConfigSection for GreetingConfig {
    const PREFIX: &'static str = "GREETER_";
}

pub trait Greeter: Send + Sync {
    fn greet(&self, name: &str) -> String;
}

pub trait Named: Send + Sync {
    fn name(&self) -> &'static str;
}

fn loud(settings: &Settings) -> bool {
    settings.get("GREETER_LOUD") == Some("true")
}

fn quiet(settings: &Settings) -> bool {
    !loud(settings)
}

#[module(provides = dyn Greeter, provides = dyn Named, when = quiet)]
pub struct PlainGreeter {
    config: Config<GreetingConfig>,
}

impl Greeter for PlainGreeter {
    fn greet(&self, name: &str) -> String {
        format!("{} {name}", self.config.greeting)
    }
}

impl Named for PlainGreeter {
    fn name(&self) -> &'static str {
        "plain"
    }
}

#[module(provides = dyn Greeter, when = self::loud)]
pub struct LoudGreeter {
    config: Config<GreetingConfig>,
}

impl Greeter for LoudGreeter {
    fn greet(&self, name: &str) -> String {
        format!("{} {name}!", self.config.greeting.to_uppercase())
    }
}

#[module]
pub struct Welcome {
    greeter: Arc<dyn Greeter>,
}

impl Welcome {
    fn welcome(&self) -> String {
        self.greeter.greet("world")
    }
}

struct Fixed;

impl Greeter for Fixed {
    fn greet(&self, name: &str) -> String {
        format!("hi {name}")
    }
}

fn main() {
    for loud in ["false", "true"] {
        let settings = Settings::from_pairs([("DATABASE_URL", ""), ("GREETER_LOUD", loud)]);
        let app = framework::App::from_settings(settings).expect("settings are valid");
        app.check().expect("exactly one greeter is active");
    }

    let welcome = Welcome {
        greeter: Arc::new(Fixed),
    };
    assert_eq!(welcome.welcome(), "hi world");
}
