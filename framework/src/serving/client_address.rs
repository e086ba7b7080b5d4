//! The client's address behind reverse proxies: a load balancer's own address is every
//! request's peer, so a limit per address would count all clients as one. When the peer is
//! one of the trusted proxies (`HTTP_TRUSTED_PROXIES`, `GRPC_TRUSTED_PROXIES`), the client is
//! the last address of `X-Forwarded-For` that is not a trusted proxy (each proxy appends the
//! address it saw; only those after the last untrusted one are believed; the de facto rule
//! RFC 7239 §5.2 and §8.3 describe for `Forwarded`). With no trusted proxy configured, the
//! header is ignored: any client could write it.

use std::net::IpAddr;

use axum::http::HeaderMap;
use ipnet::IpNet;

/// `X-Forwarded-For`.
const X_FORWARDED_FOR: &str = "x-forwarded-for";

/// How many `X-Forwarded-For` entries are read, from the last: proxies in front of a service
/// are few, and the header is the client's to make long.
const MAX_HOPS: usize = 16;

/// The networks whose connections are proxies'; empty: none.
#[derive(Debug, Clone, Default)]
pub(crate) struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// `list`: addresses (`10.0.0.7`) or networks (`10.0.0.0/8`, `fd00::/8`) separated by
    /// commas; blank: none.
    ///
    /// # Errors
    /// The entry that is neither, for the config error.
    pub(crate) fn parse(list: &str) -> Result<TrustedProxies, String> {
        let mut networks = Vec::new();
        for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let network = entry
                .parse::<IpNet>()
                .or_else(|_| {
                    entry
                        .parse::<IpAddr>()
                        .map(|a| IpNet::from(a.to_canonical()))
                })
                .map_err(|_| {
                    format!(
                        "`{}` is not an IP address or network: write addresses or CIDR \
                         networks separated by commas (`10.0.0.0/8, 192.0.2.7`)",
                        entry.escape_default()
                    )
                })?;
            networks.push(network);
        }
        Ok(TrustedProxies(networks))
    }

    /// Whether `address` is a proxy's; an IPv4 address as a dual-stack listener sees it
    /// (`::ffff:10.0.0.7`) is its IPv4 self.
    fn trusts(&self, address: IpAddr) -> bool {
        let address = address.to_canonical();
        self.0.iter().any(|network| network.contains(&address))
    }

    /// The client of a request from `peer` with `headers`: `peer` itself unless it is a
    /// trusted proxy; then the last `X-Forwarded-For` address that is not one (the first
    /// proxy's peer when all are, or the last trusted proxy when an entry does not parse).
    pub(crate) fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if self.0.is_empty() || !self.trusts(peer) {
            return peer;
        }
        // Several header lines are one list, in order (RFC 9110 §5.3).
        let lines: Vec<&[u8]> = headers
            .get_all(X_FORWARDED_FOR)
            .iter()
            .map(|v| v.as_bytes())
            .collect();
        let mut client = peer;
        let entries = lines
            .iter()
            .rev()
            .flat_map(|line| line.rsplit(|&b| b == b','))
            .take(MAX_HOPS);
        for entry in entries {
            let Some(address) = std::str::from_utf8(entry).ok().and_then(address) else {
                return client;
            };
            client = address;
            if !self.trusts(address) {
                return address;
            }
        }
        client
    }
}

/// An `X-Forwarded-For` entry's address: `192.0.2.1`, `2001:db8::1`, or either with the
/// port some proxies add (`192.0.2.1:5678`, `[2001:db8::1]:443`).
fn address(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    entry
        .parse::<IpAddr>()
        .or_else(|_| entry.parse::<std::net::SocketAddr>().map(|s| s.ip()))
        .ok()
        .map(|a| a.to_canonical())
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(lines: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for line in lines {
            headers.append(X_FORWARDED_FOR, HeaderValue::from_str(line).unwrap());
        }
        headers
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn the_client_is_the_last_untrusted_forwarded_address() {
        let trusted = TrustedProxies::parse("10.0.0.0/8, 192.0.2.7,fd00::/8").unwrap();
        let lb = ip("10.1.2.3");
        // Not from a proxy: the header is the client's own, and ignored.
        let spoofed = headers(&["198.51.100.1"]);
        assert_eq!(
            trusted.client(ip("203.0.113.9"), &spoofed),
            ip("203.0.113.9")
        );
        // Through two proxies; what the client wrote first is not believed.
        let forwarded = headers(&["198.51.100.1, 203.0.113.9", "192.0.2.7"]);
        assert_eq!(trusted.client(lb, &forwarded), ip("203.0.113.9"));
        // All trusted: the first proxy's peer.
        assert_eq!(trusted.client(lb, &headers(&["10.9.9.9"])), ip("10.9.9.9"));
        // No header, or garbage: the proxy itself.
        assert_eq!(trusted.client(lb, &HeaderMap::new()), lb);
        assert_eq!(trusted.client(lb, &headers(&["unknown"])), lb);
        assert_eq!(
            trusted.client(lb, &headers(&["nonsense, 10.9.9.9"])),
            ip("10.9.9.9")
        );
        // IPv6; a dual-stack listener's view of an IPv4 proxy; ports.
        assert_eq!(
            trusted.client(ip("fd00::1"), &headers(&["2001:db8::5"])),
            ip("2001:db8::5")
        );
        let mapped = ip("::ffff:10.1.2.3");
        let with_port = headers(&["198.51.100.1:5678"]);
        assert_eq!(trusted.client(mapped, &with_port), ip("198.51.100.1"));
        let bracketed = headers(&["[2001:db8::6]:443"]);
        assert_eq!(trusted.client(lb, &bracketed), ip("2001:db8::6"));
        // None configured: the peer, whatever the header says.
        let none = TrustedProxies::parse(" ").unwrap();
        assert_eq!(none.client(lb, &forwarded), lb);
    }

    #[test]
    fn entries_are_addresses_or_networks() {
        assert!(TrustedProxies::parse("10.0.0.0/8,::1").is_ok());
        let error = TrustedProxies::parse("10.0.0.0/8, proxy.internal").unwrap_err();
        assert!(error.contains("proxy.internal"), "{error}");
        assert!(TrustedProxies::parse("10.0.0.0/33").is_err());
    }
}
