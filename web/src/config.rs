//! `serve`'s configuration, defined once: each field is a flag (and, where a deployment
//! sets it, an environment variable) with its default and help text, and the binary only
//! flattens [`ServeConfig`] into its command line.
//!
//! What the user typed is kept apart from what the service builds from it (ripgrep's
//! low and high arguments): [`ServeConfig`] holds the values as given, and its methods
//! build the parts ([`Limits`], [`Access`], [`Cache`], [`LogOptions`]). A default is
//! written in one place, a `DEFAULT_` constant below, which both the flag and the
//! library's `Default`s use.
//!
//! Adding a setting: a field with `#[arg(long, env = "NANO_...", default_value_t =
//! DEFAULT_..., value_parser = ...)]` and a doc comment (its `--help`), the builder
//! that uses it, a row in the README's table and one in `tests/flags.rs`.
//!
//! ```
//! use clap::Parser;
//! #[derive(Parser)]
//! struct Cli {
//!     #[command(flatten)]
//!     serve: nano_web::ServeConfig,
//! }
//! let cli = Cli::parse_from(["serve", "--max-jobs", "8"]);
//! assert_eq!(cli.serve.limits().max_jobs, 8);
//! assert!(Cli::try_parse_from(["serve", "--max-jobs", "0"]).is_err());
//! ```

use std::path::PathBuf;
use std::time::Duration;

use nano_pipeline::resume;
use nano_store::{LogOptions, Sync};

use crate::access::{Access, TrustedProxies};
use crate::budget::MemoryBudget;
use crate::{Cache, Limits};

/// `--listen`.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// `--data`.
pub const DEFAULT_DATA: &str = "./data";
/// `--cache-ttl`, in seconds.
pub const DEFAULT_CACHE_TTL: u64 = 3600;
/// `--cache-mb`.
pub const DEFAULT_CACHE_MB: u64 = 256;
/// `--max-steps`.
pub const DEFAULT_MAX_STEPS: u64 = 10_000_000;
/// `--max-bodies`: the scenario module's own bound.
pub const DEFAULT_MAX_BODIES: usize = 100_000;
/// `--max-jobs`.
pub const DEFAULT_MAX_JOBS: usize = 64;
/// `--max-versions`.
pub const DEFAULT_MAX_VERSIONS: u32 = 1_000;
/// `--rate-limit`, new runs per client per minute.
pub const DEFAULT_RATE_LIMIT: u32 = 120;
/// `--memory-mb`.
pub const DEFAULT_MEMORY_MB: u64 = 512;

/// `--max-connections`.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;
/// `--header-timeout`, in seconds.
pub const DEFAULT_HEADER_TIMEOUT: u64 = 10;
/// `--send-timeout`, in seconds.
pub const DEFAULT_SEND_TIMEOUT: u64 = 30;
/// `--max-streams`.
pub const DEFAULT_MAX_STREAMS: usize = 256;
/// Blocking reads of the log that streamed downloads make at once (each reads one
/// 64 KiB chunk; the streams take turns).
pub const DEFAULT_STREAM_READS: usize = 4;
/// `--client-share`, in percent.
pub const DEFAULT_CLIENT_SHARE: u8 = 25;
/// `--min-read-rate`, in bytes a second.
pub const DEFAULT_MIN_READ_RATE: u64 = 4096;
/// `--read-grace`, in seconds.
pub const DEFAULT_READ_GRACE: u64 = 10;
/// `--shutdown-grace`, in seconds.
pub const DEFAULT_SHUTDOWN_GRACE: u64 = 2;
/// `--stall-after`, in seconds.
pub const DEFAULT_STALL_AFTER: u64 = 120;
/// `--blocking-threads`: tokio's own default.
pub const DEFAULT_BLOCKING_THREADS: usize = 512;

