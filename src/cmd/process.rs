//! The processes the command runs as: `worker`, `serve`, `pod` (wired in
//! `nano_cluster::process`) and `local-cluster`.

use nano_cluster::local::LocalClusterConfig;
use nano_cluster::process;

use crate::cli::{PodArgs, ServeArgs, WorkerArgs};

/// `worker`: process 1 or up of a cluster.
pub fn worker(args: &WorkerArgs) -> anyhow::Result<()> {
    Ok(process::worker(&args.cluster, args.block)?)
}

/// `serve`: the service, as process 0.
pub fn serve(args: &ServeArgs) -> anyhow::Result<()> {
    Ok(process::serve(&args.config, &args.cluster)?)
}

/// `pod`: a pod of the StatefulSet, serving or working by its ordinal.
pub fn pod(args: &PodArgs) -> anyhow::Result<()> {
    let pod = process::PodPlacement {
        replicas: &args.replicas,
        peer_service: &args.peer_service,
        peer_port: args.peer_port,
        peer_ports: &args.peer_ports,
        peer_bind: &args.peer_bind,
        pod_name: args.pod_name.as_deref(),
        hostfile_out: &args.hostfile_out,
    };
    Ok(process::pod(&args.serve.config, &args.serve.cluster, &pod)?)
}

/// `local-cluster`: the topology as local processes, restarted together until Ctrl-C;
/// the restart count is the command's last line.
pub fn local_cluster(config: &LocalClusterConfig) -> anyhow::Result<()> {
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let on_signal = std::sync::Arc::clone(&stop);
    std::thread::spawn(move || {
        if let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            runtime.block_on(nano_cluster::process::shutdown_signal());
            on_signal.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    });
    let exe = std::env::current_exe()?;
    let restarts = nano_cluster::local::run(config, &exe, stop, &mut |event| {
        eprintln!("sedaro-nano local-cluster: {event}");
    })?;
    eprintln!("sedaro-nano local-cluster: stopped after {restarts} restarts");
    Ok(())
}
