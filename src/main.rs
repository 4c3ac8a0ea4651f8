//! The `sedaro-nano` command: parses the configuration, wires the crates together and
//! runs one subcommand.

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use nano_cluster::hostfile::Hostfile;
use nano_pipeline::engine::{EngineConfig, Network};

use clap::{Args, Parser, Subcommand};
use nano_cluster::local::LocalClusterConfig;
use nano_pipeline::resume::{self, Source};
use nano_pipeline::{Format, Propagator, RunKey, RunWriter};
use nano_store::{CatalogEntry, Log, LogOptions, Sync};
use nano_web::config::LogFormat;
use nano_web::config::{self as web_config, at_least_one};
use nano_web::ServeConfig;

/// sedaro-nano: a two-body propagation service (a Planet and an orbiting Satellite,
/// each on its own random time step).
#[derive(Debug, Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Compute one run and write its records to stdout; with --data, log it and reuse
    /// what the log already holds.
    Propagate(PropagateArgs),
    /// Write a logged run to stdout without computing anything.
    Replay(ReplayArgs),
    /// List the runs in the log.
    Runs(RunsArgs),
    /// Check every checksum of the log, and its catalog against its records.
    Verify(DataArgs),
    /// Join a cluster as process I (1 or more) and work until it shuts down.
    Worker(WorkerArgs),
    /// Serve the web pages and the API (process 0 of the cluster).
    Serve(ServeArgs),
    /// Run as a pod of the Kubernetes StatefulSet: the process index from the pod's
    /// ordinal, the hostfile from the replica count; ordinal 0 serves, the others work.
    Pod(PodArgs),
    /// Run the cluster's topology as local processes on 127.0.0.1, supervised: when any
    /// process dies, all restart (runs resume from the log). Ctrl-C stops everything.
    LocalCluster(LocalClusterConfig),
}

#[derive(Debug, Args)]
struct PodArgs {
    #[command(flatten)]
    serve: ServeArgs,

    /// Replicas of the StatefulSet (the cluster's processes).
    #[arg(long, value_name = "N", env = "NANO_REPLICAS")]
    replicas: String,

    /// The headless Service through which the pods reach each other.
    #[arg(long, value_name = "NAME", env = "NANO_PEER_SERVICE")]
    peer_service: String,

    /// The port the pods' timely mesh uses.
    #[arg(
        long,
        value_name = "PORT",
        env = "NANO_PEER_PORT",
        default_value_t = 7000
    )]
    peer_port: u16,

    /// This pod's name (the downward API's metadata.name); else HOSTNAME.
    #[arg(long, value_name = "NAME", env = "POD_NAME")]
    pod_name: Option<String>,

    /// Where the rendered hostfile is written.
    #[arg(
        long,
        value_name = "FILE",
        env = "NANO_HOSTFILE_OUT",
        default_value = "/tmp/sedaro-nano.hosts"
    )]
    hostfile_out: PathBuf,
}

/// `serve`: the service's configuration (defined in `nano_web::config`) and this
/// process's place in the cluster.
#[derive(Debug, Clone, Args)]
struct ServeArgs {
    #[command(flatten)]
    config: ServeConfig,

    #[command(flatten)]
    cluster: ClusterArgs,
}

/// How this process takes part in the dataflow.
#[derive(Debug, Clone, Args)]
struct ClusterArgs {
    /// Worker threads in this process (default: one per core).
    #[arg(long, value_name = "W", value_parser = at_least_one::<usize>("worker"))]
    workers: Option<usize>,

    /// The cluster's processes, one host:port per line in process order; this
    /// process's own line may be a bind address such as 0.0.0.0:7000. Without it, the
    /// dataflow runs in this process alone.
    #[arg(long, value_name = "FILE", env = "NANO_HOSTFILE")]
    hostfile: Option<PathBuf>,

    /// This process's index in the hostfile.
    #[arg(long, value_name = "I", default_value_t = 0, env = "NANO_PROCESS")]
    process: usize,

