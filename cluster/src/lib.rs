//! Running sedaro-nano as a cluster of processes: the bootstrap that comes before the
//! dataflow.
//!
//! - [`hostfile`]: which processes there are: one `host:port` per line, in process
//!   order; a process's own line may be a bind address (`0.0.0.0:PORT`).
//! - [`local`]: `local-cluster`, the topology as supervised processes on 127.0.0.1,
//!   with a private Redis.
//! - [`mesh`]: connects every pair of processes over TCP, whatever order they start
//!   in, within a deadline, and names the peers it could not reach.
//! - [`failstop`]: a process that loses a peer exits at once, naming it (timely
//!   cannot continue without a process; the cluster restarts and resumes from the log).
//! - [`pod`]: a Kubernetes pod's process index from its StatefulSet ordinal, and its
//!   hostfile from the replica count.
//! - [`process`]: the processes the binary runs as, wired from the crates: the
//!   service (`serve`), a worker, a pod; and where a process sits in the cluster
//!   ([`process::Placement`]: workers, hostfile, index).
//! - [`health`]: a worker pod's `/healthz` responder, for the probes.
//! - [`redis_server`]: a private `redis-server`, ready (it answered `PING`) when
//!   started: the local cluster's cache, and the tests'.
//! - [`supervisor`]: the local cluster's supervisor: restarts every process when one
//!   dies.
//!
//! Beside the crate: `Dockerfile` (the image), `image.sh` (the same image without a
//! registry, on a base made from Debian's packages) and `k8s/` (the manifests,
//! kustomize).
//!
//! ```no_run
//! use std::time::Duration;
//! let hosts = nano_cluster::hostfile::Hostfile::parse("127.0.0.1:7000\n127.0.0.1:7001\n")?;
//! let sockets = nano_cluster::mesh::connect(&hosts, 0, 4, Duration::from_secs(60))?;
//! assert_eq!(sockets.len(), 2);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod failstop;
pub mod health;
pub mod hostfile;
pub mod local;
pub mod mesh;
pub mod pod;
pub mod process;
pub mod redis_server;
pub mod supervisor;
