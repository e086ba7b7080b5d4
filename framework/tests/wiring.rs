//! Wiring errors only the whole program can see: this test binary registers broken modules,
//! routes and error codes on purpose, and checks that startup reports each with the types,
//! the dependency path and file:line, before any I/O.

// The broken modules are never built, so their fields are never read.
#![allow(dead_code)]

use std::sync::Arc;

use framework::config::{ConfigSection, Settings};
use framework::registry::WiringError;
use framework::{Config, DomainError, Error, Inject, http_route, module};
use serde::Deserialize;
use validator::Validate;

const FILE: &str = "framework/tests/wiring.rs";

// A binding nobody provides.
pub trait Mailer: Send + Sync {}

#[module]
pub struct Signup {
    mailer: Arc<dyn Mailer>,
}

// Two providers of one binding.
pub trait Clock: Send + Sync {}

#[module(provides = dyn Clock)]
pub struct SystemClock;
impl Clock for SystemClock {}

#[module(provides = dyn Clock)]
pub struct FixedClock {}
impl Clock for FixedClock {}

#[module]
pub struct Scheduler {
    clock: Arc<dyn Clock>,
}

// A cycle.
#[module]
pub struct Left {
    right: Arc<Right>,
}

#[module]
pub struct Right {
    left: Arc<Left>,
}

// A binding switched on by configuration.
pub trait Feature: Send + Sync {}

fn feature_on(settings: &Settings) -> bool {
    settings.get("FEATURE_X") == Some("on")
}

#[module(provides = dyn Feature, when = feature_on)]
pub struct RealFeature;
impl Feature for RealFeature {}

#[module]
pub struct UsesFeature {
    feature: Arc<dyn Feature>,
}

// A config section.
#[derive(Deserialize, Validate)]
pub struct Limits {
    #[validate(range(min = 1))]
    max: u32,
}

impl ConfigSection for Limits {
    const PREFIX: &'static str = "LIMITS_";
}

#[module]
pub struct Limited {
    limits: Config<Limits>,
}

// Two routes the router cannot tell apart, and a route injecting a non-component.
#[http_route(GET, "/things/{id}")]
async fn by_id() {}

#[http_route(GET, "/things/{name}")]
async fn by_name() {}

pub struct NotAModule;

#[http_route(POST, "/things")]
async fn create(_thing: Inject<NotAModule>) {}

// One code claimed by two enums.
#[derive(Debug, thiserror::Error, DomainError)]
pub enum FirstError {
    #[error("first")]
    #[domain(not_found, code = "SHARED_CODE")]
    Missing,
}

#[derive(Debug, thiserror::Error, DomainError)]
pub enum SecondError {
    #[error("second")]
    #[domain(conflict, code = "SHARED_CODE")]
    Taken,
}

fn report(overrides: &[(&str, &str)]) -> (Vec<WiringError>, String) {
    match framework::testing::check(overrides) {
        Err(Error::Wiring(report)) => {
            let text = report.to_string();
            (report.errors, text)
        }
        Err(other) => panic!("expected a wiring report, got: {other}"),
        Ok(_) => panic!("the broken wiring passed the check"),
    }
}

fn find<'a>(errors: &'a [WiringError], text: &str) -> &'a WiringError {
    errors
        .iter()
        .find(|e| e.to_string().contains(text))
        .unwrap_or_else(|| panic!("no error mentions {text:?}"))
}

#[test]
fn missing_binding_names_type_field_module_and_location() {
    let (errors, _) = report(&[("LIMITS_MAX", "5")]);
    let error = find(&errors, "nothing provides `dyn Mailer`");
    assert!(matches!(error, WiringError::Missing { .. }));
    let text = error.to_string();
    assert!(
        text.contains("needed by field `mailer` of `Signup` at framework/tests/wiring.rs:"),
        "{text}"
    );
    assert!(
        text.contains("dependency path: Signup (framework/tests/wiring.rs:"),
        "{text}"
    );
    assert!(
        text.contains("help: add `#[module(provides = dyn Mailer)]`"),
        "{text}"
    );
}

#[test]
fn inactive_candidates_are_named_and_the_condition_switches_them_on() {
    let (errors, _) = report(&[("LIMITS_MAX", "5")]);
    let text = find(&errors, "nothing provides `dyn Feature`").to_string();
    assert!(
        text.contains("not active under the current config"),
        "{text}"
    );
    assert!(
        text.contains("RealFeature` at framework/tests/wiring.rs:"),
        "{text}"
    );
    assert!(text.contains("(when feature_on)"), "{text}");

    let (errors, _) = report(&[("LIMITS_MAX", "5"), ("FEATURE_X", "on")]);
    assert!(!errors.iter().any(|e| e.to_string().contains("dyn Feature")));
}

