//! The hot cache of finished runs: Redis when configured, in-process otherwise.
//!
//! Keys are namespaced and versioned (`nano:v1:run:{seed}:{n}` for a run's document,
//! `nano:v1:series:{seed}:{n}:{points}` for the page's decimated series of it). In Redis a value is
//! the run's JSON document compressed with LZ4, and one larger than
//! [`MAX_VALUE_BYTES`] compressed is not cached, so one huge run cannot evict the
//! rest; the in-process cache keeps documents as they are (up to
//! [`MAX_MEMORY_DOCUMENT`]), so a hit is served without a copy. Redis failures never fail a request: a read that fails is a miss, a write that
//! fails is skipped, and [`Cache::status`] says the cache is degraded until Redis
//! answers again (the connection manager reconnects by itself).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::AsyncCommands;

/// The largest compressed document Redis keeps.
pub const MAX_VALUE_BYTES: usize = 8 << 20;

/// The largest document the in-process cache keeps.
pub const MAX_MEMORY_DOCUMENT: usize = 64 << 20;

/// How long a Redis command may take before it counts as failed.
const REDIS_TIMEOUT: Duration = Duration::from_millis(300);

/// The cache key of the first `n` iterations of seed `seed`.
pub fn key(seed: u64, n: u64) -> String {
    format!("nano:v1:run:{seed}:{n}")
}

/// The cache key of the page's series of the first `n` iterations of seed `seed`, at
/// most `points` points per agent.
pub fn series_key(seed: u64, n: u64, points: usize) -> String {
    format!("nano:v1:series:{seed}:{n}:{points}")
}

/// Where finished runs are kept hot.
#[derive(Clone)]
pub enum Cache {
    Memory(moka::sync::Cache<String, Bytes>),
    Redis(Arc<RedisCache>),
}

/// A Redis cache and what it last did.
pub struct RedisCache {
    manager: ConnectionManager,
    ttl: Duration,
    healthy: AtomicBool,
    last_error: Mutex<String>,
}

/// How the cache is doing, for `/readyz`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheStatus {
    Memory,
    RedisOk,
    RedisDegraded(String),
}

impl Cache {
    /// An in-process cache holding at most `bytes` of documents.
    pub fn memory(bytes: u64, ttl: Duration) -> Cache {
        Cache::Memory(
            moka::sync::Cache::builder()
                .max_capacity(bytes)
                .weigher(|_key: &String, value: &Bytes| value.len().try_into().unwrap_or(u32::MAX))
                .time_to_live(ttl)
                .build(),
        )
    }

    /// A Redis cache at `url` (`redis://` or `rediss://`, password in the URL). The
    /// connection is made lazily: a Redis that is down at start is a degraded cache,
    /// not a failed start.
    pub fn redis(url: &str, ttl: Duration) -> Result<Cache, redis::RedisError> {
        Self::redis_with_ca(url, ttl, None)
    }

