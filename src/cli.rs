//! The command line's schema: every subcommand's flags, their help texts and the
//! parsers that check each value as it is read.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use nano_cluster::local::LocalClusterConfig;
use nano_cluster::process::Placement;
use nano_pipeline::catalog::CatalogFormat;
use nano_pipeline::ephemeris::OrbitFormat;
use nano_pipeline::resume;
use nano_pipeline::scenario::{Frame, ScenarioLimits};
use nano_pipeline::screening::report::ScreenFormat;
use nano_pipeline::Format;
use nano_store::Sync;
use nano_web::config as web_config;
use nano_web::ServeConfig;

/// sedaro-nano: orbit propagation and conjunction screening under manoeuvres, as a
/// service and a command; grown from the two-body nano model.
#[derive(Debug, Parser)]
#[command(version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
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
    /// Element-set catalogues (TLE, OMM in KVN, XML, JSON or CSV): `catalog check
    /// FILE` reads one and prints what was read and what was refused, and why.
    #[command(subcommand)]
    Catalog(CatalogCommand),
    /// The orbit integrators against the exact Kepler solution: for dop853 (1e-12),
    /// yoshida4 and rk4 (a thousandth of the period) on e = 0, 0.1 and 0.7 (perigee
    /// 7,000 km), the largest energy and angular-momentum errors, the final position
    /// error, steps and time.
    Accuracy(AccuracyArgs),
}

#[derive(Debug, Args)]
pub struct AccuracyArgs {
    /// Orbits to propagate each case over (1 to 100000).
    #[arg(long, value_name = "K", default_value_t = 1000, value_parser = parse_orbits, allow_negative_numbers = true)]
    pub(crate) orbits: u64,

    /// Print the report (with each case's energy-error series) as JSON instead of a
    /// table.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub struct PodArgs {
    #[command(flatten)]
    pub(crate) serve: ServeArgs,

    /// Replicas of the StatefulSet (the cluster's processes).
    #[arg(long, value_name = "N", env = "NANO_REPLICAS")]
    pub(crate) replicas: String,

    /// The headless Service through which the pods reach each other.
    #[arg(long, value_name = "NAME", env = "NANO_PEER_SERVICE")]
    pub(crate) peer_service: String,

    /// The port the pods' timely mesh uses.
    #[arg(
        long,
        value_name = "PORT",
        env = "NANO_PEER_PORT",
        default_value_t = 7000
    )]
    pub(crate) peer_port: u16,

    /// Each pod's mesh port, by ordinal (comma-separated), for pods that share one
    /// network and so cannot all listen on --peer-port (containers on one host's
    /// network); overrides --peer-port.
    #[arg(
        long,
        value_name = "PORTS",
        env = "NANO_PEER_PORTS",
        value_delimiter = ','
    )]
    pub(crate) peer_ports: Vec<u16>,

    /// The address this pod's mesh listens on.
    #[arg(
        long,
        value_name = "HOST",
        env = "NANO_PEER_BIND",
        default_value = "0.0.0.0"
    )]
    pub(crate) peer_bind: String,

    /// This pod's name (the downward API's metadata.name); else HOSTNAME.
    #[arg(long, value_name = "NAME", env = "POD_NAME")]
    pub(crate) pod_name: Option<String>,

    /// Where the rendered hostfile is written.
    #[arg(long, value_name = "FILE", env = "NANO_HOSTFILE_OUT")]
    #[arg(default_value = "/tmp/sedaro-nano.hosts")]
    pub(crate) hostfile_out: PathBuf,
}

/// `serve`: the service's configuration (defined in `nano_web::config`) and this
/// process's place in the cluster.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub(crate) config: ServeConfig,

    #[command(flatten)]
    pub(crate) cluster: Placement,
}

#[derive(Debug, Args)]
pub struct WorkerArgs {
    #[command(flatten)]
    pub(crate) cluster: Placement,

    /// Iterations per block (use the same as process 0).
    #[arg(long, value_name = "B", default_value_t = resume::DEFAULT_BLOCK, value_parser = parse_steps)]
    pub(crate) block: u64,
}

/// Which propagator computes a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Engine {
    /// The timely dataflow, on --workers threads and the processes of --hostfile.
    Dataflow,
    /// The single-threaded reference propagator.
    Reference,
}