/// Everything `serve` is told, as flags and environment variables.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeConfig {
    /// Address to listen on.
    #[arg(long, value_name = "ADDR", env = "NANO_LISTEN", default_value = DEFAULT_LISTEN)]
    pub listen: String,

    /// The log's directory (created if missing).
    #[arg(long, value_name = "DIR", env = "NANO_DATA", default_value = DEFAULT_DATA)]
    pub data: PathBuf,

    /// Redis for the hot cache (redis:// or rediss://, password in the URL); without
    /// it, an in-process cache.
    #[arg(long, value_name = "URL", env = "REDIS_URL", hide_env_values = true)]
    pub redis: Option<String>,

    /// A PEM certificate authority to trust for `rediss://` (a Redis with a private CA).
    #[arg(long, value_name = "FILE", env = "NANO_REDIS_CA")]
    pub redis_ca: Option<PathBuf>,

    /// Seconds a finished run stays in the cache.
    #[arg(long, value_name = "SECS", env = "NANO_CACHE_TTL", default_value_t = DEFAULT_CACHE_TTL,
          value_parser = at_least_one::<u64>("second"))]
    pub cache_ttl: u64,

    /// Megabytes the in-process cache may hold; at most an eighth of --memory-mb is used.
    #[arg(long, value_name = "MB", env = "NANO_CACHE_MB", default_value_t = DEFAULT_CACHE_MB)]
    pub cache_mb: u64,

    /// The process's memory budget in MiB (at least 128): sled's cache, the in-process
    /// cache and the reads of the log are sized from it, and a read that does not fit
    /// gets 503 with Retry-After. Set it below the container's memory limit.
    #[arg(long, value_name = "MB", env = "NANO_MEMORY_MB", default_value_t = DEFAULT_MEMORY_MB,
          value_parser = memory_megabytes)]
    pub memory_mb: u64,

    /// The most GiB the log may take on disk (its volume's size less a margin): a run
    /// that would pass it is refused up front with 507 and the reason (at 180 bytes an
    /// iteration); logged runs are still served. Without it, only the volume bounds it.
    #[arg(long, value_name = "GB", env = "NANO_MAX_LOG_GB", value_parser = gigabytes)]
    pub max_log_gb: Option<f64>,

    /// The largest n a request may ask for.
    #[arg(long, value_name = "N", env = "NANO_MAX_STEPS", default_value_t = DEFAULT_MAX_STEPS,
          value_parser = at_least_one::<u64>("iteration"))]
    pub max_steps: u64,

    /// The most bodies an orbit scenario posted to `/api/runs` may have (listed and
    /// generated by Walker together); more is a 400 naming `scenario.bodies`.
    #[arg(long, value_name = "N", env = "NANO_MAX_BODIES", default_value_t = DEFAULT_MAX_BODIES,
          value_parser = at_least_one::<usize>("body"))]
    pub max_bodies: usize,

    /// Jobs in flight beyond which a request for a new run gets 503 with Retry-After.
    #[arg(long, value_name = "J", env = "NANO_MAX_JOBS", default_value_t = DEFAULT_MAX_JOBS,
          value_parser = at_least_one::<usize>("job"))]
    pub max_jobs: usize,

    /// The most versions a run may have after version 0: one more manoeuvre is a 409
    /// naming the limit (each version is read through by every read of the run).
    #[arg(long, value_name = "V", env = "NANO_MAX_VERSIONS", default_value_t = DEFAULT_MAX_VERSIONS,
          value_parser = at_least_one::<u32>("version"))]
    pub max_versions: u32,

    /// Iterations per block: the unit in which runs are logged and made durable.
    #[arg(long, value_name = "B", env = "NANO_BLOCK", default_value_t = resume::DEFAULT_BLOCK,
          value_parser = at_least_one::<u64>("iteration"))]
    pub block: u64,

    /// When set, the endpoints that can start computation need it as a bearer token
    /// (`Authorization: Bearer <token>`; the page takes it from `#token=` in its URL).
    #[arg(
        long,
        value_name = "TOKEN",
        env = "NANO_API_TOKEN",
        hide_env_values = true
    )]
    pub api_token: Option<String>,

    /// New runs one client (IP address) may start per minute; past it, 429.
    #[arg(long, value_name = "N", env = "NANO_RATE_LIMIT", default_value_t = DEFAULT_RATE_LIMIT,
          value_parser = at_least_one::<u32>("run a minute"))]
    pub rate_limit: u32,

    /// Proxies (addresses or CIDR blocks, comma-separated) whose `X-Forwarded-For`
    /// names the client for the rate limit, such as an ingress; from any other peer the
    /// header is ignored.
    #[arg(
        long,
        value_name = "LIST",
        env = "NANO_TRUSTED_PROXIES",
        default_value = ""
    )]
    pub trusted_proxies: TrustedProxies,

    /// When the log is flushed: `always` (after every block), `batch` (after each
    /// group of blocks written together), or `never` (sled flushes about every half
    /// second; a crash may lose the latest blocks).
    #[arg(long, value_name = "MODE", env = "NANO_SYNC", default_value_t = Sync::Batch)]
    pub sync: Sync,

    /// How log lines are written to stderr: `text` (one readable line each) or `json`
    /// (one object per line, for a cluster's log collector).
    #[arg(long, value_name = "FORMAT", env = "NANO_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Connections open at once; further clients wait to be accepted until one closes.
    /// Keep it below the process's open-file limit (`ulimit -n`).
    #[arg(long, value_name = "N", env = "NANO_MAX_CONNECTIONS", default_value_t = DEFAULT_MAX_CONNECTIONS,
          value_parser = at_least_one::<usize>("connection"))]
    pub max_connections: usize,

    /// Seconds a client may take to send a request's headers; also how long a
    /// keep-alive connection may stay idle. Slower clients are disconnected.
    #[arg(long, value_name = "SECS", env = "NANO_HEADER_TIMEOUT", default_value_t = DEFAULT_HEADER_TIMEOUT,
          value_parser = at_least_one::<u64>("second"))]
    pub header_timeout: u64,

    /// Seconds a response may wait on a client that reads nothing (a download, a
    /// progress stream) before its connection is dropped.
    #[arg(long, value_name = "SECS", env = "NANO_SEND_TIMEOUT", default_value_t = DEFAULT_SEND_TIMEOUT,
          value_parser = at_least_one::<u64>("second"))]
    pub send_timeout: u64,

    /// Progress streams and streamed downloads open at once; beyond, 503 with
    /// Retry-After.
    #[arg(long, value_name = "N", env = "NANO_MAX_STREAMS", default_value_t = DEFAULT_MAX_STREAMS,
          value_parser = at_least_one::<usize>("stream"))]
    pub max_streams: usize,

    /// The most one client (an address, as the rate limit counts it) may hold, in
    /// percent, of the open streams (--max-streams) and of the memory for reads
    /// (downloads); past it, 429 with Retry-After while other clients are served.
    #[arg(long, value_name = "PERCENT", env = "NANO_CLIENT_SHARE", default_value_t = DEFAULT_CLIENT_SHARE,
          value_parser = clap::value_parser!(u8).range(1..=100))]
    pub client_share: u8,

    /// Bytes a second below which a client reading a response (a download, a stream)
    /// is dropped, once it has read that slowly for --read-grace seconds during which the
    /// server was waiting on it; 0 for no minimum. A stream with nothing to send is
    /// not slow.
    #[arg(long, value_name = "BYTES", env = "NANO_MIN_READ_RATE", default_value_t = DEFAULT_MIN_READ_RATE)]
    pub min_read_rate: u64,

    /// Seconds a client may read below --min-read-rate before it is dropped.
    #[arg(long, value_name = "SECS", env = "NANO_READ_GRACE", default_value_t = DEFAULT_READ_GRACE,
          value_parser = at_least_one::<u64>("second"))]
    pub read_grace: u64,

    /// Seconds open connections get to finish after SIGTERM or Ctrl-C; then they are
    /// closed and the process stops (running blocks still reach the log).
    #[arg(long, value_name = "SECS", env = "NANO_SHUTDOWN_GRACE", default_value_t = DEFAULT_SHUTDOWN_GRACE,
          value_parser = at_least_one::<u64>("second"))]
    pub shutdown_grace: u64,

    /// Seconds without a committed round, with runs in flight, after which `/readyz`
    /// says the engine is stuck (503 with the reason): a round that takes longer
    /// looks stuck to every client waiting on it.
    #[arg(long, value_name = "SECS", env = "NANO_STALL_AFTER", default_value_t = DEFAULT_STALL_AFTER,
          value_parser = at_least_one::<u64>("second"))]
    pub stall_after: u64,

    /// Threads for blocking work (reads of the log, starting jobs), shared by all
    /// clients: no client holds one for longer than one bounded read, so a small pool
    /// serves any number of clients (tests run with few to show it).
    #[arg(long, value_name = "N", env = "NANO_BLOCKING_THREADS", default_value_t = DEFAULT_BLOCKING_THREADS,
          value_parser = at_least_one::<usize>("thread"))]
    pub blocking_threads: usize,
}