    /// Seconds to wait for every peer of the hostfile to connect.
    #[arg(long, value_name = "SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    peer_timeout: u64,
}

#[derive(Debug, Args)]
struct WorkerArgs {
    #[command(flatten)]
    cluster: ClusterArgs,

    /// Iterations per block (use the same as process 0).
    #[arg(long, value_name = "B", default_value_t = resume::DEFAULT_BLOCK, value_parser = parse_steps)]
    block: u64,
}

/// Which propagator computes a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Engine {
    /// The timely dataflow, on --workers threads and the processes of --hostfile.
    Dataflow,
    /// The single-threaded reference propagator.
    Reference,
}

/// Which run, and how to write it.
#[derive(Debug, Args)]
struct RunArgs {
    /// Iterations to run (at least 1). Each iteration visits the Planet, then the
    /// Satellite; an agent that is ahead of the other waits, so a run has between n
    /// and 2n records.
    #[arg(long, value_name = "N", value_parser = parse_steps, allow_negative_numbers = true)]
    steps: u64,

    /// Seed of the random time steps, an integer in 0..=18446744073709551615. The same
    /// (steps, seed) always gives the same records.
    #[arg(long, value_name = "S", default_value_t = 0, value_parser = parse_seed, allow_negative_numbers = true)]
    seed: u64,

    /// Output format: `json` (one document, the golden format) or `csv` (a header
    /// line, then one line per record).
    #[arg(long, value_name = "FORMAT", default_value_t = Format::Json)]
    format: Format,
}

#[derive(Debug, Args)]
struct PropagateArgs {
    #[command(flatten)]
    run: RunArgs,

    /// Log the run in this directory (created if missing), block by block; a run the
    /// log already holds in part continues from its last block, one it holds whole is
    /// replayed. Without --data nothing is written to disk.
    #[arg(long, value_name = "DIR", env = "NANO_DATA")]
    data: Option<PathBuf>,

    /// When the log is flushed to disk: `always` (after every block), `batch` (after
    /// each group of blocks written together; for one run, the same), or `never`
    /// (sled flushes about every half second; a crash may lose the latest blocks).
    #[arg(long, value_name = "MODE", default_value_t = Sync::Batch)]
    sync: Sync,

    /// Iterations per block: the unit in which the run is logged and made durable.
    #[arg(long, value_name = "B", default_value_t = resume::DEFAULT_BLOCK, value_parser = parse_steps)]
    block: u64,

    /// Which propagator to use [default: dataflow when --workers or --hostfile is
    /// given, reference otherwise]. Both give the same records, byte for byte.
    #[arg(long, value_enum)]
    engine: Option<Engine>,

    #[command(flatten)]
    cluster: ClusterArgs,
}

#[derive(Debug, Args)]
struct DataArgs {
    /// The log's directory.
    #[arg(long, value_name = "DIR", env = "NANO_DATA", default_value = web_config::DEFAULT_DATA)]
    data: PathBuf,
}

#[derive(Debug, Args)]
struct ReplayArgs {
    #[command(flatten)]
    run: RunArgs,
    #[command(flatten)]
    data: DataArgs,
}

#[derive(Debug, Args)]
struct RunsArgs {
    #[command(flatten)]
    data: DataArgs,

    /// Print the catalog as JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// `--steps` takes a whole number of at least 1.
fn parse_steps(text: &str) -> Result<u64, String> {
    match text.parse::<u64>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(_) if text.starts_with('-') => Err("cannot be negative".into()),
        Err(e) => Err(format!("expected a whole number of at least 1 ({e})")),
    }
}

/// `--seed` takes any unsigned 64-bit integer.
fn parse_seed(text: &str) -> Result<u64, String> {
    text.parse::<u64>()
        .map_err(|_| format!("a seed is a whole number from 0 to {}", u64::MAX))
}

