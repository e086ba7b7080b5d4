//! HTTP as a plugin: binds before the components are built (readiness answers 503 while the
//! app starts), serves every `#[http_route]` once they are, drains on shutdown.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::net::SocketAddr;

use tokio::task::JoinHandle;

use super::{AppState, RouteRecord, Switch};
use crate::config::{ConfigError, ConfigSection, CoreConfig, Settings};
use crate::di::{BuildError, Dependency, Key, Location, Needer, WiringError};
use crate::error::ErrorKind;
use crate::http::HttpConfig;
use crate::identity::Authenticator;
use crate::plugin::{Check, Plugin, PluginRecord, Root, Stage, Wiring};
use crate::rate_limit::{Policy, RateLimiter};
use crate::transaction::{IdempotencyStore, Transactions};

inventory::submit! {
    PluginRecord {
        name: "http",
        order: 100,
        create: HttpPlugin::create,
        location: Location { file: file!(), line: line!() },
    }
}

struct HttpPlugin {
    core: CoreConfig,
    config: HttpConfig,
    routes: Vec<&'static RouteRecord>,
    /// Each route's rate limit, its quota resolved, by the index of `routes`.
    policies: Vec<Option<Policy>>,
    switch: Option<Switch>,
    server: Option<JoinHandle<std::io::Result<()>>>,
}

impl HttpPlugin {
    fn create(settings: &Settings) -> Result<Box<dyn Plugin>, ConfigError> {
        let mut routes: Vec<_> = inventory::iter::<RouteRecord>.into_iter().collect();
        routes.sort_by_key(|r| (r.path, r.method, r.location));
        let policies = routes
            .iter()
            .map(|route| {
                let Some(limit) = route.rate_limit else {
                    return Ok(None);
                };
                Ok(Some(Policy {
                    name: format!("{} {}", route.method, route.path),
                    quota: limit.quota(settings)?,
                }))
            })
            .collect::<Result<_, ConfigError>>()?;
        Ok(Box::new(HttpPlugin {
            core: CoreConfig::load(settings)?,
            config: HttpConfig::load(settings)?,
            routes,
            policies,
            switch: None,
            server: None,
        }))
    }
}

#[crate::async_trait]
impl Plugin for HttpPlugin {
    fn check(&self, check: &mut Check<'_>) {
        for route in &self.routes {
            check.root(Root {
                label: format!("{} {} ({})", route.method, route.path, route.location),
                needer: Needer {
                    description: format!("an argument of handler `{}`", route.handler),
                    location: route.location,
                },
                dependencies: {
                    let mut dependencies = (route.dependencies)();
                    if (route.transactional)() {
                        dependencies.push(Dependency::Component(Key::of::<Transactions>()));
                    }
                    if route.idempotency {
                        dependencies.push(Dependency::Component(Key::of::<dyn IdempotencyStore>()));
                    }
                    if route.requirement.is_some() {
                        dependencies.push(Dependency::Component(Key::of::<dyn Authenticator>()));
                    }
                    if route.rate_limit.is_some() {
                        dependencies.push(Dependency::Component(Key::of::<dyn RateLimiter>()));
                    }
                    dependencies
                },
            });
        }
        check.errors(route_clashes(&self.routes));
    }

    fn describe(&self, wiring: &mut Wiring<'_>) {
        let _ = writeln!(wiring, "\nroutes (under {:?}):", self.config.base_path);
        for (route, policy) in self.routes.iter().zip(&self.policies) {
            let requirement = route
                .requirement
                .map_or_else(|| "public".to_owned(), |r| r.describe());
            let limit = policy
                .as_ref()
                .map_or_else(String::new, |p| format!(", {} per client", p.quota));
            let _ = writeln!(
                wiring,
                "  {:<7} {:<28} {}  [{requirement}{limit}]  {}",
                route.method, route.path, route.handler, route.location
            );
        }
    }

    fn error_mapping(&self, kind: ErrorKind) -> Option<String> {
        Some(crate::http::status_of(kind).as_u16().to_string())
    }

    fn summary(&self) -> Option<String> {
        Some(format!("{} route(s)", self.routes.len()))
    }

    async fn prepare(&mut self, stage: &mut Stage<'_>) -> Result<(), BuildError> {
        let config = &self.config;
        let address = SocketAddr::new(config.host, config.port);
        let (listener, bound) = crate::plugin::bind(address, "HTTP", "HTTP_HOST/HTTP_PORT").await?;
        tracing::info!(address = %bound, base_path = %config.base_path, "HTTP listening");
        stage.listening("http", bound);
        let switch = Switch::new(config, stage.health().clone());
        let health = stage.health().clone();
        self.server = Some(super::serve(
            listener,
            switch.clone(),
            config,
            stage.shutdown().clone(),
            async move { health.shutting_down().await },
        ));
        self.switch = Some(switch);
        Ok(())
    }

