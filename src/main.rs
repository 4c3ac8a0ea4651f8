//! The `sedaro-nano` command: parses the command line and runs one subcommand. The
//! processes it runs as (the service, a worker, a pod) are wired in
//! `nano_cluster::process`; the one-shot commands (propagate, replay, runs, verify)
//! are small enough to live here.

mod progress;

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use std::process::ExitCode;

use nano_cluster::process::{self, Placement};
use nano_pipeline::engine::EngineConfig;
use nano_pipeline::job::JobEvent;
use progress::Progress;

use clap::{Args, Parser, Subcommand};
use nano_cluster::local::LocalClusterConfig;
use nano_pipeline::ephemeris::{self, EphemerisWriter, OrbitFormat};
use nano_pipeline::orbit::OrbitState;
use nano_pipeline::resume::{self, Source};
use nano_pipeline::scenario::{OrbitScenario, Scenario, ScenarioLimits};
use nano_pipeline::screening::{self, report::ScreenFormat};
use nano_pipeline::{Format, Propagator, RunKey, RunWriter};
use nano_store::{CatalogEntry, Log, LogOptions, Sync};
use nano_web::config as web_config;
use nano_web::config::LogFormat;
use nano_web::ServeConfig;

/// sedaro-nano: orbit propagation and conjunction screening under manoeuvres, as a
/// service and a command; grown from the two-body nano model.
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
    /// Screen an orbit scenario's run for conjunctions (docs/orbits.md): every local
    /// minimum of two bodies' interpolated distance below --distance, closest first.
    /// The run is propagated first (with --data, read from the log when it holds it).
    Screen(ScreenArgs),
    /// The orbit integrators against the exact Kepler solution: for dop853 (1e-12),
    /// yoshida4 and rk4 (a thousandth of the period) on e = 0, 0.1 and 0.7 (perigee
    /// 7,000 km), the largest energy and angular-momentum errors, the final position
    /// error, steps and time.
    Accuracy(AccuracyArgs),
}

#[derive(Debug, Args)]
struct AccuracyArgs {
    /// Orbits to propagate each case over (1 to 100000).
    #[arg(long, value_name = "K", default_value_t = 1000, value_parser = parse_orbits, allow_negative_numbers = true)]
    orbits: u64,

    /// Print the report (with each case's energy-error series) as JSON instead of a
    /// table.
    #[arg(long)]
    json: bool,
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

    /// Each pod's mesh port, by ordinal (comma-separated), for pods that share one
    /// network and so cannot all listen on --peer-port (containers on one host's
    /// network); overrides --peer-port.
    #[arg(
        long,
        value_name = "PORTS",
        env = "NANO_PEER_PORTS",
        value_delimiter = ','
    )]
    peer_ports: Vec<u16>,

    /// The address this pod's mesh listens on.
    #[arg(
        long,
        value_name = "HOST",
        env = "NANO_PEER_BIND",
        default_value = "0.0.0.0"
    )]
    peer_bind: String,

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
    cluster: Placement,
}

#[derive(Debug, Args)]
struct WorkerArgs {
    #[command(flatten)]
    cluster: Placement,

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
    /// line, then one line per record); for an orbit scenario also `oem` (a CCSDS
    /// Orbit Ephemeris Message, one segment per body).
    #[arg(long, value_name = "FORMAT", default_value_t = OrbitFormat::Json)]
    format: OrbitFormat,
}

impl RunArgs {
    /// The nano model's format (it has no OEM).
    fn nano_format(&self) -> Result<Format, Usage> {
        match self.format {
            OrbitFormat::Json => Ok(Format::Json),
            OrbitFormat::Csv => Ok(Format::Csv),
            OrbitFormat::Oem => Err(Usage(
                "--format oem is for orbit scenarios (--scenario FILE): the nano model has no orbit ephemeris".into(),
            )),
        }
    }
}

/// A command line that parsed but asks for something that cannot be done: printed as
/// clap prints its own errors, with exit status 2.
#[derive(Debug)]
struct Usage(String);

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Usage {}

