//! Who may start computation: an optional bearer token, and a per-client rate limit on
//! new runs. The client is the connection's peer address; behind a proxy named in
//! [`TrustedProxies`] (an ingress), it is the address that proxy reports in
//! `X-Forwarded-For`.

use std::collections::HashMap;
use std::net::IpAddr;
use std::str::FromStr;
use std::sync::Mutex;
use std::time::Instant;

use axum::http::{header, HeaderMap};

use crate::error::ApiError;

/// The access rules of the endpoints that can start computation.
pub struct Access {
    /// When set (`NANO_API_TOKEN`), those endpoints need it.
    token: Option<String>,
    /// New runs a client may start per minute.
    per_minute: u32,
    /// Peers whose `X-Forwarded-For` is believed.
    proxies: TrustedProxies,
    buckets: Mutex<HashMap<Option<IpAddr>, Bucket>>,
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Buckets kept at most; past it, the full ones (idle clients) are forgotten.
const MAX_CLIENTS: usize = 10_000;

impl Access {
    /// Rules with an optional token and a limit of `per_minute` new runs per client.
    pub fn new(token: Option<String>, per_minute: u32) -> Self {
        Access {
            token: token.filter(|t| !t.is_empty()),
            per_minute: per_minute.max(1),
            proxies: TrustedProxies::default(),
            buckets: Mutex::default(),
        }
    }

    /// The same rules, believing `X-Forwarded-For` from these proxies.
    pub fn with_trusted_proxies(mut self, proxies: TrustedProxies) -> Self {
        self.proxies = proxies;
        self
    }

    /// The client a request counts against: the connection's `peer`, unless the peer
    /// is a trusted proxy; then `X-Forwarded-For` is read from its right end (the
    /// entry the nearest proxy added) leftwards, past the trusted proxies, and the
    /// first other address is the client. Entries left of it were written by the
    /// client itself and are never believed.
    pub fn client(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> Option<IpAddr> {
        let mut client = peer?;
        if !self.proxies.contains(client) {
            return Some(client);
        }
        let hops = headers
            .get_all("x-forwarded-for")
            .iter()
            .rev()
            .flat_map(|v| v.to_str().unwrap_or("").rsplit(','));
        for hop in hops {
            match hop.trim().parse::<IpAddr>() {
                Ok(address) => {
                    client = address;
                    if !self.proxies.contains(address) {
                        break;
                    }
                }
                // A malformed entry ends what can be believed: the last proxy counts.
                Err(_) => break,
            }
        }
        Some(client)
    }

    /// Checks the token, from `Authorization: Bearer` or (for `EventSource`, which
    /// cannot send headers) the `access_token` query parameter.
    pub fn authorize(
        &self,
        headers: &HeaderMap,
        query_token: Option<&str>,
    ) -> Result<(), ApiError> {
        let Some(expected) = &self.token else {
            return Ok(());
        };
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(bearer)
            .or(query_token);
        match given {
            Some(given) if constant_time_eq(given.as_bytes(), expected.as_bytes()) => Ok(()),
            _ => Err(ApiError::Unauthorized),
        }
    }

    /// Takes one new run from `client`'s allowance (a token bucket refilled at
    /// `per_minute` a minute, holding at most that many).
    pub fn admit(&self, client: Option<IpAddr>) -> Result<(), ApiError> {
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let capacity = f64::from(self.per_minute);
        let rate = capacity / 60.0;
        if buckets.len() >= MAX_CLIENTS {
            buckets
                .retain(|_, b| b.tokens + now.duration_since(b.at).as_secs_f64() * rate < capacity);
        }
        let bucket = buckets.entry(client).or_insert(Bucket {
            tokens: capacity,
            at: now,
        });
        bucket.tokens =
            (bucket.tokens + now.duration_since(bucket.at).as_secs_f64() * rate).min(capacity);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            let retry_after = ((1.0 - bucket.tokens) / rate).ceil().max(1.0) as u64;
            Err(ApiError::RateLimited { retry_after })
        }
    }
}

/// The proxies (addresses or CIDR blocks) whose `X-Forwarded-For` is believed:
/// `--trusted-proxies 10.0.0.0/8,192.168.49.2`. Empty by default: the header is ignored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<(IpAddr, u8)>);

/// A `--trusted-proxies` entry that is neither an address nor a CIDR block.
#[derive(Debug, thiserror::Error)]
#[error("'{entry}' is not an IP address or a CIDR block such as 10.0.0.0/8 ({reason})")]
pub struct BadProxy {
    pub entry: String,
    pub reason: &'static str,
}

impl TrustedProxies {
    /// Whether `address` is one of the proxies.
    pub fn contains(&self, address: IpAddr) -> bool {
        let address = canonical(address);
        self.0.iter().any(|&(net, bits)| match (net, address) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                prefix(u32::from(n).into(), u32::from(a).into(), 32, bits)
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => prefix(u128::from(n), u128::from(a), 128, bits),
            _ => false,
        })
    }
}

/// An IPv4 address seen through an IPv6 socket (`::ffff:a.b.c.d`) is that IPv4 address.
fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
        v4 => v4,
    }
}

