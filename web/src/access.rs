//! Who may start computation: an optional bearer token, and a per-client rate limit on
//! new runs.

use std::collections::HashMap;
use std::net::IpAddr;
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
            buckets: Mutex::default(),
        }
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
            .and_then(|v| v.strip_prefix("Bearer "))
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
