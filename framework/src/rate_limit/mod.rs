//! Rate limits: what a route or RPC declares (`#[http_route(POST, "/articles", rate_limit =
//! "100/min")]`), the [`Quota`] it stands for, and the [`RateLimiter`] seam that admits or
//! refuses each request of a client. The core names no transport and no store: the HTTP and
//! gRPC plugins ask the limiter before the handler runs; the cache plugin provides one on Redis
//! (shared by the replicas) or in process, and without a cache the `ratelimit` feature's
//! in-process limiter serves.
//!
//! The algorithm is GCRA (the generic cell rate algorithm, as governor implements it): a
//! quota of `N/period` admits a burst of `N` at once, then one request each `period / N`. Over
//! any window of length `period`, a client gets at most `N` plus the requests replenished
//! during it.

#[cfg(feature = "ratelimit")]
mod local;

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use futures_util::future::BoxFuture;

#[cfg(feature = "ratelimit")]
pub use local::LocalLimiter;

use crate::config::{ConfigError, Settings};
use crate::identity::Principal;

/// `N` requests per `period`: `100/min`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Quota {
    /// Requests per period, at least 1 (and the burst a client may send at once).
    pub limit: u32,
    /// The period, in whole seconds: 1, 60, 3600 or 86400.
    pub period_secs: u32,
}

/// What [`Quota::parse`] refuses.
const SHAPE: &str = "a rate limit is `<requests>/<unit>`: 1 to 1000000 requests per `s`, `min`, \
                     `h` or `d` (`100/min`), or `${KEY}` naming a setting that holds one";

/// The largest `N` of a quota.
const MAX_LIMIT: u32 = 1_000_000;

impl Quota {
    /// Parses `<N>/<unit>`: `N` from 1 to 1 000 000, the unit `s` (`sec`, `second`), `min`
    /// (`m`, `minute`), `h` (`hour`) or `d` (`day`). A `const fn`: the macros check a literal
    /// at compile time with it.
    ///
    /// # Errors
    /// A message saying the shape, for anything else.
    pub const fn parse(spec: &str) -> Result<Quota, &'static str> {
        let bytes = spec.as_bytes();
        let mut i = 0;
        let mut limit: u32 = 0;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            limit = limit
                .saturating_mul(10)
                .saturating_add((bytes[i] - b'0') as u32);
            i += 1;
        }
        if i == 0 || limit == 0 || limit > MAX_LIMIT || i >= bytes.len() || bytes[i] != b'/' {
            return Err(SHAPE);
        }
        let (_, unit) = bytes.split_at(i + 1);
        let period_secs = if eq_any(unit, &[b"s", b"sec", b"second"]) {
            1
        } else if eq_any(unit, &[b"m", b"min", b"minute"]) {
            60
        } else if eq_any(unit, &[b"h", b"hour"]) {
            3600
        } else if eq_any(unit, &[b"d", b"day"]) {
            86_400
        } else {
            return Err(SHAPE);
        };
        Ok(Quota { limit, period_secs })
    }

    /// The period.
    pub fn period(&self) -> Duration {
        Duration::from_secs(u64::from(self.period_secs))
    }

    /// The time one request takes to replenish: `period / limit`.
    pub fn interval(&self) -> Duration {
        self.period() / self.limit.max(1)
    }
}

/// Whether `bytes` is one of `words`.
const fn eq_any(bytes: &[u8], words: &[&[u8]]) -> bool {
    let mut w = 0;
    while w < words.len() {
        let word = words[w];
        if word.len() == bytes.len() {
            let mut i = 0;
            while i < word.len() && word[i] == bytes[i] {
                i += 1;
            }
            if i == word.len() {
                return true;
            }
        }
        w += 1;
    }
    false
}

impl fmt::Display for Quota {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unit = match self.period_secs {
            1 => "s",
            60 => "min",
            3600 => "h",
            _ => "d",
        };
        write!(f, "{}/{unit}", self.limit)
    }
}

/// A route's or RPC's `rate_limit = ".."` as written: a quota, or `${KEY}` naming the setting
/// that holds one (read when the app is created; `check` fails when it is unset or invalid).
/// Built in const context by the macros, which check a literal quota at compile time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// `100/min` or `${KEY}`.
    pub spec: &'static str,
}

impl RateLimit {
    /// `spec`, checked: a compile error (a panic in const context) when it is neither a quota
    /// nor `${KEY}`.
    pub const fn declared(spec: &'static str) -> RateLimit {
        let bytes = spec.as_bytes();
        let from_config = bytes.len() > 3
            && bytes[0] == b'$'
            && bytes[1] == b'{'
            && bytes[bytes.len() - 1] == b'}';
        if !from_config && let Err(message) = Quota::parse(spec) {
            panic!("{}", message);
        }
        RateLimit { spec }
    }

    /// The quota, the setting it names resolved in `settings`.
    ///
    /// # Errors
    /// [`ConfigError::Missing`] for an unset `${KEY}`, [`ConfigError::Invalid`] for a value
    /// that is not a quota.
    pub fn quota(&self, settings: &Settings) -> Result<Quota, ConfigError> {
        let value = settings.resolve(self.spec)?;
        Quota::parse(value.trim()).map_err(|shape| {
            let key = self.spec.trim_start_matches("${").trim_end_matches('}');
            settings.invalid(key, shape)
        })
    }
}