fn open_log(dir: &PathBuf, sync: Sync) -> anyhow::Result<Log> {
    let options = LogOptions {
        sync,
        ..LogOptions::default()
    };
    Ok(Log::open(dir, options)?)
}

fn stdout_writer(run: &RunArgs) -> io::Result<RunWriter<io::BufWriter<io::StdoutLock<'static>>>> {
    let out = io::BufWriter::with_capacity(1 << 16, io::stdout().lock());
    RunWriter::begin(out, run.format, run.steps, run.seed)
}

fn propagate(args: &PropagateArgs) -> anyhow::Result<()> {
    let run = &args.run;
    let cluster = &args.cluster;
    let engine =
        args.engine
            .unwrap_or(if cluster.workers.is_some() || cluster.hostfile.is_some() {
                Engine::Dataflow
            } else {
                Engine::Reference
            });
    if engine == Engine::Dataflow {
        return propagate_dataflow(args);
    }
    if cluster.hostfile.is_some() || cluster.workers.is_some() {
        anyhow::bail!("--workers and --hostfile need --engine dataflow");
    }
    let Some(dir) = &args.data else {
        let mut out = stdout_writer(run)?;
        out.records(Propagator::new(run.seed, run.steps))?;
        out.finish()?;
        return Ok(());
    };
    let log = open_log(dir, args.sync)?;
    let key = RunKey::nano(run.seed);
    let where_ = dir.display();
    match resume::plan(&log, key, run.steps)? {
        Source::Replayed { logged } => eprintln!(
            "sedaro-nano: replaying {} of the {logged} iterations of seed {} logged in {where_}",
            run.steps, run.seed
        ),
        Source::Continued { logged } => eprintln!(
            "sedaro-nano: seed {}: replaying the {logged} iterations logged in {where_}, computing the rest",
            run.seed
        ),
        Source::Computed => eprintln!("sedaro-nano: seed {}: computing, logging to {where_}", run.seed),
    }
    let mut out = stdout_writer(run)?;
    resume::propagate_logged(&log, key, run.steps, args.block, |r| out.record(r))?;
    out.finish()?;
    Ok(())
}

/// The hostfile and this process's sockets to its peers, when there is a hostfile.
fn network(cluster: &ClusterArgs) -> anyhow::Result<Option<Network>> {
    let Some(path) = &cluster.hostfile else {
        if cluster.process != 0 {
            anyhow::bail!("--process {} needs a --hostfile", cluster.process);
        }
        return Ok(None);
    };
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the hostfile {}", path.display()))?;
    let hosts = Hostfile::parse(&text).with_context(|| format!("in {}", path.display()))?;
    hosts.check_process(cluster.process)?;
    nano_cluster::failstop::install(hosts.addresses().to_vec());
    let timeout = Duration::from_secs(cluster.peer_timeout);
    let sockets = nano_cluster::mesh::connect(&hosts, cluster.process, workers(cluster), timeout)?;
    Ok(Some(Network {
        process: cluster.process,
        sockets,
    }))
}