    async fn start(&mut self, stage: &mut Stage<'_>) -> Result<(), BuildError> {
        let (Some(container), Some(switch)) = (stage.container, &self.switch) else {
            return Ok(());
        };
        let state = AppState {
            container: container.clone(),
        };
        // The wiring check rejects the route clashes axum panics on; any other router panic
        // still becomes a startup error rather than a crash.
        let health = stage.health().clone();
        let router = crate::work::catch_now(|| {
            super::router(
                &self.routes,
                &self.policies,
                &self.core,
                &self.config,
                state,
                health,
            )
        });
        match router {
            Ok(router) => {
                switch.set(router);
                Ok(())
            }
            Err(panic) => Err(format!("cannot build the HTTP router: {panic}").into()),
        }
    }

    async fn drain(&mut self) {
        if let Some(server) = self.server.take() {
            crate::plugin::drained("HTTP", server).await;
        }
    }
}

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
fn route_clashes(routes: &[&'static RouteRecord]) -> Vec<WiringError> {
    let mut by_path: BTreeMap<String, Vec<&RouteRecord>> = BTreeMap::new();
    for route in routes {
        by_path
            .entry(normalized_path(route.path))
            .or_default()
            .push(route);
    }
    let mut clashes = Vec::new();
    for group in by_path.into_values() {
        let clash = |routes: &[&RouteRecord]| WiringError::Clash {
            headline: format!(
                "conflicting routes: {}",
                routes
                    .iter()
                    .map(|r| format!("{} {}", r.method, r.path))
                    .collect::<Vec<_>>()
                    .join(" and ")
            ),
            items: routes
                .iter()
                .map(|r| format!("handler `{}` at {}", r.handler, r.location))
                .collect(),
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

#[cfg(test)]
mod tests {
    use axum::routing::MethodRouter;

    use super::*;
    use crate::di::Dependency;
    #[cfg(feature = "openapi")]
    use crate::http::openapi::Operation;

    fn mount() -> MethodRouter<AppState> {
        MethodRouter::new()
    }

    #[cfg(feature = "openapi")]
    fn no_openapi(_: &mut Operation) {}

    const fn route(
        method: &'static str,
        path: &'static str,
        handler: &'static str,
        line: u32,
        dependencies: fn() -> Vec<Dependency>,
    ) -> RouteRecord {
        RouteRecord {
            method,
            path,
            handler,
            mount,
            dependencies,
            transactional: || false,
            idempotency: false,
            requirement: None,
            rate_limit: None,
            #[cfg(feature = "openapi")]
            openapi: no_openapi,
            location: Location {
                file: "src/api.rs",
                line,
            },
        }
    }

    #[test]
    fn parameters_and_wildcards_in_one_place_are_one_route() {
        assert_eq!(normalized_path("/a/{id}/b"), normalized_path("/a/{name}/b"));
        assert_eq!(normalized_path("/a/{id}"), normalized_path("/a/{*rest}"));
        assert_ne!(normalized_path("/a/{id}"), normalized_path("/a/new"));
    }

    #[test]
    fn two_handlers_of_one_method_and_path_clash() {
        static GET: RouteRecord = route("GET", "/articles/{id}", "api::get_article", 10, Vec::new);
        static SHOW: RouteRecord =
            route("GET", "/articles/{id}", "api::show_article", 20, Vec::new);
        static UPDATE: RouteRecord = route("PUT", "/articles/{id}", "api::update", 30, Vec::new);
        static LIST: RouteRecord = route("GET", "/articles", "api::list", 40, Vec::new);
        // The router cannot tell these apart, whatever the methods.
        static TAG: RouteRecord = route("GET", "/tags/{id}", "api::tag", 50, Vec::new);
        static UNTAG: RouteRecord = route("DELETE", "/tags/{name}", "api::untag", 60, Vec::new);
        let errors = route_clashes(&[&GET, &SHOW, &UPDATE, &LIST, &TAG, &UNTAG]);

        let [
            WiringError::Clash { headline, items },
            WiringError::Clash {
                headline: tags,
                items: tag_items,
            },
        ] = &errors[..]
        else {
            panic!("{errors:#?}");
        };
        assert_eq!(
            headline,
            "conflicting routes: GET /articles/{id} and GET /articles/{id}"
        );
        assert_eq!(
            *items,
            [
                "handler `api::get_article` at src/api.rs:10",
                "handler `api::show_article` at src/api.rs:20"
            ]
        );
        assert_eq!(
            errors[0].to_string(),
            "conflicting routes: GET /articles/{id} and GET /articles/{id}\n\
             \x20 handler `api::get_article` at src/api.rs:10\n\
             \x20 handler `api::show_article` at src/api.rs:20"
        );
        assert_eq!(
            tags,
            "conflicting routes: GET /tags/{id} and DELETE /tags/{name}"
        );
        assert_eq!(
            *tag_items,
            [
                "handler `api::tag` at src/api.rs:50",
                "handler `api::untag` at src/api.rs:60"
            ]
        );
    }
}
