//! gRPC as a plugin: binds `GRPC_HOST:GRPC_PORT` before the components are built when there
//! is a `#[grpc_service]`, serves them (with health and reflection) once they are, drains on
//! shutdown.

use std::fmt::Write;
use std::sync::Arc;

use tokio::task::JoinHandle;

use super::GrpcConfig;
use super::rate_limit::Limits;
use super::server::{GrpcServer, bind};
use super::{FileDescriptorSetRecord, GrpcServiceRecord};
use crate::config::{ConfigError, ConfigSection, Settings};
use crate::di::{BuildError, Dependency, Key, Location, Needer, WiringError, shared};
use crate::identity::Authenticator;
use crate::plugin::{Check, Plugin, PluginRecord, Root, Stage, Wiring};
use crate::rate_limit::RateLimiter;

inventory::submit! {
    PluginRecord {
        name: "grpc",
        order: 200,
        create: GrpcPlugin::create,
        location: Location { file: file!(), line: line!() },
    }
}

struct GrpcPlugin {
    config: GrpcConfig,
    services: Vec<&'static GrpcServiceRecord>,
    descriptor_sets: Vec<&'static FileDescriptorSetRecord>,
    /// Each method's rate limit.
    limits: Option<Arc<Limits>>,
    bound: Option<GrpcServer>,
    server: Option<JoinHandle<Result<(), tonic::transport::Error>>>,
}

impl GrpcPlugin {
    fn create(settings: &Settings) -> Result<Box<dyn Plugin>, ConfigError> {
        let mut services: Vec<_> = inventory::iter::<GrpcServiceRecord>.into_iter().collect();
        services.sort_by_key(|g| (g.service, g.location));
        Ok(Box::new(GrpcPlugin {
            config: GrpcConfig::load(settings)?,
            limits: super::rate_limit::limits(&services, settings)?.map(Arc::new),
            services,
            descriptor_sets: inventory::iter::<FileDescriptorSetRecord>
                .into_iter()
                .collect(),
            bound: None,
            server: None,
        }))
    }
}

#[crate::async_trait]
impl Plugin for GrpcPlugin {
    fn check(&self, check: &mut Check<'_>) {
        for service in &self.services {
            check.root(Root {
                label: format!("gRPC {} ({})", service.service, service.location),
                needer: Needer {
                    description: format!("`#[grpc_service]` {}", service.service),
                    location: service.location,
                },
                dependencies: {
                    let mut dependencies = (service.dependencies)();
                    let guarded = service.requirement.is_some()
                        || service.methods.iter().any(|m| m.requirement.is_some());
                    if guarded {
                        dependencies.push(Dependency::Component(Key::of::<dyn Authenticator>()));
                    }
                    let limited = service.rate_limit.is_some()
                        || service.methods.iter().any(|m| m.rate_limit.is_some());
                    if limited {
                        dependencies.push(Dependency::Component(Key::of::<dyn RateLimiter>()));
                    }
                    dependencies
                },
            });
        }
        for (service, impls) in shared(&self.services, |s| s.service) {
            check.error(WiringError::Clash {
                headline: format!("gRPC service `{service}` is implemented more than once"),
                items: impls
                    .iter()
                    .map(|i| format!("`{}` at {}", i.implementation, i.location))
                    .collect(),
            });
        }
    }

    fn describe(&self, wiring: &mut Wiring<'_>) {
        if self.services.is_empty() {
            return;
        }
        let config = &self.config;
        let reflection = if config.reflection { "on" } else { "off" };
        let _ = writeln!(
            wiring,
            "\ngRPC services (on {}:{}, reflection {reflection}):",
            config.host, config.port
        );
        for service in &self.services {
            let _ = writeln!(
                wiring,
                "  {} <- {}  {}",
                service.service, service.implementation, service.location
            );
            for method in service.methods {
                let requirement = method
                    .requirement
                    .map_or_else(|| "public".to_owned(), |r| r.describe());
                let limit = self
                    .limits
                    .as_ref()
                    .and_then(|l| l.method(service.service, method.name))
                    .map_or_else(String::new, |l| format!(", {} per client", l.policy.quota));
                let _ = writeln!(wiring, "    {}  [{requirement}{limit}]", method.name);
            }
        }
    }

    async fn prepare(&mut self, stage: &mut Stage<'_>) -> Result<(), BuildError> {
        self.bound = bind(&self.config, &self.services).await?;
        if let Some(bound) = &self.bound {
            stage.listening("grpc", bound.addr);
        }
        Ok(())
    }

    async fn start(&mut self, stage: &mut Stage<'_>) -> Result<(), BuildError> {
        let (Some(bound), Some(container)) = (self.bound.take(), stage.container) else {
            return Ok(());
        };
        let server = bound.limited(self.limits.clone()).serve(
            &self.services,
            &self.descriptor_sets,
            container,
            &self.config,
            stage.health().clone(),
            stage.shutdown().clone(),
        )?;
        self.server = Some(server);
        Ok(())
    }

    async fn drain(&mut self) {
        if let Some(server) = self.server.take() {
            crate::plugin::drained("gRPC", server).await;
        }
    }
}
