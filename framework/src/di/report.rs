//! Wiring errors: what only the whole program can see, reported before any I/O with the
//! types, the dependency path and the file:line of each registration involved.

use std::collections::BTreeMap;
use std::fmt;

use super::{Key, Location};
use crate::config::ConfigError;

/// Who needs a dependency.
#[derive(Debug, Clone)]
pub struct Needer {
    /// "field `repo` of `ArticleService`".
    pub description: String,
    /// Where that is declared.
    pub location: Location,
}

impl fmt::Display for Needer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at {}", self.description, self.location)
    }
}

/// A provider named in a report.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// The provider's type path.
    pub name: &'static str,
    /// Where it is declared.
    pub location: Location,
    /// Its `when = ...` predicate, if any.
    pub condition: Option<&'static str>,
    /// What to set for its predicate to hold, when its provider says.
    pub hint: Option<&'static str>,
}

/// One wiring problem.
#[derive(Debug)]
pub enum WiringError {
    /// Nothing active provides a needed component.
    Missing {
        /// The needed type.
        key: Key,
        /// Who needs it.
        needed_by: Needer,
        /// From a root (module or route) down to the missing type.
        path: Vec<String>,
        /// Providers that exist but whose `when` predicate is false.
        inactive: Vec<Candidate>,
    },
    /// More than one active provider for one component.
    Ambiguous {
        /// The needed type.
        key: Key,
        /// Who needs it.
        needed_by: Needer,
        /// The providers.
        candidates: Vec<Candidate>,
    },
    /// Components that need each other.
    Cycle {
        /// The cycle, first component repeated at the end.
        steps: Vec<String>,
    },
    /// A config section needed by a component is missing or invalid.
    Config {
        /// The section's type.
        section: &'static str,
        /// Its key prefix.
        prefix: &'static str,
        /// Who needs it.
        needed_by: Needer,
        /// What is wrong.
        error: ConfigError,
    },
    /// Registrations that cannot all be served: two handlers for one route, two variants
    /// claiming one error code, two consumers of one topic in one group.
    Clash {
        /// What clashes: "conflicting routes: GET /a and GET /a".
        headline: String,
        /// Each registration involved, with where it is written.
        items: Vec<String>,
    },
    /// A handler's registration names a config key that is not set or not valid (a
    /// consumer's topic, a job's schedule).
    HandlerConfig {
        /// `"consumer"`, `"job"`, ...
        kind: &'static str,
        /// The handler's path.
        handler: &'static str,
        /// Where it is written.
        location: Location,
        /// What is wrong.
        error: ConfigError,
    },
}

impl fmt::Display for WiringError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WiringError::Missing {
                key,
                needed_by,
                path,
                inactive,
            } => {
                writeln!(
                    f,
                    "missing binding: nothing provides `{}`",
                    key.short_name()
                )?;
                writeln!(f, "  needed by {needed_by}")?;
                writeln!(f, "  dependency path: {}", path.join(" -> "))?;
                for c in inactive {
                    writeln!(
                        f,
                        "  not active under the current config: `{}` at {} (when {})",
                        c.name,
                        c.location,
                        c.condition.unwrap_or("?")
                    )?;
                }
                let mut settings: Vec<&str> = inactive.iter().filter_map(|c| c.hint).collect();
                settings.dedup();
                if !settings.is_empty() {
                    write!(f, "  help: set {}", settings.join(", or "))
                } else if key.type_name.starts_with("dyn ") {
                    write!(
                        f,
                        "  help: add `#[module(provides = {})]` to a struct that implements it",
                        key.short_name()
                    )
                } else {
                    write!(f, "  help: add `#[module]` to `{}`", key.short_name())
                }
            }
            WiringError::Ambiguous {
                key,
                needed_by,
                candidates,
            } => {
                writeln!(
                    f,
                    "ambiguous binding: {} providers of `{}`",
                    candidates.len(),
                    key.short_name()
                )?;
                writeln!(f, "  needed by {needed_by}")?;
                for c in candidates {
                    writeln!(f, "  provided by `{}` at {}", c.name, c.location)?;
                }
                write!(
                    f,
                    "  help: keep one, or give each a `when = ...` predicate so exactly one is active"
                )
            }
            WiringError::Cycle { steps } => {
                writeln!(f, "dependency cycle: {}", steps.join(" -> "))?;
                write!(
                    f,
                    "  help: break the cycle, for example by moving the shared part into its own module"
                )
            }
            WiringError::Config {
                section,
                prefix,
                needed_by,
                error,
            } => {
                writeln!(f, "config section `{section}` (keys `{prefix}*`): {error}")?;
                write!(f, "  needed by {needed_by}")
            }
            WiringError::Clash { headline, items } => {
                writeln!(f, "{headline}")?;
                list(f, items.iter().cloned())
            }
            WiringError::HandlerConfig {
                kind,
                handler,
                location,
                error,
            } => write!(f, "{kind} `{handler}` at {location}: {error}"),
        }
    }
}

fn list(f: &mut fmt::Formatter<'_>, items: impl Iterator<Item = String>) -> fmt::Result {
    let items: Vec<String> = items.map(|i| format!("  {i}")).collect();
    f.write_str(&items.join("\n"))
}

/// Every wiring problem found, reported together.
#[derive(Debug)]
pub struct WiringReport {
    /// The problems, in a stable order.
    pub errors: Vec<WiringError>,
}

impl fmt::Display for WiringReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "wiring check failed with {} error(s):",
            self.errors.len()
        )?;
        for error in &self.errors {
            writeln!(f)?;
            writeln!(f, "error: {error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for WiringReport {}

/// The groups of two or more `items` that share a key, in key order.
pub fn shared<T: ?Sized, K: Ord>(
    items: &[&'static T],
    key: impl Fn(&T) -> K,
) -> Vec<(K, Vec<&'static T>)> {
    let mut groups: BTreeMap<K, Vec<&'static T>> = BTreeMap::new();
    for item in items {
        groups.entry(key(item)).or_default().push(*item);
    }
    groups
        .into_iter()
        .filter(|(_, group)| group.len() > 1)
        .collect()
}