#[derive(Debug, Args)]
struct PropagateArgs {
    #[command(flatten)]
    run: RunArgs,

    /// Propagate the orbit scenario in this JSON file (docs/orbits.md) instead of the
    /// nano model: `--steps N` output steps of every body, states at `k *
    /// output_step_s` for k = 0..N. CSV columns `t,body,x,y,z,vx,vy,vz` (km, km/s, s
    /// since the epoch), by time then body.
    #[arg(long, value_name = "FILE", conflicts_with = "seed")]
    scenario: Option<PathBuf>,

    /// The most bodies a scenario may have (generated and listed).
    #[arg(long, value_name = "N", default_value_t = ScenarioLimits::default().max_bodies, value_parser = parse_max_bodies)]
    max_bodies: usize,

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
    cluster: Placement,
}

/// The most states `screen` holds in memory (bodies times output times): about 1 GB
/// of states, with the dataflow's copies on top.
const MAX_SCREENED_STATES: u64 = 20_000_000;

#[derive(Debug, Args)]
struct ScreenArgs {
    /// The orbit scenario (docs/orbits.md JSON) whose run is screened.
    #[arg(long, value_name = "FILE")]
    scenario: PathBuf,

    /// Output steps of the run (at least 1): states at `k * output_step_s` for
    /// k = 0..N.
    #[arg(long, value_name = "N", value_parser = parse_steps, allow_negative_numbers = true)]
    steps: u64,

    /// The screening distance D (km, above 0): minima of the distance below it are
    /// reported.
    #[arg(long, value_name = "D", value_parser = parse_distance, allow_negative_numbers = true)]
    distance: f64,

    /// Output format: `json` (`{"distance_km","bodies","conjunctions":[{"a","b",
    /// "tca_s","miss_km"}]}`) or `csv` (`a,b,tca_s,miss_km`), closest first.
    #[arg(long, value_name = "FORMAT", default_value_t = ScreenFormat::Json)]
    format: ScreenFormat,

    /// The most bodies a scenario may have (generated and listed).
    #[arg(long, value_name = "N", default_value_t = ScenarioLimits::default().max_bodies, value_parser = parse_max_bodies)]
    max_bodies: usize,

    /// Log the run in this directory (created if missing), or read it from there when
    /// the log already holds it.
    #[arg(long, value_name = "DIR", env = "NANO_DATA")]
    data: Option<PathBuf>,

    #[command(flatten)]
    cluster: Placement,
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

    /// Replay the logged run of the orbit scenario in this JSON file (as `propagate
    /// --scenario` logged it with --data) instead of a nano run.
    #[arg(long, value_name = "FILE", conflicts_with = "seed")]
    scenario: Option<PathBuf>,

    /// The most bodies a scenario may have (generated and listed).
    #[arg(long, value_name = "N", default_value_t = ScenarioLimits::default().max_bodies, value_parser = parse_max_bodies)]
    max_bodies: usize,

    /// With --scenario: only this body's states (its index, from 0), read from its
    /// own records in the log.
    #[arg(
        long,
        value_name = "K",
        requires = "scenario",
        allow_negative_numbers = true
    )]
    body: Option<u32>,

    /// With --scenario: only the states at output times from this many seconds
    /// after the epoch on.
    #[arg(long, value_name = "A", requires = "scenario", value_parser = parse_seconds, allow_negative_numbers = true)]
    from: Option<f64>,

    /// With --scenario: only the states at output times up to this many seconds
    /// after the epoch (at most the run's end, steps * output_step_s).
    #[arg(long, value_name = "B", requires = "scenario", value_parser = parse_seconds, allow_negative_numbers = true)]
    to: Option<f64>,

    /// With --scenario: version V of the run, as the manoeuvres posted to the service
    /// (`POST /api/runs/{id}/manoeuvres`) made it; 0, the default, is the run as
    /// propagated. The whole run only, in any --format.
    #[arg(long, value_name = "V", requires = "scenario", conflicts_with_all = ["body", "from", "to"])]
    version: Option<u32>,
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

