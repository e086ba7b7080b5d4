//! Single flight: concurrent misses of one key share one load.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// A load in progress: its lock is held by whoever loads, and holds the encoded value once
/// loaded, for those who waited.
type Flight = Arc<tokio::sync::Mutex<Option<Vec<u8>>>>;

/// The loads in progress, by key.
#[derive(Default)]
pub(super) struct Flights(Mutex<HashMap<String, Flight>>);

impl Flights {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Flight>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Joins the flight of `key`, starting one if there is none.
    pub(super) fn join<'a>(&'a self, key: &'a str) -> Ticket<'a> {
        let flight = self.map().entry(key.to_owned()).or_default().clone();
        Ticket {
            flights: self,
            key,
            flight,
        }
    }
}

/// A place in a flight; the last one to leave (or be dropped) ends the flight.
pub(super) struct Ticket<'a> {
    flights: &'a Flights,
    key: &'a str,
    flight: Flight,
}

impl std::ops::Deref for Ticket<'_> {
    type Target = tokio::sync::Mutex<Option<Vec<u8>>>;

    fn deref(&self) -> &Self::Target {
        &self.flight
    }
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        let mut map = self.flights.map();
        // Joining clones under this lock, so the count cannot grow meanwhile: 2 is the map's
        // reference and ours, i.e. nobody else is waiting.
        if map
            .get(self.key)
            .is_some_and(|f| Arc::ptr_eq(f, &self.flight) && Arc::strong_count(f) == 2)
        {
            map.remove(self.key);
        }
    }
}
