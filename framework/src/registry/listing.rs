//! The `wiring` command's listing.

use std::fmt::Write;

use super::{ProviderKind, ProviderRecord, Registry};
use crate::config::redact_url;
use crate::config::{CoreConfig, Settings};
use crate::di::{Dependency, Key, short_type_name};

/// Every module, binding, route and error code with file:line, as the current config wires it.
pub(crate) fn listing(registry: &Registry, settings: &Settings, config: &CoreConfig) -> String {
    let graph = registry.validate(settings).ok();
    let bound_to = |key: &Key| -> String {
        match graph.as_ref().and_then(|g| g.bindings.get(key)) {
            Some(provider) => format!(" <- {}", provider.short_name()),
            None => " <- (unbound)".into(),
        }
    };
    let mut out = String::new();
    let database = config
        .database_url
        .as_deref()
        .map(redact_url)
        .unwrap_or_else(|| "(none)".into());
    let _ = writeln!(
        out,
        "service {} (APP_ENV={:?}, database {database})",
        config.app_name, config.app_env
    );

    for (title, kind) in [
        ("modules", ProviderKind::Module),
        ("framework components", ProviderKind::Framework),
    ] {
        let _ = writeln!(out, "\n{title}:");
        for provider in registry.providers.iter().filter(|p| p.kind == kind) {
            let _ = writeln!(
                out,
                "  {}{}  {}",
                provider.name,
                state(provider, settings),
                provider.location
            );
            for key in (provider.provides)().iter().skip(1) {
                let _ = writeln!(out, "    provides {}", key.short_name());
            }
            let active = provider.is_active(settings);
            for field in (provider.fields)() {
                let name = field.name;
                let _ = match field.dependency {
                    Dependency::Component(key) => {
                        let bound = if active {
                            bound_to(&key)
                        } else {
                            String::new()
                        };
                        writeln!(out, "    {name}: {}{bound}", key.short_name())
                    }
                    Dependency::Config {
                        type_name, prefix, ..
                    } => writeln!(
                        out,
                        "    {name}: Config<{}> (keys {prefix}*)",
                        short_type_name(type_name)
                    ),
                };
            }
        }
    }

    let _ = writeln!(out, "\nroutes (under {:?}):", config.http.base_path);
    for route in &registry.routes {
        let _ = writeln!(
            out,
            "  {:<7} {:<28} {}  {}",
            route.method, route.path, route.handler, route.location
        );
    }
    if !registry.grpc_services.is_empty() {
        let reflection = if config.grpc_reflection { "on" } else { "off" };
        let _ = writeln!(
            out,
            "\ngRPC services (on {}:{}, reflection {reflection}):",
            config.grpc_host, config.grpc_port
        );
        for service in &registry.grpc_services {
            let _ = writeln!(
                out,
                "  {} <- {}  {}",
                service.service, service.implementation, service.location
            );
            for method in service.methods {
                let _ = writeln!(out, "    {method}");
            }
        }
    }
    if !registry.consumers.is_empty() {
        let _ = writeln!(out, "\nKafka consumers:");
        for consumer in registry.resolve_consumers(settings).0 {
            let record = consumer.record;
            let _ = writeln!(
                out,
                "  {} in group {} -> {}  {}\n    concurrency {}, retries {} (backoff from {} ms), dead letters to {}",
                consumer.topic,
                consumer.group,
                record.handler,
                record.location,
                record.concurrency,
                record.retries,
                record.backoff_ms,
                consumer.dead_letter
            );
        }
    }
    if !registry.jobs.is_empty() {
        let _ = writeln!(out, "\njobs:");
        for job in registry.resolve_jobs(settings).0 {
            let record = job.record;
            let next = job
                .next_run()
                .map_or_else(|| "never".to_owned(), |t| t.to_rfc3339());
            let overlap = match record.overlap {
                crate::cron::Overlap::Skip => "skip",
                crate::cron::Overlap::Allow => "allow",
            };
            let timeout = record
                .timeout_secs
                .map_or_else(|| "none".to_owned(), |s| format!("{s} s"));
            let _ = writeln!(
                out,
                "  \"{}\" -> {}  {}\n    next run {next}, singleton {}, overlap {overlap}, timeout {timeout}",
                job.expression, record.handler, record.location, record.singleton
            );
        }
    }
    let _ = writeln!(out, "\nerror codes:");
    for code in &registry.error_codes {
        let _ = writeln!(
            out,
            "  {:<28} {} {:<12} {}::{}  {}",
            code.code,
            code.kind.http_status().as_u16(),
            format!("{:?}", code.kind),
            short_type_name(code.error_type),
            code.variant,
            code.location
        );
    }
    for migrations in &registry.migrations {
        let _ = writeln!(
            out,
            "\nmigrations: {} postgres, {} sqlite, embedded at {}",
            migrations.postgres.len(),
            migrations.sqlite.len(),
            migrations.location
        );
    }
    out
}

fn state(provider: &ProviderRecord, settings: &Settings) -> String {
    match provider.condition {
        None => String::new(),
        Some(c) if (c.check)(settings) => format!(" [active: {}]", c.name),
        Some(c) => format!(" [inactive: {}]", c.name),
    }
}