/// One limit in force: its name (the route, `POST /articles`, or the method,
/// `articles.v1.ArticleService/create_article`) and its quota. Each client has its own
/// allowance under each policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// What it limits, as the `RateLimit-Policy` header and the logs name it.
    pub name: String,
    /// How much.
    pub quota: Quota,
}

impl Policy {
    /// The store key of `client`'s allowance under this policy: `rate_limit:{<client>}:<name>`.
    /// The client is the Redis Cluster hash tag, so that clients spread over the slots (a
    /// route's `{id}` would otherwise put every client of the route in one).
    pub fn key(&self, client: &Client) -> String {
        format!("rate_limit:{{{client}}}:{}", self.name)
    }
}

/// Who a limit counts requests of: the verified principal when there is one, else the
/// peer's IP address (IPv6 by its /64 network, which one host commonly holds whole).
#[derive(Debug, Clone)]
pub enum Client {
    /// A principal: its scheme and subject.
    Principal(Principal),
    /// An address.
    Address(IpAddr),
    /// Neither is known (a request that did not come through the framework's listener).
    Unknown,
}

impl Client {
    /// `principal`, else `address`.
    pub fn of(principal: Option<&Principal>, address: Option<IpAddr>) -> Client {
        match (principal, address) {
            (Some(principal), _) => Client::Principal(principal.clone()),
            (None, Some(address)) => Client::Address(network(address)),
            (None, None) => Client::Unknown,
        }
    }
}

/// `address`, an IPv6 one cut to its /64 network (an IPv4 address mapped into IPv6 as itself).
fn network(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V4(_) => address,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(prefix.into())
            }
        },
    }
}

impl fmt::Display for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Client::Principal(principal) => {
                write!(f, "{}:{}", principal.scheme().as_str(), principal.subject())
            }
            Client::Address(address) => write!(f, "ip:{address}"),
            Client::Unknown => f.write_str("unknown"),
        }
    }
}

/// A limiter's answer for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// Whether the request may go on.
    pub admitted: bool,
    /// Requests the client may still send at once after this one.
    pub remaining: u32,
    /// Until the client's whole quota is available again.
    pub reset: Duration,
    /// For a refused request, until the next one would be admitted; zero when admitted.
    pub retry_after: Duration,
}

/// Admits or refuses requests under a [`Policy`]: the component (`dyn RateLimiter`) the cache
/// plugin provides on Redis or in process, and the `ratelimit` feature in process when there
/// is no cache. A service may provide its own.
pub trait RateLimiter: Send + Sync + 'static {
    /// Counts one request of `client` under `policy`. Never fails: a limiter whose store is
    /// unreachable decides by a fallback of its own (and says so in its logs).
    fn check<'a>(&'a self, policy: &'a Policy, client: &'a Client) -> BoxFuture<'a, Decision>;

    /// [`RateLimiter::check`], when the answer is known without waiting (an in-process
    /// limiter); `None` (the default) to wait for `check`.
    fn check_now(&self, policy: &Policy, client: &Client) -> Option<Decision> {
        let _ = (policy, client);
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotas_parse_in_each_unit_and_refuse_anything_else() {
        let q = |limit, period_secs| Ok(Quota { limit, period_secs });
        assert_eq!(Quota::parse("100/min"), q(100, 60));
        assert_eq!(Quota::parse("1/s"), q(1, 1));
        assert_eq!(Quota::parse("5/second"), q(5, 1));
        assert_eq!(Quota::parse("7/m"), q(7, 60));
        assert_eq!(Quota::parse("1000/hour"), q(1000, 3600));
        assert_eq!(Quota::parse("1000000/d"), q(1_000_000, 86_400));
        for bad in [
            "",
            "100",
            "/min",
            "0/min",
            "1000001/s",
            "99999999999999999999/s",
            "100/",
            "100/fortnight",
            "100 /min",
            "100/min ",
            "-1/s",
            "1.5/s",
            "100/MIN",
            "１/s",
        ] {
            assert_eq!(Quota::parse(bad), Err(SHAPE), "{bad:?}");
        }
        assert_eq!(Quota::parse("100/min").unwrap().to_string(), "100/min");
        assert_eq!(
            Quota::parse("100/min").unwrap().interval(),
            Duration::from_millis(600)
        );
    }

    #[test]
    fn a_declared_limit_resolves_a_setting() {
        let settings = Settings::from_pairs([("WRITES", "10/s"), ("BAD", "ten")]);
        let quota = |spec| RateLimit::declared(spec).quota(&settings);
        assert_eq!(quota("5/min").unwrap(), Quota::parse("5/min").unwrap());
        assert_eq!(quota("${WRITES}").unwrap(), Quota::parse("10/s").unwrap());
        let missing = quota("${UNSET}").unwrap_err().to_string();
        assert!(missing.contains("UNSET"), "{missing}");
        let invalid = quota("${BAD}").unwrap_err().to_string();
        assert!(
            invalid.contains("BAD") && invalid.contains("<requests>/<unit>"),
            "{invalid}"
        );
    }

    #[test]
    fn clients_are_principals_else_addresses_and_ipv6_counts_by_its_network() {
        let a: IpAddr = "2001:db8:1:2:3:4:5:6".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::1".parse().unwrap();
        assert_eq!(
            Client::of(None, Some(a)).to_string(),
            Client::of(None, Some(b)).to_string()
        );
        assert_eq!(Client::of(None, Some(a)).to_string(), "ip:2001:db8:1:2::");
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        assert_eq!(Client::of(None, Some(mapped)).to_string(), "ip:192.0.2.1");
        assert_eq!(Client::of(None, None).to_string(), "unknown");
    }
}
