//! What the `kafka` health unit reports besides the broker's answer: consumers that are not
//! running (their task died and waits for its restart) and partitions whose dead letters
//! cannot be written.

use std::collections::BTreeMap;
use std::sync::Mutex;

/// Open problems, each under a key naming its source (a consumer, a partition).
#[derive(Debug, Default)]
pub struct KafkaStatus {
    problems: Mutex<BTreeMap<String, String>>,
}

impl KafkaStatus {
    fn problems(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, String>> {
        self.problems.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records (or updates) the problem of `source`.
    pub(crate) fn set(&self, source: &str, problem: String) {
        self.problems().insert(source.to_owned(), problem);
    }

    /// `source` has no problem any more.
    pub(crate) fn clear(&self, source: &str) {
        let mut problems = self.problems();
        if !problems.is_empty() {
            problems.remove(source);
        }
    }

    /// `Err` with every open problem, one per line, or `Ok` when there are none.
    pub fn check(&self) -> Result<(), String> {
        let problems = self.problems();
        if problems.is_empty() {
            return Ok(());
        }
        Err(problems
            .iter()
            .map(|(source, problem)| format!("{source}: {problem}"))
            .collect::<Vec<_>>()
            .join("\n"))
    }
}