fn workers(cluster: &ClusterArgs) -> usize {
    cluster
        .workers
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

fn propagate_dataflow(args: &PropagateArgs) -> anyhow::Result<()> {
    let run = &args.run;
    if args.cluster.process != 0 {
        anyhow::bail!(
            "propagate runs as process 0 of its cluster, not {}; start the others with `sedaro-nano worker`",
            args.cluster.process
        );
    }
    let log = match &args.data {
        Some(dir) => Some(open_log(dir, args.sync)?),
        None => None,
    };
    let config = EngineConfig {
        workers: workers(&args.cluster),
        network: network(&args.cluster)?,
        block: args.block,
        log,
    };
    let engine = nano_pipeline::engine::Engine::start(config)?;
    let mut out = stdout_writer(run)?;
    engine.stream(RunKey::nano(run.seed), run.steps, |r| out.record(r))?;
    out.finish()?;
    engine.shutdown()?;
    Ok(())
}

fn worker(args: &WorkerArgs) -> anyhow::Result<()> {
    let cluster = &args.cluster;
    if cluster.hostfile.is_none() {
        anyhow::bail!("a worker needs the cluster's --hostfile");
    }
    if cluster.process == 0 {
        anyhow::bail!(
            "process 0 is the one that propagates or serves; start workers as processes 1 and up"
        );
    }
    let network = network(cluster)?.expect("checked: there is a hostfile");
    tracing::info!(process = cluster.process, "worker joined the cluster");
    nano_pipeline::engine::run_peer(workers(cluster), network, args.block)?;
    tracing::info!(process = cluster.process, "the cluster shut down");
    Ok(())
}

fn serve(args: &ServeArgs) -> anyhow::Result<()> {
    let config = &args.config;
    if args.cluster.process != 0 {
        anyhow::bail!(
            "serve runs as process 0 of its cluster; start the others with `sedaro-nano worker`"
        );
    }
    // Before any thread starts (see its doc).
    nano_web::budget::limit_allocator_arenas();
    let log = Log::open(&config.data, config.log_options())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let cache = {
        // The Redis connection manager needs the runtime to exist.
        let _entered = runtime.enter();
        config.cache()?
    };
    let engine = nano_pipeline::engine::Engine::start(EngineConfig {
        workers: workers(&args.cluster),
        network: network(&args.cluster)?,
        block: config.block,
        log: Some(log.clone()),
    })?;
    let state = nano_web::AppState::new(engine.handle(), log, cache.clone(), config.limits())
        .with_access(config.access())
        .with_budget(config.budget());
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(&config.listen)
            .await
            .with_context(|| format!("cannot listen on {}", config.listen))?;
        let address = listener.local_addr()?;
        tracing::info!(
            log = %config.data.display(),
            cache = if cache.is_memory() { "in-process" } else { "Redis" },
            "serving on http://{address}/; open http://{address}/propagate/2000"
        );
        nano_web::serve(listener, state, shutdown_signal()).await?;
        anyhow::Ok(())
    })?;
    tracing::info!(
        "stopping; running blocks reach the log, unfinished runs resume on the next start"
    );
    engine.shutdown()?;
    Ok(())
}

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() {
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

fn pod(args: &PodArgs) -> anyhow::Result<()> {
    let hostname = std::env::var("HOSTNAME").ok();
    let pod = nano_cluster::pod::Pod::identify(
        args.pod_name.as_deref(),
        hostname.as_deref(),
        &args.replicas,
    )?;
    std::fs::write(
        &args.hostfile_out,
        pod.hostfile(&args.peer_service, args.peer_port),
    )
    .with_context(|| {
        format!(
            "cannot write the hostfile to {}",
            args.hostfile_out.display()
        )
    })?;
    let cluster = ClusterArgs {
        hostfile: Some(args.hostfile_out.clone()),
        process: pod.ordinal,
        ..args.serve.cluster.clone()
    };
    tracing::info!(
        statefulset = %pod.statefulset,
        ordinal = pod.ordinal,
        replicas = pod.replicas,
        "this pod is process {} of {}",
        pod.ordinal,
        pod.replicas
    );
    if pod.ordinal == 0 {
        serve(&ServeArgs {
            cluster,
            ..args.serve.clone()
        })
    } else {
        let health = nano_cluster::health::serve(&args.serve.config.listen).with_context(|| {
            format!(
                "cannot serve the health endpoint on {}",
                args.serve.config.listen
            )
        })?;
        tracing::info!("health endpoint on http://{health}/healthz");
        worker(&WorkerArgs {
            cluster,
            block: args.serve.config.block,
        })
    }
}

fn local_cluster(config: &LocalClusterConfig) -> anyhow::Result<()> {
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let on_signal = std::sync::Arc::clone(&stop);
    std::thread::spawn(move || {
        if let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            runtime.block_on(shutdown_signal());
            on_signal.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    });
    let exe = std::env::current_exe()?;
    let restarts = nano_cluster::local::run(config, &exe, stop)?;
    eprintln!("sedaro-nano local-cluster: stopped after {restarts} restarts");
    Ok(())
}

fn replay(args: &ReplayArgs) -> anyhow::Result<()> {
    let run = &args.run;
    let log = open_log(&args.data.data, Sync::Never)?;
    // Refuse before the first byte of output, so a missing run prints no half document.
    let mut records = log.replay(RunKey::nano(run.seed), 0..run.steps)?;
    let mut out = stdout_writer(run)?;
    records.try_for_each(|r| anyhow::Ok(out.record(&r?)?))?;
    out.finish()?;
    Ok(())
}

fn runs(args: &RunsArgs) -> anyhow::Result<()> {
    let log = open_log(&args.data.data, Sync::Never)?;
    let catalog = log.catalog()?;
    let mut out = io::stdout().lock();
    if args.json {
        let entries: Vec<_> = catalog.iter().map(CatalogEntry::summary).collect();
        serde_json::to_writer_pretty(&mut out, &entries)?;
        writeln!(out)?;
        return Ok(());
    }
    if catalog.is_empty() {
        writeln!(out, "no runs logged in {}", args.data.data.display())?;
        return Ok(());
    }
    writeln!(
        out,
        "{:<6} {:>20} {:>12} {:>12} {:>12} {:<9} {:<20}",
        "MODEL", "SEED", "ITERATIONS", "TARGET", "RECORDS", "STATUS", "UPDATED (UTC)"
    )?;
    for e in &catalog {
        writeln!(
            out,
            "{:<6} {:>20} {:>12} {:>12} {:>12} {:<9} {:<20}",
            e.run.model.name(),
            e.run.seed,
            e.iterations,
            e.target,
            e.records,
            if e.complete() { "complete" } else { "partial" },
            nano_store::catalog::utc(e.updated_ms),
        )?;
    }
    Ok(())
}

fn verify(args: &DataArgs) -> anyhow::Result<bool> {
    let log = open_log(&args.data, Sync::Never)?;
    let report = log.verify()?;
    print!("{}: {report}", args.data.display());
    Ok(report.is_ok())
}

/// The log subscriber: lines on stderr at level INFO and above, readable or JSON.
/// The service's logs carry no secrets: requests are logged by route pattern, never by
/// URL or headers, and the Redis URL is never logged.
fn logging(format: LogFormat) {
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_writer(io::stderr)
        .with_max_level(tracing::Level::INFO);
    match format {
        LogFormat::Text => builder.with_ansi(io::stderr().is_terminal()).init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn main() -> ExitCode {
    // A panic is a bug (or sled meeting damaged files, which the store turns into an
    // error): say it in one line, not with a backtrace banner.
    std::panic::set_hook(Box::new(|info| {
        eprintln!("sedaro-nano: internal failure: {info}");
    }));
    let cli = Cli::parse();
    logging(match &cli.command {
        Command::Serve(args) => args.config.log_format,
        Command::Pod(args) => args.serve.config.log_format,
        _ => LogFormat::Text,
    });
    let result = match &cli.command {
        Command::Propagate(args) => propagate(args).map(|()| true),
        Command::Replay(args) => replay(args).map(|()| true),
        Command::Runs(args) => runs(args).map(|()| true),
        Command::Verify(args) => verify(args),
        Command::Worker(args) => worker(args).map(|()| true),
        Command::Serve(args) => serve(args).map(|()| true),
        Command::Pod(args) => pod(args).map(|()| true),
        Command::LocalCluster(args) => local_cluster(args).map(|()| true),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        // A reader that stops early (`| head`) is not a failure.
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(io::stderr(), "sedaro-nano: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Whether `e`, or any error it was caused by (its `source()` chain), is a broken pipe.
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        cause
            .downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
    })
}