/// `--distance` takes a finite number of kilometres above 0.
fn parse_distance(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(d) if d.is_finite() && d > 0.0 => Ok(d),
        Ok(d) => Err(format!("must be a finite distance above 0 km, got {d}")),
        Err(e) => Err(format!("expected a distance in km ({e})")),
    }
}

/// `--from` and `--to` take a finite number of seconds, at least 0.
fn parse_seconds(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(t) if t.is_finite() && t >= 0.0 => Ok(t + 0.0),
        Ok(t) if t < 0.0 => Err("cannot be negative".into()),
        _ => Err("expected a finite number of seconds since the epoch".into()),
    }
}

/// `--orbits` takes a whole number from 1 to the report's maximum.
fn parse_orbits(text: &str) -> Result<u64, String> {
    let max = nano_pipeline::orbit::accuracy::MAX_ORBITS;
    match parse_steps(text)? {
        n if n > max => Err(format!("at most {max} orbits, got {n}")),
        n => Ok(n),
    }
}

/// `--max-bodies` takes a whole number of at least 1.
fn parse_max_bodies(text: &str) -> Result<usize, String> {
    let n = parse_steps(text)?;
    usize::try_from(n).map_err(|_| format!("at most {}", usize::MAX))
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

fn stdout_writer(
    run: &RunArgs,
) -> anyhow::Result<RunWriter<io::BufWriter<io::StdoutLock<'static>>>> {
    let out = io::BufWriter::with_capacity(1 << 16, io::stdout().lock());
    Ok(RunWriter::begin(
        out,
        run.nano_format()?,
        run.steps,
        run.seed,
    )?)
}

fn propagate(args: &PropagateArgs) -> anyhow::Result<()> {
    if let Some(file) = &args.scenario {
        return propagate_scenario(args, file);
    }
    let run = &args.run;
    run.nano_format()?;
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
        let mut bar = Progress::new("propagate", "iterations", run.steps);
        out.records(Propagator::new(run.seed, run.steps).inspect(|r| bar.set(r.iteration + 1)))?;
        out.finish()?;
        bar.finish();
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
    let mut bar = Progress::new("propagate", "iterations", run.steps);
    resume::propagate_logged(&log, key, run.steps, args.block, |r| {
        bar.set(r.iteration + 1);
        out.record(r)
    })?;
    out.finish()?;
    bar.finish();
    Ok(())
}

/// The orbit scenario in `file`, checked; one that breaks a rule is a [`Usage`] error
/// naming the field and the rule.
fn read_orbit_scenario(
    file: &Path,
    max_bodies: usize,
) -> anyhow::Result<(Scenario, OrbitScenario)> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("cannot read the scenario {}", file.display()))?;
    let limits = ScenarioLimits { max_bodies };
    let scenario = Scenario::parse(&text, &limits)
        .map_err(|e| Usage(format!("--scenario {}: {e}", file.display())))?;
    let Scenario::Orbit(orbit) = &scenario else {
        return Err(Usage(format!(
            "--scenario {}: a nano scenario runs as `propagate --seed S`",
            file.display()
        ))
        .into());
    };
    let orbit = orbit.clone();
    Ok((scenario, orbit))
}

