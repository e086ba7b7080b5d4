//! A port bound to its adapter with `provides = dyn Trait`, and a module injected with both
//! the port and a concrete component.

use std::sync::{Arc, Mutex};

use framework::config::Settings;
use framework::module;

pub trait Store: Send + Sync {
    fn put(&self, value: &str);
    fn len(&self) -> usize;
}

#[module(provides = dyn Store)]
#[derive(Default)]
pub struct InMemoryStore {
    #[state]
    values: Mutex<Vec<String>>,
}

impl Store for InMemoryStore {
    fn put(&self, value: &str) {
        self.values.lock().unwrap().push(value.to_owned());
    }

    fn len(&self) -> usize {
        self.values.lock().unwrap().len()
    }
}

#[module]
pub struct Clock;

impl Clock {
    fn tick(&self) -> u64 {
        7
    }
}

#[module]
pub struct Notes {
    store: Arc<dyn Store>,
    clock: Arc<Clock>,
}

impl Notes {
    fn add(&self, note: &str) -> usize {
        self.store.put(&format!("{} {note}", self.clock.tick()));
        self.store.len()
    }
}

fn main() {
    // The structs are left as written: they can still be built by hand.
    let notes = Notes {
        store: Arc::new(InMemoryStore::default()),
        clock: Arc::new(Clock),
    };
    assert_eq!(notes.add("first"), 1);

    // And the registrations form a valid graph.
    let app = framework::App::from_settings(Settings::from_pairs([("DATABASE_URL", "")]))
        .expect("settings are valid");
    app.check().expect("the wiring is valid");
    let wiring = app.wiring();
    assert!(wiring.contains("InMemoryStore"), "{wiring}");
    assert!(wiring.contains("provides dyn Store"), "{wiring}");
}
