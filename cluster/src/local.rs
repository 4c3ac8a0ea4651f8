//! `local-cluster`: the cluster's topology as processes on 127.0.0.1, supervised
//! (`make cluster-local`). Process 0 serves HTTP, the others work; when any process
//! dies all restart and the runs resume from the log.
//!
//! The cache: the Redis given with `--redis`; else a private `redis-server` that this
//! command starts and waits for (it must answer `PING`, within
//! [`READY_WITHIN`](crate::redis_server::READY_WITHIN)); else, when none can be started,
//! the in-process cache. Which one, and why, is reported ([`Event::Topology`]) before
//! anything starts.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use crate::redis_server::RedisServer;
use crate::supervisor::{self, Supervisor};

/// `local-cluster`'s flags.
#[derive(Debug, Clone, clap::Args)]
pub struct LocalClusterConfig {
    /// Processes in the cluster (process 0 serves HTTP).
    #[arg(long, value_name = "N", env = "WORKERS", default_value_t = 3,
          value_parser = nano_web::config::at_least_one::<usize>("process"))]
    pub processes: usize,

    /// Worker threads per process.
    #[arg(long, value_name = "W", default_value_t = 1,
          value_parser = nano_web::config::at_least_one::<usize>("worker"))]
    pub workers: usize,

    /// Address process 0 serves HTTP on.
    #[arg(long, value_name = "ADDR", default_value = nano_web::config::DEFAULT_LISTEN)]
    pub listen: String,

    /// The log's directory.
    #[arg(long, value_name = "DIR", default_value = nano_web::config::DEFAULT_DATA)]
    pub data: PathBuf,

    /// Redis to use; without it, a private redis-server when one can be started,
    /// otherwise the in-process cache.
    #[arg(long, value_name = "URL", env = "REDIS_URL", hide_env_values = true)]
    pub redis: Option<String>,
}

/// Why the local cluster could not run.
#[derive(Debug, thiserror::Error)]
pub enum LocalClusterError {
    /// Its files (the hostfile, in a directory of its own) could not be written.
    #[error("cannot prepare the local cluster's files in {dir}")]
    Files {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A process could not be started.
    #[error("cannot start the cluster's processes")]
    Spawn(#[source] std::io::Error),
    /// `--redis` (REDIS_URL) is not a URL the service can use: refused before any
    /// process starts (each would refuse it, and the cluster restart them in vain).
    #[error("--redis (REDIS_URL) {url:?} is not a usable redis:// or rediss:// URL: {reason}")]
    RedisUrl { url: String, reason: String },
}

/// The cache the cluster uses, and what to tell the user about it.
enum Cache {
    Given(String),
    Private(RedisServer),
    InProcess(String),
}

impl Cache {
    fn choose(given: Option<&str>) -> Cache {
        match given {
            Some(url) => Cache::Given(url.to_owned()),
            None => match RedisServer::start(None) {
                Ok(server) => Cache::Private(server),
                Err(e) => Cache::InProcess(e.to_string()),
            },
        }
    }

    fn url(&self) -> Option<String> {
        match self {
            Cache::Given(url) => Some(url.clone()),
            Cache::Private(server) => Some(server.url()),
            Cache::InProcess(_) => None,
        }
    }

    fn describe(&self) -> String {
        match self {
            Cache::Given(url) => format!("cache: the Redis given with --redis ({})", redacted(url)),
            Cache::Private(server) => format!(
                "cache: a private redis-server on 127.0.0.1:{} (it answered PING)",
                server.port
            ),
            Cache::InProcess(why) => {
                format!("cache: in-process, one per server process (no private Redis: {why})")
            }
        }
    }
}

/// A Redis URL without its password.
fn redacted(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://***@{}", &url[..scheme], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

/// Free ports on 127.0.0.1, one per process.
fn hostfile_text(processes: usize) -> std::io::Result<String> {
    let listeners = (0..processes)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0"))
        .collect::<std::io::Result<Vec<_>>>()?;
    listeners
        .iter()
        .map(|l| Ok(format!("127.0.0.1:{}\n", l.local_addr()?.port())))
        .collect()
}

/// What the local cluster did, reported to the caller as it happens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The cluster is about to start: its shape, its hostfile, its cache (said with why
    /// it was chosen) and where process 0 serves.
    Topology {
        processes: usize,
        workers: usize,
        hostfile: PathBuf,
        cache: String,
        listen: String,
    },
    /// A process started, or exited and the cluster restarts.
    Supervisor(supervisor::Event),
}

impl std::fmt::Display for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Event::Topology {
                processes,
                workers,
                hostfile,
                cache,
                listen,
            } => write!(
                f,
                "{processes} processes of {workers} workers, hostfile {}; {cache}; http://{listen}/",
                hostfile.display()
            ),
            Event::Supervisor(event) => event.fmt(f),
        }
    }
}

/// Runs the local cluster of `config` with the binary `exe` until `stop` is set,
/// telling `report` what it does; returns how many times it was restarted.
pub fn run(
    config: &LocalClusterConfig,
    exe: &Path,
    stop: Arc<AtomicBool>,
    report: &mut dyn FnMut(Event),
) -> Result<usize, LocalClusterError> {
    if let Some(url) = &config.redis {
        use redis::IntoConnectionInfo;
        if let Err(e) = url.as_str().into_connection_info() {
            return Err(LocalClusterError::RedisUrl {
                url: redacted(url),
                reason: e.to_string(),
            });
        }
    }
    let dir = std::env::temp_dir().join(format!("sedaro-nano-local-{}", std::process::id()));
    let files = |source| LocalClusterError::Files {
        dir: dir.clone(),
        source,
    };
    std::fs::create_dir_all(&dir).map_err(files)?;
    let hostfile = dir.join("hosts");
    std::fs::write(&hostfile, hostfile_text(config.processes).map_err(files)?).map_err(files)?;
    let cache = Cache::choose(config.redis.as_deref());
    report(Event::Topology {
        processes: config.processes,
        workers: config.workers,
        hostfile: hostfile.clone(),
        cache: cache.describe(),
        listen: config.listen.clone(),
    });
    let (exe, redis, config_) = (exe.to_path_buf(), cache.url(), config.clone());
    let hosts = hostfile.clone();
    let mut supervisor = Supervisor::new(config.processes, move |i| {
        let mut command = Command::new(&exe);
        if i == 0 {
            command
                .args(["serve", "--listen", &config_.listen, "--data"])
                .arg(&config_.data);
            // In the environment, not the arguments: the URL may hold a password. An
            // inherited REDIS_URL must not override the choice said above.
            match &redis {
                Some(url) => command.env("REDIS_URL", url),
                None => command.env_remove("REDIS_URL"),
            };
        } else {
            command.arg("worker");
        }
        command.arg("--hostfile").arg(&hosts).args([
            "--process",
            &i.to_string(),
            "--workers",
            &config_.workers.to_string(),
            "--peer-timeout",
            "30",
        ]);
        command
    });
    supervisor.stop = stop;
    let restarts = supervisor
        .run(&mut |event| report(Event::Supervisor(event)))
        .map_err(LocalClusterError::Spawn)?;
    drop(cache);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(restarts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_is_not_repeated() {
        assert_eq!(
            redacted("rediss://:s3cret@redis.example:6380/0"),
            "rediss://***@redis.example:6380/0"
        );
        assert_eq!(
            redacted("redis://127.0.0.1:6379/"),
            "redis://127.0.0.1:6379/"
        );
    }
}