    /// The same, trusting the PEM certificate authority `ca` for `rediss://` (instead
    /// of the system's roots): for a Redis with a private CA.
    pub fn redis_with_ca(
        url: &str,
        ttl: Duration,
        ca: Option<Vec<u8>>,
    ) -> Result<Cache, redis::RedisError> {
        let client = match ca {
            Some(root_cert) => redis::Client::build_with_tls(
                url,
                redis::TlsCertificates {
                    client_tls: None,
                    root_cert: Some(root_cert),
                },
            )?,
            None => redis::Client::open(url)?,
        };
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(REDIS_TIMEOUT))
            .set_response_timeout(Some(REDIS_TIMEOUT))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_secs(1));
        let manager = ConnectionManager::new_lazy_with_config(client, config)?;
        Ok(Cache::Redis(Arc::new(RedisCache {
            manager,
            ttl,
            healthy: AtomicBool::new(true),
            last_error: Mutex::new(String::new()),
        })))
    }

    /// The document under `key`, if cached (and, from Redis, undamaged).
    pub async fn get(&self, key: &str) -> Option<Bytes> {
        match self {
            Cache::Memory(cache) => cache.get(key),
            Cache::Redis(redis) => {
                let mut conn = redis.manager.clone();
                let result =
                    tokio::time::timeout(REDIS_TIMEOUT, conn.get::<_, Option<Vec<u8>>>(key)).await;
                redis
                    .record(result)
                    .flatten()
                    .and_then(|v| decompress(&v))
                    .map(Bytes::from)
            }
        }
    }

    /// Keeps `document` under `key`, unless it is over the cap.
    pub async fn put(&self, key: String, document: Bytes) {
        match self {
            Cache::Memory(cache) => {
                if document.len() <= MAX_MEMORY_DOCUMENT {
                    cache.insert(key, document);
                }
            }
            Cache::Redis(redis) => {
                let value = compress(&document);
                if value.len() > MAX_VALUE_BYTES {
                    return;
                }
                let mut conn = redis.manager.clone();
                let seconds = redis.ttl.as_secs().max(1);
                let set = conn.set_ex::<_, _, ()>(key, value, seconds);
                let result = tokio::time::timeout(REDIS_TIMEOUT, set).await;
                redis.record(result);
            }
        }
    }

    /// Whether the cache works, for `/readyz`. For Redis this asks it (`PING`).
    pub async fn status(&self) -> CacheStatus {
        match self {
            Cache::Memory(_) => CacheStatus::Memory,
            Cache::Redis(redis) => {
                let mut conn = redis.manager.clone();
                let ping = tokio::time::timeout(
                    REDIS_TIMEOUT,
                    redis::cmd("PING").query_async::<String>(&mut conn),
                )
                .await;
                match redis.record(ping) {
                    Some(_) => CacheStatus::RedisOk,
                    None => CacheStatus::RedisDegraded(
                        redis
                            .last_error
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .clone(),
                    ),
                }
            }
        }
    }

    /// Whether this is the in-process cache.
    pub fn is_memory(&self) -> bool {
        matches!(self, Cache::Memory(_))
    }
}

impl RedisCache {
    /// Notes how a Redis command went; `Some` with its value when it worked.
    fn record<T>(
        &self,
        result: Result<redis::RedisResult<T>, tokio::time::error::Elapsed>,
    ) -> Option<T> {
        let error = match result {
            Ok(Ok(value)) => {
                self.healthy.store(true, Ordering::Relaxed);
                return Some(value);
            }
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!("no answer within {REDIS_TIMEOUT:?}"),
        };
        self.healthy.store(false, Ordering::Relaxed);
        *self.last_error.lock().unwrap_or_else(|e| e.into_inner()) = error;
        None
    }
}

/// Compresses a document for the cache.
pub fn compress(document: &[u8]) -> Vec<u8> {
    lz4_flex::compress_prepend_size(document)
}

/// Decompresses a cached document; `None` if it is damaged.
pub fn decompress(value: &[u8]) -> Option<Vec<u8>> {
    lz4_flex::decompress_size_prepended(value).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_round_trip_and_damage_is_refused() {
        let doc = br#"{"model":"nano","n":3,"records":[[0.0,0.01,"Planet"]]}"#.repeat(50);
        let packed = compress(&doc);
        assert!(packed.len() < doc.len() / 4);
        assert_eq!(decompress(&packed).unwrap(), doc);
        assert!(decompress(&packed[..packed.len() / 2]).is_none());
    }

    #[tokio::test]
    async fn the_memory_cache_keeps_values_under_its_cap() {
        let cache = Cache::memory(256 << 20, Duration::from_secs(60));
        cache.put(key(1, 10), Bytes::from(vec![1; 100])).await;
        cache
            .put(key(2, 10), Bytes::from(vec![1; MAX_MEMORY_DOCUMENT + 1]))
            .await;
        assert_eq!(cache.get(&key(1, 10)).await.unwrap().len(), 100);
        assert!(
            cache.get(&key(2, 10)).await.is_none(),
            "over the cap, not kept"
        );
        assert_eq!(cache.status().await, CacheStatus::Memory);
    }
}