/// An orbit scenario: by one propagator per body straight to stdout, or, with
/// --data, --workers, --hostfile or --engine dataflow, on the dataflow engine (bodies
/// dealt out over its workers and processes, logged per epoch).
fn propagate_scenario(args: &PropagateArgs, file: &Path) -> anyhow::Result<()> {
    // Checked before anything else, so a broken document touches no log.
    let (scenario, orbit) = read_orbit_scenario(file, args.max_bodies)?;
    orbit
        .check_span(args.run.steps)
        .map_err(|e| Usage(format!("--steps {}: {}", args.run.steps, e.rule)))?;
    let cluster = &args.cluster;
    let dataflow = args.data.is_some()
        || cluster.workers.is_some()
        || cluster.hostfile.is_some()
        || args.engine == Some(Engine::Dataflow);
    if !dataflow {
        let out = io::BufWriter::with_capacity(1 << 16, io::stdout().lock());
        ephemeris::write_run(
            out,
            args.run.format,
            &orbit,
            args.run.steps,
            &ephemeris::now_utc(),
        )?;
        return Ok(());
    }
    if args.engine == Some(Engine::Reference) {
        return Err(Usage(
            "--engine reference writes an orbit scenario to stdout only: --data, --workers and --hostfile take the dataflow engine".into(),
        )
        .into());
    }
    if args.run.format == OrbitFormat::Oem && args.data.is_none() {
        return Err(Usage(
            "--format oem is written body by body: through the dataflow engine it is read back from the log, so give --data (or drop --workers and --hostfile to write it from one propagator per body)".into(),
        )
        .into());
    }
    if cluster.process != 0 {
        anyhow::bail!(
            "propagate runs as process 0 of its cluster, not {}; start the others with `sedaro-nano worker`",
            cluster.process
        );
    }
    let log = match &args.data {
        Some(dir) => Some(open_log(dir, args.sync)?),
        None => None,
    };
    let log_for_oem = log.clone();
    let config = EngineConfig {
        workers: cluster.workers(),
        network: cluster.network()?,
        block: args.block,
        log,
        blocks_bytes: nano_pipeline::engine::DEFAULT_BLOCKS_BYTES,
    };
    let engine = nano_pipeline::engine::Engine::start(config)?;
    if let (OrbitFormat::Oem, Some(log)) = (args.run.format, &log_for_oem) {
        // The run is logged first (time by time, as the engine commits it), then read
        // back body by body.
        let job = engine.submit_scenario(&scenario, args.run.steps, false)?;
        let mut bar = Progress::new("propagate", "steps", args.run.steps);
        let completed = loop {
            match job.next() {
                Some(JobEvent::Progress { iterations, .. }) => bar.set(iterations),
                Some(JobEvent::Complete { .. }) => break Ok(()),
                Some(JobEvent::Failed(reason)) => break Err(reason),
                Some(JobEvent::Records(_)) => {}
                None => break Err("its events ended before it completed".to_owned()),
            }
        };
        bar.finish();
        drop(job);
        engine.shutdown()?;
        completed.map_err(|reason| nano_pipeline::Error::JobFailed {
            run: scenario.run_key(),
            reason,
        })?;
        return write_logged(
            log,
            scenario.run_key(),
            &orbit,
            args.run.steps,
            OrbitFormat::Oem,
            Vec::new(),
        );
    }
    let job = engine.submit_scenario(&scenario, args.run.steps, true)?;
    let mut out = orbit_writer(&args.run, &orbit)?;
    let mut bar = Progress::new("propagate", "steps", args.run.steps);
    engine.stream_records(&job, scenario.run_key(), args.run.steps, |r| {
        bar.set(r.iteration + 1);
        out.record(r)
    })?;
    out.finish()?;
    bar.finish();
    drop(job);
    engine.shutdown()?;
    Ok(())
}

/// Writes the first `steps` steps of the logged orbit run `run` to stdout in `format`,
/// in the version `versions` make (every version after 0 up to the one written; none:
/// version 0), a piece at a time as the service streams it: CSV and JSON by time from
/// `Log::replay`, the OEM body by body from `Log::track`. Version 0's bytes are the run
/// computed without a log's, but the OEM's CREATION_DATE. The bar counts the OEM's
/// bodies, and the steps of CSV and JSON.
fn write_logged(
    log: &Log,
    run: RunKey,
    orbit: &OrbitScenario,
    steps: u64,
    format: OrbitFormat,
    versions: Vec<nano_store::encoding::Version>,
) -> anyhow::Result<()> {
    let mut pieces = nano_web::series::OrbitPieces::new(
        log.clone(),
        run,
        orbit.clone(),
        steps,
        format,
        nano_web::series::Keep::new(steps, None),
        ephemeris::now_utc(),
    )
    .versioned(versions);
    let mut out = io::BufWriter::with_capacity(1 << 16, io::stdout().lock());
    let oem = format == OrbitFormat::Oem;
    let mut bar = if oem {
        Progress::new("oem", "bodies", orbit.body_count() as u64)
    } else {
        Progress::new("replay", "steps", steps)
    };
    while let Some(chunk) = pieces.next_chunk()? {
        out.write_all(&chunk)?;
        bar.set(if oem {
            pieces.bodies_written() as u64
        } else {
            pieces.steps_read()
        });
    }
    out.flush()?;
    bar.finish();
    Ok(())
}

