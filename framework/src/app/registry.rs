//! The core's registrations, collected at startup, and the wiring check over them and the
//! plugins.

use crate::config::Settings;
use crate::di::{ProviderKind, ProviderRecord, WiringError, WiringReport, shared};
use crate::error::ErrorCodeRecord;
use crate::plugin::Loaded;

/// The core's registrations (components and error codes), sorted for stable
/// reports; each plugin collects its own.
pub struct Registry {
    /// Modules and framework components.
    pub providers: Vec<&'static ProviderRecord>,
    /// Error codes.
    pub error_codes: Vec<&'static ErrorCodeRecord>,
}

impl Registry {
    /// Collects every record submitted in this program.
    pub fn collect() -> Registry {
        let mut providers: Vec<_> = inventory::iter::<ProviderRecord>.into_iter().collect();
        providers.sort_by_key(|p| (p.kind == ProviderKind::Framework, p.name, p.location));
        let mut error_codes: Vec<_> = inventory::iter::<ErrorCodeRecord>.into_iter().collect();
        error_codes.sort_by_key(|e| (e.code, e.location));
        Registry {
            providers,
            error_codes,
        }
    }

    /// Checks the whole wiring against `settings`, without I/O: the components every module
    /// and every plugin's roots need, and the plugins' own checks.
    pub(crate) fn validate(
        &self,
        settings: &Settings,
        plugins: &[Loaded],
    ) -> Result<crate::di::Graph, WiringReport> {
        let mut check = crate::plugin::Check::new(settings);
        for loaded in plugins {
            loaded.plugin.check(&mut check);
        }
        let mut errors = Vec::new();
        let graph =
            crate::di::Graph::validate(&self.providers, settings, &check.roots, &mut errors);
        errors.extend(check.errors);
        errors.extend(error_code_clashes(&self.error_codes));
        if errors.is_empty() {
            Ok(graph)
        } else {
            Err(WiringReport { errors })
        }
    }
}

/// Two variants claiming one code.
fn error_code_clashes(codes: &[&'static ErrorCodeRecord]) -> Vec<WiringError> {
    shared(codes, |c| c.code)
        .into_iter()
        .map(|(code, records)| WiringError::Clash {
            headline: format!("duplicate error code `{code}`"),
            items: records
                .iter()
                .map(|r| format!("`{}::{}` at {}", r.error_type, r.variant, r.location))
                .collect(),
        })
        .collect()
}