#[test]
fn ambiguous_binding_lists_every_provider() {
    let (errors, _) = report(&[("LIMITS_MAX", "5")]);
    let text = find(&errors, "ambiguous binding").to_string();
    assert!(text.contains("2 providers of `dyn Clock`"), "{text}");
    assert!(
        text.contains("needed by field `clock` of `Scheduler`"),
        "{text}"
    );
    assert!(
        text.contains("SystemClock` at framework/tests/wiring.rs:"),
        "{text}"
    );
    assert!(
        text.contains("FixedClock` at framework/tests/wiring.rs:"),
        "{text}"
    );
}

#[test]
fn cycle_shows_the_path() {
    let (errors, _) = report(&[("LIMITS_MAX", "5")]);
    let WiringError::Cycle { steps } = find(&errors, "dependency cycle") else {
        panic!("not a cycle");
    };
    assert_eq!(steps.len(), 3, "{steps:?}");
    assert_eq!(
        steps.first().map(|s| s.split(' ').next()),
        steps.last().map(|s| s.split(' ').next())
    );
    assert!(steps.iter().all(|s| s.contains(FILE)), "{steps:?}");
}

#[test]
fn routes_the_router_cannot_tell_apart_are_reported() {
    let (errors, _) = report(&[("LIMITS_MAX", "5")]);
    let text = find(&errors, "conflicting routes").to_string();
    assert!(
        text.contains("GET /things/{id} and GET /things/{name}"),
        "{text}"
    );
    assert!(
        text.contains("handler `wiring::by_id` at framework/tests/wiring.rs:"),
        "{text}"
    );
    assert!(
        text.contains("handler `wiring::by_name` at framework/tests/wiring.rs:"),
        "{text}"
    );
}

#[test]
fn injected_handler_argument_must_be_a_component() {
    let (errors, _) = report(&[("LIMITS_MAX", "5")]);
    let text = find(&errors, "nothing provides `NotAModule`").to_string();
    assert!(
        text.contains("an argument of handler `wiring::create`"),
        "{text}"
    );
    assert!(
        text.contains("dependency path: POST /things (framework/tests/wiring.rs:"),
        "{text}"
    );
    assert!(
        text.contains("help: add `#[module]` to `NotAModule`"),
        "{text}"
    );
}

#[test]
fn one_code_claimed_twice_is_reported() {
    let (errors, _) = report(&[("LIMITS_MAX", "5")]);
    let text = find(&errors, "duplicate error code `SHARED_CODE`").to_string();
    assert!(
        text.contains("FirstError::Missing` at framework/tests/wiring.rs:"),
        "{text}"
    );
    assert!(
        text.contains("SecondError::Taken` at framework/tests/wiring.rs:"),
        "{text}"
    );
}

#[test]
fn config_sections_are_validated_naming_key_and_origin() {
    let (errors, _) = report(&[("LIMITS_MAX", "0")]);
    let text = find(&errors, "config section").to_string();
    assert!(
        text.contains("invalid config key `LIMITS_MAX`=\"0\" (from an override set in code)"),
        "{text}"
    );
    assert!(
        text.contains("needed by field `limits` of `Limited`"),
        "{text}"
    );

    let (errors, _) = report(&[("LIMITS_MAX", "many")]);
    let text = find(&errors, "config section").to_string();
    assert!(text.contains("`LIMITS_MAX`=\"many\""), "{text}");
    assert!(text.contains("expected u32"), "{text}");

    let (errors, _) = report(&[]);
    let text = find(&errors, "config section").to_string();
    assert!(text.contains("missing config key `LIMITS_MAX`"), "{text}");
}

#[test]
fn every_error_is_reported_at_once() {
    let (errors, text) = report(&[("LIMITS_MAX", "5")]);
    // Mailer, Feature, NotAModule, Clock, cycle, route, code.
    assert_eq!(errors.len(), 7, "{text}");
    assert!(
        text.starts_with("wiring check failed with 7 error(s):"),
        "{text}"
    );
}

#[tokio::test]
async fn startup_refuses_before_binding_any_port() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port().to_string()
    };
    let result =
        framework::testing::TestApp::start(&[("LIMITS_MAX", "5"), ("HTTP_PORT", &port)]).await;
    assert!(matches!(result, Err(Error::Wiring(_))));
    // Nothing was bound: the port is still free.
    std::net::TcpListener::bind(format!("127.0.0.1:{port}")).expect("the port was never bound");
}