/// A writer of `orbit`'s run to stdout in `--format`, its states at `t = 0` written.
fn orbit_writer(
    run: &RunArgs,
    orbit: &OrbitScenario,
) -> io::Result<EphemerisWriter<io::BufWriter<io::StdoutLock<'static>>>> {
    let out = io::BufWriter::with_capacity(1 << 16, io::stdout().lock());
    let mut writer =
        EphemerisWriter::begin(out, run.format, orbit, run.steps, &ephemeris::now_utc())?;
    writer.initial_states(orbit)?;
    Ok(writer)
}

/// `replay --scenario`: a logged orbit run, by time then body, computing nothing.
fn replay_scenario(args: &ReplayArgs, file: &Path) -> anyhow::Result<()> {
    let (scenario, orbit) = read_orbit_scenario(file, args.max_bodies)?;
    let steps = args.run.steps;
    // The OEM of every body is read body by body; one body's (--body) is its window.
    let every_body_oem = args.run.format == OrbitFormat::Oem && args.body.is_none();
    if every_body_oem && (args.from.is_some() || args.to.is_some()) {
        return Err(Usage(
            "--format oem of every body covers the whole run: drop --from and --to, or give --body"
                .into(),
        )
        .into());
    }
    let end = steps as f64 * orbit.output_step_s();
    if let Some(body) = args.body.filter(|&b| b as usize >= orbit.body_count()) {
        return Err(Usage(format!(
            "--body {body}: the scenario has {} bodies, 0 to {}",
            orbit.body_count(),
            orbit.body_count().saturating_sub(1)
        ))
        .into());
    }
    if let Some(to) = args.to.filter(|&to| to > end) {
        return Err(Usage(format!(
            "--to {to}: the run ends at t = {end} s (--steps {steps} of {} s)",
            orbit.output_step_s()
        ))
        .into());
    }
    let (from, to) = (args.from.unwrap_or(0.0), args.to.unwrap_or(end));
    if from > to {
        return Err(Usage(format!("--from {from} is after --to {to}")).into());
    }
    let log = open_log(&args.data.data, Sync::Never)?;
    let run = scenario.run_key();
    let times = ephemeris::output_steps(from, to, orbit.output_step_s(), steps);
    // The record of iteration k - 1 holds the state at t_k; t_0 is the scenario's.
    let iterations = match &times {
        Some(times) => times.start().max(&1) - 1..*times.end(),
        None => 0..0,
    };
    let with_initial = times.is_some_and(|times| *times.start() == 0);
    // Refused before the first byte of output when the log lacks the steps.
    let logged = log.entry(run)?.map_or(0, |e| e.iterations);
    if logged < steps {
        return Err(nano_store::Error::NotLogged {
            run,
            logged,
            requested: steps,
        }
        .into());
    }
    if let Some(version) = args.version.filter(|&v| v > 0) {
        let mut versions = log.versions(run)?;
        let latest = versions.len();
        if version as usize > latest {
            return Err(Usage(format!(
                "--version {version}: the log holds versions 0 to {latest} of this run"
            ))
            .into());
        }
        versions.truncate(version as usize);
        return write_logged(&log, run, &orbit, steps, args.run.format, versions);
    }
    if every_body_oem {
        return write_logged(&log, run, &orbit, steps, OrbitFormat::Oem, Vec::new());
    }
    // The bar counts the steps of the window replayed.
    let window = iterations.clone();
    let records: Box<dyn Iterator<Item = nano_store::Result<nano_store::Record>>> = match args.body
    {
        Some(body) => Box::new(log.track(run, body, iterations)?),
        None => Box::new(log.replay(run, iterations)?),
    };
    let out = io::BufWriter::with_capacity(1 << 16, io::stdout().lock());
    let mut out =
        EphemerisWriter::begin(out, args.run.format, &orbit, steps, &ephemeris::now_utc())?;
    if with_initial {
        for index in 0..orbit.body_count() as u32 {
            if args.body.is_none_or(|b| b == index) {
                let body = orbit.body(index as usize).expect("index below body_count");
                out.state(index, &body.state0)?;
            }
        }
    }
    let mut bar = Progress::new("replay", "steps", window.end - window.start);
    for record in records {
        let record = record?;
        bar.set((record.iteration + 1).saturating_sub(window.start));
        out.record(&record)?;
    }
    out.finish()?;
    bar.finish();
    Ok(())
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
        workers: args.cluster.workers(),
        network: args.cluster.network()?,
        block: args.block,
        log,
        blocks_bytes: nano_pipeline::engine::DEFAULT_BLOCKS_BYTES,
    };
    let engine = nano_pipeline::engine::Engine::start(config)?;
    let mut out = stdout_writer(run)?;
    let mut bar = Progress::new("propagate", "iterations", run.steps);
    engine.stream(RunKey::nano(run.seed), run.steps, |r| {
        bar.set(r.iteration + 1);
        out.record(r)
    })?;
    out.finish()?;
    bar.finish();
    engine.shutdown()?;
    Ok(())
}

