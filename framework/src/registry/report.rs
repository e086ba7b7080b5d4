//! Wiring errors: what only the whole program can see, reported before any I/O with the
//! types, the dependency path and the file:line of each registration involved.

use std::collections::BTreeMap;
use std::fmt;

use super::{ErrorCodeRecord, Location, RouteRecord};
use crate::config::ConfigError;
use crate::di::Key;
use crate::grpc::GrpcServiceRecord;
use crate::kafka::Resolved;

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
    /// Two handlers for one method and path, or paths the router cannot tell apart.
    RouteClash {
        /// `GET /articles/{id}`, or two paths that only differ in parameter names.
        route: String,
        /// The handlers.
        handlers: Vec<(&'static str, Location)>,
    },
    /// Two error variants claiming one code.
    ErrorCodeClash {
        /// The code.
        code: &'static str,
        /// The variants.
        variants: Vec<(String, Location)>,
    },
    /// Two impls of one gRPC service.
    GrpcServiceClash {
        /// The protobuf service name.
        service: &'static str,
        /// The implementations.
        implementations: Vec<(&'static str, Location)>,
    },
    /// A consumer's topic or group names a config key that is not set.
    Consumer {
        /// The handler.
        handler: &'static str,
        /// Where it is written.
        location: Location,
        /// The missing key.
        error: ConfigError,
    },
    /// A job's schedule names a config key that is not set, or is not a cron expression.
    Job {
        /// The job.
        handler: &'static str,
        /// Where it is written.
        location: Location,
        /// What is wrong.
        error: ConfigError,
    },
    /// Two consumers of one topic in one group.
    ConsumerClash {
        /// `topic` in group `group`.
        subscription: String,
        /// The handlers.
        handlers: Vec<(&'static str, Location)>,
    },
    /// `framework::migrations!` used more than once.
    DuplicateMigrations(Vec<Location>),
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
                if let Some(setting) = inactive
                    .iter()
                    .find_map(|c| c.condition.and_then(framework_setting))
                {
                    write!(f, "  help: set {setting}")
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
            WiringError::RouteClash { route, handlers } => {
                writeln!(f, "conflicting routes: {route}")?;
                list(
                    f,
                    handlers
                        .iter()
                        .map(|(h, l)| format!("handler `{h}` at {l}")),
                )
            }
            WiringError::ErrorCodeClash { code, variants } => {
                writeln!(f, "duplicate error code `{code}`")?;
                list(f, variants.iter().map(|(v, l)| format!("`{v}` at {l}")))
            }
            WiringError::GrpcServiceClash {
                service,
                implementations,
            } => {
                writeln!(f, "gRPC service `{service}` is implemented more than once")?;
                list(
                    f,
                    implementations.iter().map(|(i, l)| format!("`{i}` at {l}")),
                )
            }
            WiringError::Consumer {
                handler,
                location,
                error,
            } => write!(f, "consumer `{handler}` at {location}: {error}"),
            WiringError::Job {
                handler,
                location,
                error,
            } => write!(f, "job `{handler}` at {location}: {error}"),
            WiringError::ConsumerClash {
                subscription,
                handlers,
            } => {
                writeln!(
                    f,
                    "two consumers of {subscription}: each record would reach only one of them"
                )?;
                list(f, handlers.iter().map(|(h, l)| format!("`{h}` at {l}")))
            }
            WiringError::DuplicateMigrations(locations) => {
                writeln!(f, "`framework::migrations!` is used more than once")?;
                list(f, locations.iter().map(|l| format!("at {l}")))
            }
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

/// `/a/{id}`, `/a/{name}` and `/a/{*rest}` are one route to the router: it rejects a
/// parameter and a wildcard in the same place.
fn normalized_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut in_param = false;
    for c in path.chars() {
        match c {
            '{' => {
                in_param = true;
                out.push('{');
            }
            '}' => {
                in_param = false;
                out.push('}');
            }
            _ if in_param => {}
            _ => out.push(c),
        }
    }
    out
}

/// Two handlers on one method and path, or two paths that differ only in parameter names
/// (the router cannot tell `/a/{id}` from `/a/{name}`).
pub(crate) fn route_clashes(routes: &[&'static RouteRecord]) -> Vec<WiringError> {
    let mut by_path: BTreeMap<String, Vec<&RouteRecord>> = BTreeMap::new();
    for route in routes {
        by_path
            .entry(normalized_path(route.path))
            .or_default()
            .push(route);
    }
    let mut clashes = Vec::new();
    for group in by_path.into_values() {
        let clash = |routes: &[&RouteRecord]| WiringError::RouteClash {
            route: routes
                .iter()
                .map(|r| format!("{} {}", r.method, r.path))
                .collect::<Vec<_>>()
                .join(" and "),
            handlers: routes.iter().map(|r| (r.handler, r.location)).collect(),
        };
        if group.iter().any(|r| r.path != group[0].path) {
            clashes.push(clash(&group));
            continue;
        }
        let mut by_method: BTreeMap<&str, Vec<&RouteRecord>> = BTreeMap::new();
        for route in group {
            by_method.entry(route.method).or_default().push(route);
        }
        clashes.extend(by_method.values().filter(|r| r.len() > 1).map(|r| clash(r)));
    }
    clashes
}

/// The groups of two or more `items` that share a key, in key order.
fn shared<T, K: Ord>(items: &[&'static T], key: impl Fn(&T) -> K) -> Vec<(K, Vec<&'static T>)> {
    let mut groups: BTreeMap<K, Vec<&'static T>> = BTreeMap::new();
    for item in items {
        groups.entry(key(item)).or_default().push(*item);
    }
    groups
        .into_iter()
        .filter(|(_, group)| group.len() > 1)
        .collect()
}

/// Two variants claiming one code.
pub(crate) fn error_code_clashes(codes: &[&'static ErrorCodeRecord]) -> Vec<WiringError> {
    shared(codes, |c| c.code)
        .into_iter()
        .map(|(code, records)| WiringError::ErrorCodeClash {
            code,
            variants: records
                .iter()
                .map(|r| (format!("{}::{}", r.error_type, r.variant), r.location))
                .collect(),
        })
        .collect()
}

/// Two impls of one gRPC service.
pub(crate) fn grpc_service_clashes(services: &[&'static GrpcServiceRecord]) -> Vec<WiringError> {
    shared(services, |s| s.service)
        .into_iter()
        .map(|(service, impls)| WiringError::GrpcServiceClash {
            service,
            implementations: impls
                .iter()
                .map(|i| (i.implementation, i.location))
                .collect(),
        })
        .collect()
}

/// Two consumers of one topic in one group.
pub(crate) fn consumer_clashes(consumers: &[Resolved]) -> Vec<WiringError> {
    let mut groups: BTreeMap<(&str, &str), Vec<&Resolved>> = BTreeMap::new();
    for consumer in consumers {
        groups
            .entry((&consumer.topic, &consumer.group))
            .or_default()
            .push(consumer);
    }
    groups
        .into_iter()
        .filter(|(_, group)| group.len() > 1)
        .map(|((topic, group), consumers)| WiringError::ConsumerClash {
            subscription: format!("topic `{topic}` in group `{group}`"),
            handlers: consumers
                .iter()
                .map(|c| (c.record.handler, c.record.location))
                .collect(),
        })
        .collect()
}

/// What to set for a framework provider whose condition is false.
fn framework_setting(condition: &str) -> Option<&'static str> {
    match condition {
        "framework::cache::is_configured" => Some("REDIS_URL (redis://host:port, or memory)"),
        "framework::kafka::is_configured" => Some("KAFKA_BROKERS (host:port, or memory)"),
        "framework::db::is_postgres" => Some("DATABASE_URL=postgres://..."),
        "framework::db::is_sqlite" => Some("DATABASE_URL=sqlite://..."),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::normalized_path;

    #[test]
    fn parameters_and_wildcards_in_one_place_are_one_route() {
        assert_eq!(normalized_path("/a/{id}/b"), normalized_path("/a/{name}/b"));
        assert_eq!(normalized_path("/a/{id}"), normalized_path("/a/{*rest}"));
        assert_ne!(normalized_path("/a/{id}"), normalized_path("/a/new"));
    }
}