/// `--log-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// One readable line per event.
    #[default]
    Text,
    /// One JSON object per event.
    Json,
}

/// What the service could not build from its configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// `--redis-ca` could not be read.
    #[error("--redis-ca {path}: cannot read the certificate authority")]
    RedisCa {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// `--redis-ca` was given for a connection that does not use TLS.
    #[error("--redis-ca is for a rediss:// (TLS) URL; --redis is not one")]
    RedisCaWithoutTls,
    /// `--redis` is not a Redis URL the client accepts (the URL is not repeated: it
    /// may hold a password).
    #[error("--redis (REDIS_URL) is not a usable redis:// or rediss:// URL")]
    RedisUrl(#[source] redis::RedisError),
}

impl ServeConfig {
    /// The service's limits.
    pub fn limits(&self) -> Limits {
        Limits {
            max_steps: self.max_steps,
            max_bodies: self.max_bodies,
            max_jobs: self.max_jobs,
            max_connections: self.max_connections,
            header_timeout: Duration::from_secs(self.header_timeout),
            send_timeout: Duration::from_secs(self.send_timeout),
            max_streams: self.max_streams,
            client_share: self.client_share,
            min_read_rate: self.min_read_rate,
            read_grace: Duration::from_secs(self.read_grace),
            shutdown_grace: Duration::from_secs(self.shutdown_grace),
            stall_after: Duration::from_secs(self.stall_after),
            max_versions: self.max_versions,
            ..Limits::default()
        }
    }

    /// The access rules: the token, and the rate limit per client.
    pub fn access(&self) -> Access {
        Access::new(self.api_token.clone(), self.rate_limit)
            .with_trusted_proxies(self.trusted_proxies.clone())
    }

    /// The memory budget (`--memory-mb`).
    pub fn budget(&self) -> MemoryBudget {
        MemoryBudget::megabytes(self.memory_mb).expect("--memory-mb is checked when parsed")
    }

    /// How the log is opened: sled's cache from the budget, the quota from
    /// `--max-log-gb`.
    pub fn log_options(&self) -> LogOptions {
        LogOptions {
            sync: self.sync,
            cache_bytes: self.budget().sled_cache(),
            max_bytes: self.max_log_gb.map(|gb| (gb * (1u64 << 30) as f64) as u64),
        }
    }

    /// The cache: Redis at `--redis` (trusting `--redis-ca` when given), else an
    /// in-process one of `--cache-mb`. Call it inside a tokio runtime (the Redis
    /// connection manager needs one); the connection itself is made lazily, so a Redis
    /// that is down makes a degraded cache, not a failed start.
    pub fn cache(&self) -> Result<Cache, ConfigError> {
        let ttl = Duration::from_secs(self.cache_ttl);
        let Some(url) = &self.redis else {
            let bytes = (self.cache_mb << 20).min(self.budget().memory_cache());
            return Ok(Cache::memory(bytes, ttl));
        };
        let ca = match &self.redis_ca {
            None => None,
            Some(_) if !url.starts_with("rediss://") => return Err(ConfigError::RedisCaWithoutTls),
            Some(path) => Some(std::fs::read(path).map_err(|source| ConfigError::RedisCa {
                path: path.clone(),
                source,
            })?),
        };
        Cache::redis_with_ca(url, ttl, ca).map_err(ConfigError::RedisUrl)
    }
}

/// `--memory-mb`: a whole number of MiB, at least the service's minimum.
fn memory_megabytes(text: &str) -> Result<u64, String> {
    let megabytes = text
        .trim()
        .parse::<u64>()
        .map_err(|_| "expected a whole number of MiB, such as 512".to_owned())?;
    MemoryBudget::megabytes(megabytes).map(|_| megabytes)
}

/// `--max-log-gb`: a positive number of GiB.
fn gigabytes(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(gb) if gb.is_finite() && gb > 0.0 => Ok(gb),
        _ => Err("expected a positive number of GiB, such as 9 or 0.5".into()),
    }
}