/// `screen`: the run's states (propagated on the engine's workers in this process, or
/// read from the log), screened on this process's workers and those of the processes
/// of --hostfile (which run `screen --process P` with the same flags), written
/// closest first.
fn screen(args: &ScreenArgs) -> anyhow::Result<()> {
    let (scenario, orbit) = read_orbit_scenario(&args.scenario, args.max_bodies)?;
    let states = (orbit.body_count() as u64).saturating_mul(args.steps.saturating_add(1));
    if states > MAX_SCREENED_STATES {
        return Err(Usage(format!(
            "--steps {}: {} bodies at {} output times are {states} states, more than the {MAX_SCREENED_STATES} a screening holds in memory",
            args.steps,
            orbit.body_count(),
            args.steps + 1
        ))
        .into());
    }
    let cluster = &args.cluster;
    if cluster.process != 0 {
        // A peer: the same command line, checked the same way, then this process's
        // workers join process 0's screening until it ends.
        let network = cluster
            .network()?
            .expect("a process above 0 has a hostfile");
        screening::screener::run_peer(cluster.workers(), network)?;
        return Ok(());
    }
    // The mesh first, so the peers wait in it while this process propagates.
    let network = cluster.network()?;
    let bodies = orbit_states(args, &scenario, &orbit)?;
    let found = progress::while_running("screen", || {
        screening::screen(bodies, args.distance, cluster.workers(), network)
    })?;
    let out = io::BufWriter::with_capacity(1 << 16, io::stdout().lock());
    screening::report::write(out, args.format, args.distance, orbit.body_count(), &found)?;
    Ok(())
}

