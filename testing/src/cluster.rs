//! Clusters for tests: hostfiles of free ports, workers as processes, process 0 in the
//! test itself, a supervised local cluster, a private redis-server, and the Kubernetes
//! manifests as rendered.

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::Duration;

use crate::process::{bin, Proc};
use crate::workspace;

/// A hostfile of `processes` free ports on 127.0.0.1, written into `dir`.
pub fn hostfile(dir: &Path, processes: usize) -> PathBuf {
    let listeners: Vec<_> = (0..processes)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").expect("a free port"))
        .collect();
    let text: String = listeners
        .iter()
        .map(|l| format!("127.0.0.1:{}\n", l.local_addr().unwrap().port()))
        .collect();
    let path = dir.join("hosts");
    std::fs::write(&path, text).unwrap();
    path
}

/// Starts `sedaro-nano worker` as process `process` of the cluster in `hosts`.
pub fn spawn_worker(hosts: &Path, process: usize, workers: usize) -> Proc {
    Proc(
        bin()
            .args([
                "worker",
                "--hostfile",
                hosts.to_str().unwrap(),
                "--process",
                &process.to_string(),
            ])
            .args(["--workers", &workers.to_string(), "--peer-timeout", "30"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("the worker starts"),
    )
}

/// The Kubernetes manifests as `kubectl kustomize cluster/k8s` renders them.
pub fn rendered_manifests() -> String {
    let out = Command::new("kubectl")
        .args(["kustomize", "cluster/k8s"])
        .current_dir(workspace())
        .output()
        .expect("kubectl runs (.ci/deps installs it)");
    assert!(
        out.status.success(),
        "kustomize failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

pub use nano_cluster::redis_server::{private_ca, RedisServer};

/// A private redis-server on a free port (killed when dropped), answering PING.
pub fn redis_server() -> RedisServer {
    RedisServer::start(None).expect("redis-server starts (.ci/run installs it)")
}

/// Process 0 of a cluster in this test process, with its peers in the hostfile at
/// `hosts` (started by the caller as `sedaro-nano worker`), no log; and the windowed
/// screenings' workers on the cluster's second mesh, as `serve` keeps them (dropped,
/// the peers' side ends).
pub fn cluster_engine(
    hosts: &Path,
    workers: usize,
) -> (
    nano_pipeline::engine::Engine,
    nano_pipeline::screening::windows::Workers,
) {
    use nano_pipeline::engine::{Engine, EngineConfig, Network};
    let hostfile =
        nano_cluster::hostfile::Hostfile::parse(&std::fs::read_to_string(hosts).unwrap()).unwrap();
    let mut meshes = nano_cluster::mesh::connect_channels(
        &hostfile,
        0,
        workers,
        nano_cluster::process::SERVE_CHANNELS,
        Duration::from_secs(30),
    )
    .unwrap();
    let engine = Engine::start(EngineConfig {
        workers,
        network: Some(Network {
            process: 0,
            sockets: meshes.remove(0),
        }),
        block: 1000,
        log: None,
        blocks_bytes: nano_pipeline::engine::DEFAULT_BLOCKS_BYTES,
    })
    .unwrap();
    let screenings = nano_pipeline::screening::windows::Workers::start(
        workers,
        Some(Network {
            process: 0,
            sockets: meshes.remove(0),
        }),
    )
    .unwrap();
    (engine, screenings)
}

/// `sedaro-nano local-cluster` as a process, followed: the processes it says it
/// started (their index and pid) and the cache it says it uses, as it says them.
/// The supervisor leads a process group of its own, which its processes and its
/// private Redis join: a test that lets go of the cluster without stopping it (a
/// failed assertion) ends the whole group, where killing the supervisor alone would
/// leave them running.
pub struct LocalCluster {
    /// Dropped first: SIGTERM to the group, then the supervisor's end awaited.
    _group: Group,
    pub supervisor: Proc,
    started: Receiver<(usize, String)>,
    cache: Receiver<String>,
}

/// A process group, by its leader's pid.
struct Group(u32);

impl Drop for Group {
    /// SIGTERM to every process of the group (a stopped supervisor's group is empty,
    /// and `kill` says so harmlessly), then up to 10 s for the leader to end: the
    /// supervisor stops its processes on SIGTERM.
    fn drop(&mut self) {
        let sent = Command::new("kill")
            .args(["-TERM", "--", &format!("-{}", self.0)])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !sent {
            return;
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::time::Instant::now() < deadline {
            // Ended (a zombie until its `Proc` waits for it) or gone.
            if !crate::process::running(&self.0.to_string()) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl LocalCluster {
    /// Starts `local-cluster --processes 3 --listen address --data data` (no
    /// `REDIS_URL`: the private Redis).
    pub fn start(address: &str, data: &Path) -> LocalCluster {
        LocalCluster::start_with(address, data, &[])
    }

    /// [`LocalCluster::start`], with `env` in the supervisor's environment (which
    /// its processes inherit: `NANO_*` settings of `serve`).
    pub fn start_with(address: &str, data: &Path, env: &[(&str, &str)]) -> LocalCluster {
        let mut supervisor = bin()
            .args(["local-cluster", "--processes", "3", "--listen", address])
            .arg("--data")
            .arg(data)
            .env_remove("REDIS_URL")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .unwrap();
        let group = Group(supervisor.id());
        let (started_tx, started) = mpsc::channel();
        let (cache_tx, cache) = mpsc::channel();
        let stderr = supervisor.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("; cache: ").nth(1) {
                    let _ = cache_tx.send(rest.to_owned());
                }
                if let Some(rest) = line.strip_prefix("sedaro-nano local-cluster: started process ")
                {
                    let (process, pid) = rest.split_once(" (pid ").unwrap();
                    let _ = started_tx.send((
                        process.parse::<usize>().unwrap(),
                        pid.trim_end_matches(')').to_owned(),
                    ));
                }
            }
        });
        LocalCluster {
            _group: group,
            supervisor: Proc(supervisor),
            started,
            cache,
        }
    }

    /// What the supervisor says of its cache (within 30 s).
    pub fn cache(&self) -> String {
        self.cache
            .recv_timeout(Duration::from_secs(30))
            .expect("the supervisor says which cache it uses")
    }

    /// The pid of process `index` once the supervisor has started it (each start
    /// within 30 s).
    pub fn pid_of(&self, index: usize) -> String {
        loop {
            let (process, pid) = self
                .started
                .recv_timeout(Duration::from_secs(30))
                .expect("the supervisor starts processes");
            if process == index {
                return pid;
            }
        }
    }

    /// The indices of the next three processes the supervisor starts (a restart of
    /// the cluster), each within `within`, in the order started.
    pub fn restarted(&self, within: Duration) -> Vec<usize> {
        (0..3)
            .map(|_| {
                self.started
                    .recv_timeout(within)
                    .expect("the supervisor restarts the cluster")
                    .0
            })
            .collect()
    }
}
