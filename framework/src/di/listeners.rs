//! The addresses the app's deliveries listen on, as bound (a port of 0 is the one the system
//! picked), injectable so that a component can name the service itself.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use crate::di::{BuildContext, BuildFuture, Location, ProviderKind, ProviderRecord};
use crate::di::{Container, Dependency, Injectable, Instance, Key, ResolveError};

/// The bound address of each listener, by delivery name (`"http"`, `"grpc"`); a `#[module]`
/// field of this type gets the app's.
///
/// ```ignore
/// #[module]
/// pub struct SelfClient { listeners: Listeners }
/// // listeners.url("grpc") == Some("http://127.0.0.1:3000".into()) with the defaults
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listeners(BTreeMap<&'static str, SocketAddr>);

impl Listeners {
    pub(crate) fn insert(&mut self, name: &'static str, address: SocketAddr) {
        self.0.insert(name, address);
    }

    /// The address the listener `name` is bound to; `None` when the app has no such listener
    /// (no `#[grpc_service]`, say).
    pub fn get(&self, name: &str) -> Option<SocketAddr> {
        self.0.get(name).copied()
    }

    /// `http://host:port` to reach the listener `name` from this machine: a listener bound
    /// to every interface (`0.0.0.0`, `::`) is reached on the loopback address.
    pub fn url(&self, name: &str) -> Option<String> {
        let mut address = self.get(name)?;
        match address.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => address.set_ip(Ipv4Addr::LOCALHOST.into()),
            IpAddr::V6(ip) if ip.is_unspecified() => address.set_ip(Ipv6Addr::LOCALHOST.into()),
            _ => {}
        }
        Some(format!("http://{address}"))
    }
}

impl Injectable for Listeners {
    fn dependency() -> Dependency {
        Dependency::Component(Key::of::<Listeners>())
    }

    fn resolve(container: &Container) -> Result<Self, ResolveError> {
        container
            .get::<Listeners>()
            .map(|listeners| Listeners::clone(&listeners))
            .ok_or(ResolveError::Missing("Listeners"))
    }
}

inventory::submit! {
    ProviderRecord {
        name: "framework::app::Listeners",
        provides: || vec![Key::of::<Listeners>()],
        fields: Vec::new,
        condition: None,
        build: |ctx: &BuildContext| -> BuildFuture<'_> {
            let listeners = ctx.listeners.clone();
            Box::pin(async move { Ok(vec![Instance::of::<Listeners>(Arc::new(listeners))]) })
        },
        kind: ProviderKind::Framework,
        location: Location { file: file!(), line: line!() },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_reach_unspecified_addresses_on_loopback() {
        let mut listeners = Listeners::default();
        listeners.insert("grpc", "0.0.0.0:3001".parse().unwrap());
        listeners.insert("http", "[::]:4001".parse().unwrap());
        listeners.insert("other", "10.1.2.3:5000".parse().unwrap());
        assert_eq!(
            listeners.url("grpc").as_deref(),
            Some("http://127.0.0.1:3001")
        );
        assert_eq!(listeners.url("http").as_deref(), Some("http://[::1]:4001"));
        assert_eq!(
            listeners.url("other").as_deref(),
            Some("http://10.1.2.3:5000")
        );
        assert_eq!(listeners.url("kafka"), None);
    }
}
