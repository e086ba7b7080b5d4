//! Validation of the dependency graph, before any I/O: every needed component has exactly one
//! active provider, no cycles, every config section loads. The walk also yields the build
//! order (dependencies first).

use std::collections::{HashMap, HashSet};

use super::{
    Candidate, Condition, Dependency, Key, Location, Needer, ProviderKind, ProviderRecord, Root,
    WiringError,
};
use crate::config::Settings;

/// A validated graph: which providers to build, in order, and who provides each key.
pub struct Graph {
    pub(crate) order: Vec<&'static ProviderRecord>,
    pub(crate) bindings: HashMap<Key, &'static ProviderRecord>,
}

impl Graph {
    pub(crate) fn validate(
        providers: &[&'static ProviderRecord],
        settings: &Settings,
        roots: &[Root],
        errors: &mut Vec<WiringError>,
    ) -> Graph {
        let mut walk = Walk::new(providers, settings, errors);
        // The roots: every active module (always built), then what the plugins serve
        // (routes, services, consumers, jobs), each of which needs its dependencies built.
        for provider in providers {
            if provider.kind == ProviderKind::Module && provider.is_active(settings) {
                walk.visit(provider, &mut Vec::new());
            }
        }
        for root in roots {
            walk.root(root.label.clone(), &root.needer, root.dependencies.clone());
        }
        Graph {
            order: walk.order,
            bindings: walk.bound,
        }
    }
}

struct Step {
    label: String,
    provider: Option<*const ProviderRecord>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Visiting,
    Done,
}

struct Walk<'a> {
    settings: &'a Settings,
    active: HashMap<Key, Vec<&'static ProviderRecord>>,
    inactive: HashMap<Key, Vec<&'static ProviderRecord>>,
    /// What to set for a predicate to hold, by the predicate's name, as the providers that
    /// declare one give it: a `#[module(when = framework::db::is_postgres)]` gets the hint
    /// of the database plugin's provider with that predicate.
    hints: HashMap<&'static str, &'static str>,
    state: HashMap<*const ProviderRecord, State>,
    order: Vec<&'static ProviderRecord>,
    bound: HashMap<Key, &'static ProviderRecord>,
    reported: HashSet<String>,
    errors: &'a mut Vec<WiringError>,
}

impl<'a> Walk<'a> {
    fn new(
        providers: &[&'static ProviderRecord],
        settings: &'a Settings,
        errors: &'a mut Vec<WiringError>,
    ) -> Self {
        let mut active: HashMap<Key, Vec<_>> = HashMap::new();
        let mut inactive: HashMap<Key, Vec<_>> = HashMap::new();
        let mut hints = HashMap::new();
        for &provider in providers {
            if let Some(Condition {
                name,
                hint: Some(hint),
                ..
            }) = provider.condition
            {
                hints.insert(name, hint);
            }
            let index = if provider.is_active(settings) {
                &mut active
            } else {
                &mut inactive
            };
            for key in (provider.provides)() {
                index.entry(key).or_default().push(provider);
            }
        }
        Walk {
            settings,
            active,
            inactive,
            hints,
            state: HashMap::new(),
            order: Vec::new(),
            bound: HashMap::new(),
            reported: HashSet::new(),
            errors,
        }
    }

    fn root(&mut self, label: String, needer: &Needer, dependencies: Vec<Dependency>) {
        let mut path = vec![Step {
            label,
            provider: None,
        }];
        for dependency in dependencies {
            self.dependency(needer, dependency, &mut path);
        }
    }

    fn visit(&mut self, provider: &'static ProviderRecord, path: &mut Vec<Step>) {
        let id = provider as *const ProviderRecord;
        match self.state.get(&id) {
            Some(State::Done) => return,
            Some(State::Visiting) => {
                let start = path
                    .iter()
                    .position(|s| s.provider == Some(id))
                    .unwrap_or(0);
                let mut steps: Vec<String> =
                    path[start..].iter().map(|s| s.label.clone()).collect();
                steps.push(provider_label(provider));
                if self
                    .reported
                    .insert(format!("cycle {}", steps.join(" -> ")))
                {
                    self.errors.push(WiringError::Cycle { steps });
                }
                return;
            }
            None => {}
        }
        self.state.insert(id, State::Visiting);
        path.push(Step {
            label: provider_label(provider),
            provider: Some(id),
        });
        for field in (provider.fields)() {
            let needer = Needer {
                description: format!("field `{}` of `{}`", field.name, provider.short_name()),
                location: Location {
                    line: field.line,
                    ..provider.location
                },
            };
            self.dependency(&needer, field.dependency, path);
        }
        path.pop();
        self.state.insert(id, State::Done);
        self.order.push(provider);
    }

    fn dependency(&mut self, needer: &Needer, dependency: Dependency, path: &mut Vec<Step>) {
        match dependency {
            Dependency::Config {
                type_name,
                prefix,
                check,
            } => {
                if let Err(error) = check(self.settings)
                    && self.reported.insert(format!("config {type_name}"))
                {
                    self.errors.push(WiringError::Config {
                        section: type_name,
                        prefix,
                        needed_by: needer.clone(),
                        error,
                    });
                }
            }
            Dependency::Component(key) => {
                let providers = self.active.get(&key).cloned().unwrap_or_default();
                match providers.as_slice() {
                    [provider] => {
                        self.bound.insert(key, provider);
                        self.visit(provider, path);
                    }
                    [] => {
                        if self
                            .reported
                            .insert(format!("missing {:?} {}", key, needer.description))
                        {
                            let mut steps: Vec<String> =
                                path.iter().map(|s| s.label.clone()).collect();
                            steps.push(key.short_name());
                            self.errors.push(WiringError::Missing {
                                key,
                                needed_by: needer.clone(),
                                path: steps,
                                inactive: candidates(self.inactive.get(&key), &self.hints),
                            });
                        }
                    }
                    _ => {
                        if self.reported.insert(format!("ambiguous {key:?}")) {
                            self.errors.push(WiringError::Ambiguous {
                                key,
                                needed_by: needer.clone(),
                                candidates: candidates(Some(&providers), &self.hints),
                            });
                        }
                    }
                }
            }
        }
    }
}

fn provider_label(provider: &ProviderRecord) -> String {
    format!("{} ({})", provider.short_name(), provider.location)
}

fn candidates(
    providers: Option<&Vec<&'static ProviderRecord>>,
    hints: &HashMap<&'static str, &'static str>,
) -> Vec<Candidate> {
    providers
        .into_iter()
        .flatten()
        .map(|p| Candidate {
            name: p.name,
            location: p.location,
            condition: p.condition.map(|c| c.name),
            hint: p
                .condition
                .and_then(|c| c.hint.or_else(|| hints.get(c.name).copied())),
        })
        .collect()
}