/// Which run, and how to write it.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Iterations to run (at least 1). Each iteration visits the Planet, then the
    /// Satellite; an agent that is ahead of the other waits, so a run has between n
    /// and 2n records.
    #[arg(long, value_name = "N", value_parser = parse_steps, allow_negative_numbers = true)]
    pub(crate) steps: u64,

    /// Seed of the random time steps, an integer in 0..=18446744073709551615. The same
    /// (steps, seed) always gives the same records.
    #[arg(long, value_name = "S", default_value_t = 0, value_parser = parse_seed, allow_negative_numbers = true)]
    pub(crate) seed: u64,

    /// Output format: `json` (one document, the golden format) or `csv` (a header
    /// line, then one line per record); for an orbit scenario also `oem` (a CCSDS
    /// Orbit Ephemeris Message, one segment per body).
    #[arg(long, value_name = "FORMAT", default_value_t = OrbitFormat::Json)]
    pub(crate) format: OrbitFormat,
}

impl RunArgs {
    /// The nano model's format (it has no OEM).
    pub fn nano_format(&self) -> Result<Format, Usage> {
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
pub struct Usage(pub String);

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Usage {}

#[derive(Debug, Args)]
pub struct PropagateArgs {
    #[command(flatten)]
    pub(crate) run: RunArgs,

    /// Propagate the orbit scenario in this JSON file (docs/orbits.md) instead of the
    /// nano model: `--steps N` output steps of every body, states at `k *
    /// output_step_s` for k = 0..N. CSV columns `t,body,x,y,z,vx,vy,vz` (km, km/s, s
    /// since the epoch), by time then body.
    #[arg(long, value_name = "FILE", conflicts_with = "seed")]
    pub(crate) scenario: Option<PathBuf>,

    #[command(flatten)]
    pub(crate) bodies: BodyLimit,

    #[command(flatten)]
    pub(crate) catalogs: CatalogArgs,

    /// Log the run in this directory (created if missing), block by block; a run the
    /// log already holds in part continues from its last block, one it holds whole is
    /// replayed. Without --data nothing is written to disk.
    #[arg(long, value_name = "DIR", env = "NANO_DATA")]
    pub(crate) data: Option<PathBuf>,

    /// When the log is flushed to disk: `always` (after every block), `batch` (after
    /// each group of blocks written together; for one run, the same), or `never`
    /// (sled flushes about every half second; a crash may lose the latest blocks).
    #[arg(long, value_name = "MODE", default_value_t = Sync::Batch)]
    pub(crate) sync: Sync,

    /// Iterations per block: the unit in which the run is logged and made durable.
    #[arg(long, value_name = "B", default_value_t = resume::DEFAULT_BLOCK, value_parser = parse_steps)]
    pub(crate) block: u64,

    /// Which propagator to use [default: dataflow when --workers or --hostfile is
    /// given, reference otherwise]. Both give the same records, byte for byte.
    #[arg(long, value_enum)]
    pub(crate) engine: Option<Engine>,

    #[command(flatten)]
    pub(crate) cluster: Placement,
}

#[derive(Debug, Args)]
pub struct ScreenArgs {
    /// The orbit scenario (docs/orbits.md JSON) whose run is screened.
    #[arg(long, value_name = "FILE")]
    pub(crate) scenario: PathBuf,

    /// Output steps of the run (at least 1): states at `k * output_step_s` for
    /// k = 0..N.
    #[arg(long, value_name = "N", value_parser = parse_steps, allow_negative_numbers = true)]
    pub(crate) steps: u64,

    /// The screening distance D (km, above 0): minima of the distance below it are
    /// reported.
    #[arg(long, value_name = "D", value_parser = parse_distance, allow_negative_numbers = true)]
    pub(crate) distance: f64,

    /// Output format: `json` (`{"distance_km","bodies","conjunctions":[{"a","b",
    /// "tca_s","miss_km"}]}`) or `csv` (`a,b,tca_s,miss_km`), closest first.
    #[arg(long, value_name = "FORMAT", default_value_t = ScreenFormat::Json)]
    pub(crate) format: ScreenFormat,

    #[command(flatten)]
    pub(crate) bodies: BodyLimit,

    #[command(flatten)]
    pub(crate) catalogs: CatalogArgs,

    /// Log the run in this directory (created if missing), or read it from there when
    /// the log already holds it.
    #[arg(long, value_name = "DIR", env = "NANO_DATA")]
    pub(crate) data: Option<PathBuf>,

    /// Output intervals screened at a time (at least 1): what the screening holds is
    /// one window's, about 480 bytes per body and output time. Default: as many as
    /// fit in 256 MB. The answer does not depend on it.
    #[arg(long, value_name = "N", value_parser = parse_window)]
    pub(crate) window: Option<usize>,

    #[command(flatten)]
    pub(crate) cluster: Placement,
}

/// `--window`: a whole number of intervals, at least 1.
fn parse_window(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!(
            "{text:?} is not a whole number of output intervals of at least 1"
        )),
    }
}

