//! The processes `sedaro-nano` runs as, wired together from the crates: the service
//! (`serve`: log, cache, engine, web state, listener, shutdown on a signal), a worker
//! of a cluster, and a Kubernetes pod (which is one or the other). The binary parses
//! its flags and calls these.

use std::path::PathBuf;
use std::time::Duration;

use std::sync::Arc;

use clap::Args;
use nano_pipeline::engine::{Engine, EngineConfig, Network};
use nano_pipeline::screening;
use nano_pipeline::screening::windows::Workers;
use nano_store::Log;
use nano_web::config::at_least_one;
use nano_web::ServeConfig;

use crate::hostfile::{Hostfile, HostfileError};
use crate::mesh::MeshError;
use crate::pod::{Pod, PodError};

/// What can stop a process from starting or running.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error("--process {0} needs a --hostfile")]
    NoHostfile(usize),
    #[error("a worker needs the cluster's --hostfile")]
    WorkerWithoutHostfile,
    #[error("process 0 is the one that propagates or serves; start workers as processes 1 and up")]
    WorkerAsProcessZero,
    #[error("serve runs as process 0 of its cluster; start the others with `sedaro-nano worker`")]
    ServeNotProcessZero,
    #[error("cannot read the hostfile {path}")]
    ReadHostfile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("in {path}")]
    ParseHostfile {
        path: PathBuf,
        #[source]
        source: HostfileError,
    },
    #[error(transparent)]
    Hostfile(#[from] HostfileError),
    #[error(transparent)]
    Mesh(#[from] MeshError),
    #[error(transparent)]
    Pod(#[from] PodError),
    #[error("cannot write the hostfile to {path}")]
    WriteHostfile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot serve the health endpoint on {address}")]
    Health {
        address: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot listen on {address}")]
    Listen {
        address: String,
        #[source]
        source: std::io::Error,
    },
    /// The async runtime, or the server on it, failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Config(#[from] nano_web::config::ConfigError),
    #[error(transparent)]
    Store(#[from] nano_store::Error),
    #[error(transparent)]
    Engine(#[from] nano_pipeline::Error),
}

/// How this process takes part in the dataflow.
#[derive(Debug, Clone, Args)]
pub struct Placement {
    /// Worker threads in this process (default: one per core).
    #[arg(long, value_name = "W", value_parser = at_least_one::<usize>("worker"))]
    pub workers: Option<usize>,

    /// The cluster's processes, one host:port per line in process order; this
    /// process's own line may be a bind address such as 0.0.0.0:7000. Without it, the
    /// dataflow runs in this process alone.
    #[arg(long, value_name = "FILE", env = "NANO_HOSTFILE")]
    pub hostfile: Option<PathBuf>,

    /// This process's index in the hostfile.
    #[arg(long, value_name = "I", default_value_t = 0, env = "NANO_PROCESS")]
    pub process: usize,

    /// Seconds to wait for every peer of the hostfile to connect.
    #[arg(long, value_name = "SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    pub peer_timeout: u64,
}

impl Placement {
    /// Worker threads in this process: `--workers`, else one per core.
    pub fn workers(&self) -> usize {
        self.workers
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
    }

    /// The hostfile and this process's sockets to its peers, when there is a hostfile
    /// (a process that loses a peer from then on exits: [`crate::failstop`]).
    pub fn network(&self) -> Result<Option<Network>, ProcessError> {
        Ok(self.networks(1)?.map(|mut meshes| meshes.remove(0)))
    }

    /// [`Placement::network`] with `channels` meshes between the processes, one for
    /// each timely computation they run side by side (`serve` and `worker`: the
    /// engine's, then the screenings'), in that order.
    pub fn networks(&self, channels: usize) -> Result<Option<Vec<Network>>, ProcessError> {
        let Some(path) = &self.hostfile else {
            if self.process != 0 {
                return Err(ProcessError::NoHostfile(self.process));
            }
            return Ok(None);
        };
        let text = std::fs::read_to_string(path).map_err(|source| ProcessError::ReadHostfile {
            path: path.clone(),
            source,
        })?;
        let hosts = Hostfile::parse(&text).map_err(|source| ProcessError::ParseHostfile {
            path: path.clone(),
            source,
        })?;
        hosts.check_process(self.process)?;
        crate::failstop::install(hosts.addresses().to_vec());
        let timeout = Duration::from_secs(self.peer_timeout);
        let meshes =
            crate::mesh::connect_channels(&hosts, self.process, self.workers(), channels, timeout)?;
        Ok(Some(
            meshes
                .into_iter()
                .map(|sockets| Network {
                    process: self.process,
                    sockets,
                })
                .collect(),
        ))
    }

    /// The engine's configuration for process 0 of this placement: its workers, its
    /// peers (connected now, when there is a hostfile: `sedaro-nano worker`s),
    /// `block` iterations a block, committing to `log`, its blocks in flight bounded
    /// by `blocks_bytes`; and, in a cluster, the windowed screenings' workers on
    /// every process, over the second mesh ([`SERVE_CHANNELS`]). The caller keeps
    /// them as long as the cluster runs: dropped or stopped, the peers' side ends.
    pub fn engine_config(
        &self,
        block: u64,
        log: Option<Log>,
        blocks_bytes: u64,
    ) -> Result<(EngineConfig, Option<Workers>), ProcessError> {
        let (engine, screenings) = match self.networks(SERVE_CHANNELS)? {
            Some(mut meshes) => {
                let engine = meshes.remove(0);
                let workers = Workers::start(self.workers(), Some(meshes.remove(0)))
                    .map_err(nano_pipeline::Error::from)?;
                (Some(engine), Some(workers))
            }
            None => (None, None),
        };
        let config = EngineConfig {
            network: engine,
            blocks_bytes,
            ..EngineConfig::single_process(self.workers(), block, log)
        };
        Ok((config, screenings))
    }
}

/// The meshes `serve` and `worker` make: the engine's, then the windowed screenings'.
pub const SERVE_CHANNELS: usize = 2;

/// Works as process 1 or up of a cluster until the cluster shuts down: the engine's
/// blocks and the service's windowed screenings.
pub fn worker(placement: &Placement, block: u64) -> Result<(), ProcessError> {
    if placement.hostfile.is_none() {
        return Err(ProcessError::WorkerWithoutHostfile);
    }
    if placement.process == 0 {
        return Err(ProcessError::WorkerAsProcessZero);
    }
    let mut meshes = placement
        .networks(SERVE_CHANNELS)?
        .expect("checked: there is a hostfile");
    let (engine, screenings) = (meshes.remove(0), meshes.remove(0));
    tracing::info!(process = placement.process, "worker joined the cluster");
    let workers = placement.workers();
    // The screenings' side on threads of its own, until process 0 stops them.
    let screening = std::thread::Builder::new()
        .name("nano-screenings".into())
        .spawn(move || screening::windows::run_peer(workers, screenings))?;
    nano_pipeline::engine::run_peer(workers, engine, block)?;
    match screening.join() {
        Ok(result) => result.map_err(nano_pipeline::Error::from)?,
        Err(_) => tracing::error!("the screenings' thread panicked"),
    }
    tracing::info!(process = placement.process, "the cluster shut down");
    Ok(())
}

/// Serves the web pages and the API as process 0 until Ctrl-C or SIGTERM, then lets
/// the running blocks reach the log; whatever still runs when the shutdown grace has
/// passed is ended by the [`watchdog`].
pub fn serve(config: &ServeConfig, placement: &Placement) -> Result<(), ProcessError> {
    if placement.process != 0 {
        return Err(ProcessError::ServeNotProcessZero);
    }
    // Before any thread starts (see its doc).
    nano_web::budget::limit_allocator_arenas();
    let log = Log::open(&config.data, config.log_options())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .max_blocking_threads(config.blocking_threads)
        .enable_all()
        .build()?;
    let cache = {
        // The Redis connection manager needs the runtime to exist.
        let _entered = runtime.enter();
        config.cache()?
    };
    let (engine_config, screenings) = placement.engine_config(
        config.block,
        Some(log.clone()),
        config.budget().engine_blocks(),
    )?;
    let processes = engine_config
        .network
        .as_ref()
        .map_or(1, |mesh| mesh.sockets.len());
    let engine = Engine::start(engine_config)?;
    let mut state =
        nano_web::AppState::new(engine.handle(), log.clone(), cache.clone(), config.limits())
            .with_access(config.access())
            .with_budget(config.budget())
            .with_screen_workers(placement.workers());
    let cluster_screenings = screenings.map(|workers| {
        Arc::new(nano_web::screenings::ClusterWorkers::new(
            workers, processes,
        ))
    });
    if let Some(cluster) = &cluster_screenings {
        state = state.with_cluster_screenings(Arc::clone(cluster));
    }
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(&config.listen)
            .await
            .map_err(|source| ProcessError::Listen {
                address: config.listen.clone(),
                source,
            })?;
        let address = listener.local_addr()?;
        tracing::info!(
            log = %config.data.display(),
            cache = if cache.is_memory() { "in-process" } else { "Redis" },
            "serving on http://{address}/; open http://{address}/propagate/2000"
        );
        let grace = config.limits().shutdown_grace;
        let watched = log.clone();
        let shutdown = async move {
            shutdown_signal().await;
            watchdog(grace, watched);
        };
        nano_web::serve(listener, state, shutdown).await?;
        Ok::<(), ProcessError>(())
    })?;
    tracing::info!(
        "stopping; running blocks reach the log, unfinished runs resume on the next start"
    );
    if let Some(cluster) = cluster_screenings {
        // The peers' screenings end with ours (after the one under way, if any).
        if let Err(e) = cluster.stop() {
            tracing::warn!(error = %e, "the cluster's screenings did not stop cleanly");
        }
    }
    engine.shutdown()?;
    // A blocking read still under way belongs to a client that is gone: do not wait.
    runtime.shutdown_timeout(std::time::Duration::from_millis(500));
    // What was kept without a flush (screenings, series) reaches the disk now: the
    // watchdog holds a handle of the log, so dropping ours would not flush it.
    if let Err(e) = log.flush() {
        tracing::warn!(error = %e, "the log's last flush failed; derived data is computed again");
    }
    Ok(())
}

/// The exit status of a `serve` that did not stop within its grace after SIGTERM or
/// Ctrl-C (a computation that would not end, a client that would not let go): the
/// watchdog ended it.
pub const EXIT_GRACE_PASSED: i32 = 4;

/// Ends the process once `grace` has passed since the shutdown signal, if it has not
/// ended by itself: a worker thread inside a computation cannot be interrupted, and
/// the engine waits for its round. What the log holds was flushed when each round
/// was committed; the watchdog flushes once more (for at most a tenth of the grace,
/// within it), says why on stderr, and exits with [`EXIT_GRACE_PASSED`]. Unfinished
/// runs resume from the log on the next start, as after any stop.
fn watchdog(grace: Duration, log: Log) {
    let spawned = std::thread::Builder::new()
        .name("nano-watchdog".into())
        .spawn(move || {
            let flushing = (grace / 10).min(Duration::from_millis(500));
            std::thread::sleep(grace.saturating_sub(flushing));
            tracing::error!(
                grace_s = grace.as_secs_f64(),
                status = EXIT_GRACE_PASSED,
                "the service did not stop within its shutdown grace (a computation is still running); exiting, unfinished runs resume from the log on the next start"
            );
            // A flush stuck behind the writer must not hold the exit past the grace.
            let (done, flushed) = std::sync::mpsc::channel();
            let _ = std::thread::Builder::new()
                .name("nano-last-flush".into())
                .spawn(move || {
                    let _ = log.flush();
                    let _ = done.send(());
                });
            let _ = flushed.recv_timeout(flushing);
            std::process::exit(EXIT_GRACE_PASSED);
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "no shutdown watchdog: a stuck computation may hold the process past its grace");
    }
}

/// A pod of the Kubernetes StatefulSet: where it is in the cluster.
#[derive(Debug, Clone)]
pub struct PodPlacement<'a> {
    /// Replicas of the StatefulSet, as given.
    pub replicas: &'a str,
    /// The headless Service through which the pods reach each other.
    pub peer_service: &'a str,
    /// The port of the pods' timely mesh.
    pub peer_port: u16,
    /// Each pod's own mesh port, by ordinal, when the pods share one network (empty:
    /// all use `peer_port`).
    pub peer_ports: &'a [u16],
    /// The address this pod's mesh listens on.
    pub peer_bind: &'a str,
    /// This pod's name, if given; else `HOSTNAME`.
    pub pod_name: Option<&'a str>,
    /// Where the rendered hostfile is written.
    pub hostfile_out: &'a std::path::Path,
}

/// Runs as a pod: the process index from the pod's ordinal, the hostfile from the
/// replica count; ordinal 0 serves, the others work (with a health endpoint on
/// `--listen` for the probes).
pub fn pod(
    config: &ServeConfig,
    placement: &Placement,
    pod: &PodPlacement<'_>,
) -> Result<(), ProcessError> {
    let hostname = std::env::var("HOSTNAME").ok();
    let identity = Pod::identify(pod.pod_name, hostname.as_deref(), pod.replicas)?;
    let hostfile = identity.hostfile(
        pod.peer_service,
        pod.peer_bind,
        pod.peer_port,
        pod.peer_ports,
    )?;
    std::fs::write(pod.hostfile_out, hostfile).map_err(|source| ProcessError::WriteHostfile {
        path: pod.hostfile_out.to_path_buf(),
        source,
    })?;
    let placement = Placement {
        hostfile: Some(pod.hostfile_out.to_path_buf()),
        process: identity.ordinal,
        ..placement.clone()
    };
    tracing::info!(
        statefulset = %identity.statefulset,
        ordinal = identity.ordinal,
        replicas = identity.replicas,
        "this pod is process {} of {}",
        identity.ordinal,
        identity.replicas
    );
    if identity.ordinal == 0 {
        serve(config, &placement)
    } else {
        let health =
            crate::health::serve(&config.listen).map_err(|source| ProcessError::Health {
                address: config.listen.clone(),
                source,
            })?;
        tracing::info!("health endpoint on http://{health}/healthz");
        worker(&placement, config.block)
    }
}

/// Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
}