/// Whether the first `bits` of `a` and `b` (numbers of `width` bits) agree.
fn prefix(a: u128, b: u128, width: u8, bits: u8) -> bool {
    let shift = u32::from(width - bits);
    bits == 0 || (a >> shift) == (b >> shift)
}

impl FromStr for TrustedProxies {
    type Err = BadProxy;

    /// A comma-separated list; blanks and empty entries are ignored.
    fn from_str(text: &str) -> Result<Self, BadProxy> {
        let mut proxies = Vec::new();
        for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let bad = |reason| BadProxy {
                entry: entry.chars().take(60).collect(),
                reason,
            };
            let (address, bits) = match entry.split_once('/') {
                Some((a, b)) => (a, Some(b)),
                None => (entry, None),
            };
            let address = canonical(
                address
                    .parse::<IpAddr>()
                    .map_err(|_| bad("not an address"))?,
            );
            let width = if address.is_ipv4() { 32 } else { 128 };
            let bits = match bits {
                None => width,
                Some(b) => match b.parse::<u8>() {
                    Ok(b) if b <= width => b,
                    _ => return Err(bad("the prefix length must fit the address")),
                },
            };
            proxies.push((address, bits));
        }
        Ok(TrustedProxies(proxies))
    }
}

/// The credentials of `Authorization: Bearer <token>`; the scheme's case does not matter
/// (RFC 9110, section 11.1).
fn bearer(value: &str) -> Option<&str> {
    let (scheme, credentials) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| credentials.trim_start())
}

/// Who is asking: what [`Access`] needs to decide whether a request may start a run.
#[derive(Debug, Clone, Copy)]
pub struct Caller<'a> {
    /// The request's headers (`Authorization`).
    pub headers: &'a HeaderMap,
    /// The `access_token` query parameter, decoded.
    pub query_token: Option<&'a str>,
    /// The client the request counts against ([`Access::client`]).
    pub address: Option<IpAddr>,
}

/// Compares secrets without stopping at the first difference.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn the_token_is_needed_only_when_set() {
        let open = Access::new(None, 10);
        assert!(open.authorize(&HeaderMap::new(), None).is_ok());
        let closed = Access::new(Some("s3cret".into()), 10);
        assert!(matches!(
            closed.authorize(&HeaderMap::new(), None),
            Err(ApiError::Unauthorized)
        ));
        let mut headers = HeaderMap::new();
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer s3cret"),
        );
        assert!(closed.authorize(&headers, None).is_ok());
        assert!(closed.authorize(&HeaderMap::new(), Some("s3cret")).is_ok());
        assert!(closed.authorize(&HeaderMap::new(), Some("s3cre")).is_err());
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer wrong!"),
        );
        assert!(closed.authorize(&headers, None).is_err());
    }

    #[test]
    fn the_bearer_scheme_is_case_insensitive() {
        let closed = Access::new(Some("k9+Zx/Qw=R2".into()), 10);
        for value in [
            "Bearer k9+Zx/Qw=R2",
            "bearer k9+Zx/Qw=R2",
            "BEARER  k9+Zx/Qw=R2",
        ] {
            let mut headers = HeaderMap::new();
            headers.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
            assert!(closed.authorize(&headers, None).is_ok(), "{value}");
        }
        for value in ["Basic k9+Zx/Qw=R2", "Bearerk9+Zx/Qw=R2", "k9+Zx/Qw=R2"] {
            let mut headers = HeaderMap::new();
            headers.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
            assert!(closed.authorize(&headers, None).is_err(), "{value}");
        }
    }

    #[test]
    fn trusted_proxies_parse_addresses_and_blocks_and_refuse_the_rest() {
        let proxies: TrustedProxies = "10.0.0.0/8, 192.168.49.2,fd00::/8,,".parse().unwrap();
        for yes in ["10.1.2.3", "192.168.49.2", "::ffff:10.0.0.1", "fd12::1"] {
            assert!(proxies.contains(yes.parse().unwrap()), "{yes}");
        }
        for no in ["11.0.0.1", "192.168.49.3", "fe80::1", "127.0.0.1"] {
            assert!(!proxies.contains(no.parse().unwrap()), "{no}");
        }
        assert!("0.0.0.0/0"
            .parse::<TrustedProxies>()
            .unwrap()
            .contains("8.8.8.8".parse().unwrap()));
        for bad in ["10.0.0.0/33", "10.0.0/8", "proxy", "::1/129", "10.0.0.1/x"] {
            let error = bad.parse::<TrustedProxies>().unwrap_err();
            assert!(error.to_string().contains(bad), "{error}");
        }
    }

    #[test]
    fn each_client_gets_its_own_allowance() {
        let access = Access::new(None, 3);
        let (a, b) = (
            Some("10.0.0.1".parse().unwrap()),
            Some("10.0.0.2".parse().unwrap()),
        );
        for _ in 0..3 {
            assert!(access.admit(a).is_ok());
        }
        match access.admit(a) {
            Err(ApiError::RateLimited { retry_after }) => assert!((1..=20).contains(&retry_after)),
            other => panic!("{other:?}"),
        }
        assert!(access.admit(b).is_ok(), "another client is not limited");
    }
}
