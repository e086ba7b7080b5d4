//! The app's [`Health`], injectable so that a component can add a unit of its own (an
//! outbound client's breaker, see `framework::grpc::GrpcClient::with_health`).

use std::sync::Arc;

use crate::di::{BuildContext, BuildFuture, Location, ProviderKind, ProviderRecord};
use crate::di::{Container, Dependency, Injectable, Instance, Key, ResolveError};
use crate::health::Health;

impl Injectable for Health {
    fn dependency() -> Dependency {
        Dependency::Component(Key::of::<Health>())
    }

    fn resolve(container: &Container) -> Result<Self, ResolveError> {
        container
            .get::<Health>()
            .map(|health| Health::clone(&health))
            .ok_or(ResolveError::Missing("Health"))
    }
}

inventory::submit! {
    ProviderRecord {
        name: "framework::health::Health",
        provides: || vec![Key::of::<Health>()],
        fields: Vec::new,
        condition: None,
        build: |ctx: &BuildContext| -> BuildFuture<'_> {
            let health = ctx.health().clone();
            Box::pin(async move { Ok(vec![Instance::of::<Health>(Arc::new(health))]) })
        },
        kind: ProviderKind::Framework,
        location: Location { file: file!(), line: line!() },
    }
}