/// Every body's states at the run's output times, `t = 0` first: computed on the
/// engine (logged with --data), or replayed from the log when it holds the run.
fn orbit_states(
    args: &ScreenArgs,
    scenario: &Scenario,
    orbit: &OrbitScenario,
) -> anyhow::Result<Vec<Vec<OrbitState>>> {
    let log = match &args.data {
        Some(dir) => Some(open_log(dir, Sync::Batch)?),
        None => None,
    };
    let config = EngineConfig {
        workers: args.cluster.workers(),
        network: None,
        block: resume::DEFAULT_BLOCK,
        log,
        blocks_bytes: nano_pipeline::engine::DEFAULT_BLOCKS_BYTES,
    };
    let steps = args.steps;
    let mut bodies: Vec<Vec<OrbitState>> = orbit
        .bodies()
        .into_iter()
        .map(|b| {
            let mut states = Vec::with_capacity(steps as usize + 1);
            states.push(b.state0);
            states
        })
        .collect();
    let engine = nano_pipeline::engine::Engine::start(config)?;
    let job = engine.submit_scenario(scenario, steps, true)?;
    let mut bar = Progress::new("propagate", "iterations", steps);
    engine.stream_records(&job, scenario.run_key(), steps, |r| {
        let [x, y, z, vx, vy, vz] = r.state;
        let states = bodies
            .get_mut(r.body as usize)
            .ok_or_else(|| io::Error::other(format!("the run has no body {}", r.body)))?;
        // Each body's records arrive in time order, the next one at index iteration + 1.
        if states.len() as u64 != r.iteration + 1 {
            return Err(io::Error::other(format!(
                "body {}: record of iteration {} after {} states",
                r.body,
                r.iteration,
                states.len()
            )));
        }
        states.push(OrbitState {
            t: r.t1,
            r: [x, y, z],
            v: [vx, vy, vz],
        });
        if r.body == 0 {
            bar.set(r.iteration + 1);
        }
        Ok(())
    })?;
    bar.finish();
    drop(job);
    engine.shutdown()?;
    Ok(bodies)
}

fn worker(args: &WorkerArgs) -> anyhow::Result<()> {
    Ok(process::worker(&args.cluster, args.block)?)
}

fn serve(args: &ServeArgs) -> anyhow::Result<()> {
    Ok(process::serve(&args.config, &args.cluster)?)
}

fn pod(args: &PodArgs) -> anyhow::Result<()> {
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

fn local_cluster(config: &LocalClusterConfig) -> anyhow::Result<()> {
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
    let restarts = nano_cluster::local::run(config, &exe, stop)?;
    eprintln!("sedaro-nano local-cluster: stopped after {restarts} restarts");
    Ok(())
}

fn replay(args: &ReplayArgs) -> anyhow::Result<()> {
    if let Some(file) = &args.scenario {
        return replay_scenario(args, file);
    }
    let run = &args.run;
    let log = open_log(&args.data.data, Sync::Never)?;
    // Refuse before the first byte of output, so a missing run prints no half document.
    run.nano_format()?;
    let mut records = nano_pipeline::model::replay(&log, run.seed, 0..run.steps)?;
    let mut out = stdout_writer(run)?;
    let mut bar = Progress::new("replay", "iterations", run.steps);
    records.try_for_each(|r| {
        let r = r?;
        bar.set(r.iteration + 1);
        anyhow::Ok(out.record(&r)?)
    })?;
    out.finish()?;
    bar.finish();
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
            // An orbit run's id (32 hex digits) in the seed's column.
            e.run
                .seed()
                .map_or_else(|| e.run.id.hex(), |seed| seed.to_string()),
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
    let report = progress::while_running("verify", || log.verify())?;
    print!("{}: {report}", args.data.display());
    Ok(report.is_ok())
}

fn accuracy(args: &AccuracyArgs) -> anyhow::Result<()> {
    use nano_pipeline::orbit::accuracy;
    let rows = accuracy::report(args.orbits)?;
    let mut out = io::stdout().lock();
    if args.json {
        accuracy::write_json(&rows, args.orbits, &mut out)?;
    } else {
        accuracy::write_table(&rows, &mut out)?;
    }
    out.flush()?;
    Ok(())
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
        Command::Accuracy(args) => accuracy(args).map(|()| true),
        Command::Screen(args) => screen(args).map(|()| true),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        // A reader that stops early (`| head`) is not a failure.
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) if e.downcast_ref::<Usage>().is_some() => {
            let _ = writeln!(io::stderr(), "error: {e}");
            ExitCode::from(2)
        }
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