/// A parser for a count that must be at least 1, whose refusal names the unit
/// (`--max-jobs 0`: "at least 1 job").
pub fn at_least_one<T>(
    unit: &'static str,
) -> impl Fn(&str) -> Result<T, String> + Clone + Send + std::marker::Sync + 'static
where
    T: std::str::FromStr + PartialEq + From<u8> + Send + std::marker::Sync + Clone + 'static,
{
    move |text: &str| match text.trim().parse::<T>() {
        Ok(n) if n == T::from(0) => Err(format!("must be at least 1 {unit}")),
        Ok(n) => Ok(n),
        Err(_) if text.trim_start().starts_with('-') => {
            Err(format!("cannot be negative (at least 1 {unit})"))
        }
        Err(_) => Err(format!("expected a whole number (at least 1 {unit})")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        serve: ServeConfig,
    }

    #[test]
    fn the_library_defaults_are_the_flags_defaults() {
        let cli = Cli::parse_from(["serve"]);
        let (flags, library) = (cli.serve.limits(), Limits::default());
        assert_eq!(flags.max_steps, library.max_steps);
        assert_eq!(flags.max_bodies, library.max_bodies);
        assert_eq!(
            library.max_bodies,
            nano_pipeline::scenario::ScenarioLimits::default().max_bodies
        );
        assert_eq!(flags.max_jobs, library.max_jobs);
        assert_eq!(flags.max_connections, library.max_connections);
        assert_eq!(flags.header_timeout, library.header_timeout);
        assert_eq!(flags.send_timeout, library.send_timeout);
        assert_eq!(flags.max_streams, library.max_streams);
        assert_eq!(flags.client_share, library.client_share);
        assert_eq!(flags.min_read_rate, library.min_read_rate);
        assert_eq!(flags.read_grace, library.read_grace);
        assert_eq!(flags.shutdown_grace, library.shutdown_grace);
        assert_eq!(flags.stall_after, library.stall_after);
        assert_eq!(flags.max_versions, library.max_versions);
    }

    #[test]
    fn a_zero_count_is_refused_in_the_flags_own_words() {
        for (flag, words) in [
            ("--max-jobs", "at least 1 job"),
            ("--max-versions", "at least 1 version"),
            ("--max-steps", "at least 1 iteration"),
            ("--max-bodies", "at least 1 body"),
            ("--block", "at least 1 iteration"),
            ("--rate-limit", "at least 1 run a minute"),
            ("--cache-ttl", "at least 1 second"),
            ("--max-connections", "at least 1 connection"),
            ("--header-timeout", "at least 1 second"),
            ("--max-streams", "at least 1 stream"),
            ("--read-grace", "at least 1 second"),
            ("--blocking-threads", "at least 1 thread"),
        ] {
            let error = Cli::try_parse_from(["serve", flag, "0"])
                .err()
                .unwrap_or_else(|| panic!("{flag} 0 was accepted"))
                .to_string();
            assert!(
                error.contains(flag) && error.contains(words) && !error.contains("worker"),
                "{flag} 0: {error}"
            );
        }
    }

    #[test]
    fn a_ca_for_a_plain_redis_url_is_refused() {
        let cli = Cli::parse_from([
            "serve",
            "--redis",
            "redis://127.0.0.1:1/",
            "--redis-ca",
            "/nonexistent",
        ]);
        assert!(matches!(
            cli.serve.cache(),
            Err(ConfigError::RedisCaWithoutTls)
        ));
    }
}
