//! The `wiring` command's listing.

use std::fmt::Write;

use super::Registry;
use crate::config::{CoreConfig, Settings};
use crate::di::{Dependency, Key, ProviderKind, ProviderRecord, short_type_name};
use crate::plugin::Loaded;
use crate::plugin::{ERROR_CODES_ORDER, Wiring};

/// Every module, binding, route and error code with file:line, as the current config wires it.
pub(crate) fn listing(
    registry: &Registry,
    plugins: &[Loaded],
    settings: &Settings,
    config: &CoreConfig,
) -> String {
    let graph = registry.validate(settings, plugins).ok();
    let bound = |key: &Key| graph.as_ref()?.bindings.get(key).map(|p| p.short_name());
    let bound_to = |key: &Key| -> String {
        match bound(key) {
            Some(provider) => format!(" <- {provider}"),
            None => " <- (unbound)".into(),
        }
    };
    let mut out = String::new();
    let mut headline = vec![format!("APP_ENV={:?}", config.app_env)];
    headline.extend(plugins.iter().filter_map(|l| l.plugin.headline()));
    let _ = writeln!(out, "service {} ({})", config.app_name, headline.join(", "));

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

    let describe = |plugins: &mut dyn Iterator<Item = &Loaded>, out: &mut String| {
        for loaded in plugins {
            let mut wiring = Wiring {
                out: &mut *out,
                settings,
                bound: &bound,
            };
            loaded.plugin.describe(&mut wiring);
        }
    };
    let (before, after): (Vec<&Loaded>, Vec<&Loaded>) = plugins
        .iter()
        .partition(|l| l.record.order < ERROR_CODES_ORDER);
    describe(&mut before.into_iter(), &mut out);
    let _ = writeln!(out, "\nerror codes:");
    for code in &registry.error_codes {
        let _ = writeln!(
            out,
            "  {:<28} {}{:<12} {}::{}  {}",
            code.code,
            plugins
                .iter()
                .find_map(|l| l.plugin.error_mapping(code.kind))
                .map(|mapping| mapping + " ")
                .unwrap_or_default(),
            format!("{:?}", code.kind),
            short_type_name(code.error_type),
            code.variant,
            code.location
        );
    }
    describe(&mut after.into_iter(), &mut out);
    out
}

fn state(provider: &ProviderRecord, settings: &Settings) -> String {
    match provider.condition {
        None => String::new(),
        Some(c) if (c.check)(settings) => format!(" [active: {}]", c.name),
        Some(c) => format!(" [inactive: {}]", c.name),
    }
}