#[derive(Debug, Args)]
pub struct DataArgs {
    /// The log's directory.
    #[arg(long, value_name = "DIR", env = "NANO_DATA", default_value = web_config::DEFAULT_DATA)]
    pub(crate) data: PathBuf,
}

#[derive(Debug, Args)]
pub struct ReplayArgs {
    #[command(flatten)]
    pub(crate) run: RunArgs,
    #[command(flatten)]
    pub(crate) data: DataArgs,

    /// Replay the logged run of the orbit scenario in this JSON file (as `propagate
    /// --scenario` logged it with --data) instead of a nano run.
    #[arg(long, value_name = "FILE", conflicts_with = "seed")]
    pub(crate) scenario: Option<PathBuf>,

    #[command(flatten)]
    pub(crate) bodies: BodyLimit,

    #[command(flatten)]
    pub(crate) catalogs: CatalogArgs,

    /// With --scenario: only this body's states (its index, from 0), read from its
    /// own records in the log.
    #[arg(
        long,
        value_name = "K",
        requires = "scenario",
        allow_negative_numbers = true
    )]
    pub(crate) body: Option<u32>,

    /// With --scenario: only the states at output times from this many seconds
    /// after the epoch on.
    #[arg(long, value_name = "A", requires = "scenario", value_parser = parse_seconds, allow_negative_numbers = true)]
    pub(crate) from: Option<f64>,

    /// With --scenario: only the states at output times up to this many seconds
    /// after the epoch (at most the run's end, steps * output_step_s).
    #[arg(long, value_name = "B", requires = "scenario", value_parser = parse_seconds, allow_negative_numbers = true)]
    pub(crate) to: Option<f64>,

    /// With --scenario: version V of the run, as the manoeuvres posted to the service
    /// (`POST /api/runs/{id}/manoeuvres`) made it; 0, the default, is the run as
    /// propagated. The whole run only, in any --format.
    #[arg(long, value_name = "V", requires = "scenario", conflicts_with_all = ["body", "from", "to"])]
    pub(crate) version: Option<u32>,
}

#[derive(Debug, Args)]
pub struct RunsArgs {
    #[command(flatten)]
    pub(crate) data: DataArgs,

    /// Print the catalog as JSON instead of a table.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Subcommand)]
pub enum CatalogCommand {
    /// Read a catalogue file and print its id, format and counts, then every refused
    /// object with the field and the rule it broke; exit 1 if it holds no good object.
    Check(CatalogCheckArgs),
}

#[derive(Debug, Args)]
pub struct CatalogCheckArgs {
    /// The catalogue file: two- or three-line TLEs, or OMMs in KVN, XML, JSON or CSV.
    #[arg(value_name = "CATALOGUE")]
    pub(crate) file: PathBuf,

    /// The file's format: tle, kvn, xml, json or csv [default: recognised from its
    /// first lines].
    #[arg(long, value_name = "FORMAT")]
    pub(crate) format: Option<CatalogFormat>,

    /// Print the report as JSON (`{"id","format","objects","refused":[{"object",
    /// "field","rule"}],"epochs":{"first","last"}}`) instead of text.
    #[arg(long)]
    pub(crate) json: bool,
}

/// `--catalog` and `--frame`, of the commands that read an orbit scenario.
#[derive(Debug, Args)]
pub struct CatalogArgs {
    /// Take the scenario's catalogue objects from this element-set file (TLE, or OMM
    /// in KVN, XML, JSON or CSV; docs/orbits.md, "Catalogues"): its objects follow the
    /// scenario's own bodies, propagated by SGP4. The scenario's `catalog` (a
    /// selection: norad_ids, min/max_perigee_km, min/max_apogee_km, max_age_days) applies
    /// to it; without one every object is kept. With --data the file is kept in the log.
    #[arg(long, value_name = "CATALOGUE")]
    pub(crate) catalog: Option<PathBuf>,

    /// The frame the states are written in: EME2000 (the scenario's) or TEME (SGP4's,
    /// to compare with other SGP4 tools) [default: the scenario's `frame`, else
    /// EME2000].
    #[arg(long, value_name = "FRAME", value_parser = parse_frame)]
    pub(crate) frame: Option<Frame>,
}

/// `--frame` takes EME2000 or TEME.
fn parse_frame(text: &str) -> Result<Frame, String> {
    Frame::from_name(text).ok_or_else(|| format!("expected EME2000 or TEME, got '{text}'"))
}

/// `--max-bodies`, of the commands that read a scenario.
#[derive(Debug, Args)]
pub struct BodyLimit {
    /// The most bodies a scenario may have (generated and listed).
    #[arg(long, value_name = "N", default_value_t = ScenarioLimits::default().max_bodies, value_parser = parse_max_bodies)]
    pub(crate) max_bodies: usize,
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
