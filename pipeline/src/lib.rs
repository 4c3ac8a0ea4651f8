//! The nano model and the machinery that runs it.
//!
//! A nano run is the two-body simulation of `docs/model.md`, the model the project grew
//! from: a Planet and a Satellite, each stepping on its own random time step drawn from
//! a counter-based generator, so that a run is a pure function of `(iterations, seed)`.
//!
//! - [`model`]: the vocabulary ([`Agent`], [`AgentState`], [`Record`], [`Checkpoint`])
//!   and the initial conditions, and how they meet the log (`nano-store` keeps bodies
//!   and fixed-width states, not agents; a checkpoint is bytes this crate defines).
//! - [`generator`]: the counter-based draw `u(seed, agent, k)`.
//! - [`integrator`]: one agent's step, in the model's exact operation order.
//! - [`propagator`]: the single-threaded reference [`Propagator`], an iterator over a
//!   run's records that can stop at a [`Checkpoint`] and resume from it.
//! - [`export`]: the JSON and CSV formats, streamed by [`RunWriter`].
//! - [`dataflow`] and [`engine`]: the timely computation that runs jobs in rounds
//!   of one block each, across worker threads and processes, committing every round
//!   to the log; [`job`] is what goes in and comes out. A nano job runs on one
//!   worker; an orbit job is dealt out by body index (body `b` on worker `b mod W`, over
//!   all processes), each worker keeping its bodies' propagators between rounds, and a
//!   round (an epoch: a step range of every body) is gathered on worker 0 into one
//!   block, durable before its progress is reported. Inside, the engine is four
//!   parts: the registry of jobs in flight (single flight by run, subscribers,
//!   follow-ups; no timely in it), the driver (worker 0's loop: rounds, window,
//!   parking), the commit path (each round's blocks into the log, their records to
//!   the subscribers) and the network set-up (timely's allocators from our sockets).
//! - [`admission`]: how much of the engine's memory each job may hold in flight, and
//!   so the epoch an orbit job runs in and whether a job starts now or waits.
//! - [`resume`]: a run against the log (`nano_store::Log`): replay what it holds,
//!   compute and append the rest block by block.
//! - [`scenario`]: what a run computes: the nano model, or an orbit scenario
//!   (`docs/orbits.md`) read from JSON, checked, in canonical form and named by its
//!   hash.
//! - [`orbit`]: the physics of orbit scenarios.
//! - [`catalog`]: catalogues of real objects' element sets (TLE, OMM), read object by
//!   object, propagated by SGP4 and rotated from TEME to EME2000.
//! - [`runs`]: logged orbit runs: opened from the log, read in any version made by
//!   manoeuvres, written out in their formats.
//! - [`screening`]: conjunctions (close approaches) of a run's bodies, by brute force
//!   and as a differential-dataflow computation kept current under manoeuvres.
//! - [`ephemeris`]: the formats of orbit runs (CSV, JSON, and the CCSDS Orbit
//!   Ephemeris Message), streamed by [`ephemeris::EphemerisWriter`];
//!   [`ephemeris::write_run`] computes a run on one thread straight into a format.
//!
//! ```
//! use nano_pipeline::{Format, Propagator, RunWriter};
//!
//! let mut out = RunWriter::begin(Vec::new(), Format::Csv, 10, 42)?;
//! out.records(Propagator::new(42, 10))?;
//! let csv = String::from_utf8(out.finish()?).unwrap();
//! assert!(csv.starts_with("t0,t1,agent,x,y,vx,vy,nextTimeStep,iteration\n0.0,0.01,Planet,"));
//! # Ok::<(), std::io::Error>(())
//! ```

pub mod admission;
pub mod catalog;
mod commit;
pub mod dataflow;
mod driver;
pub mod engine;
pub mod ephemeris;
pub mod export;
pub mod generator;
pub mod integrator;
pub mod job;
pub mod model;
mod network;
pub mod orbit;
pub mod propagator;
mod registry;
pub mod resume;
pub mod runs;
pub mod scenario;
pub mod screening;

/// What can go wrong while running the model against the log and writing its output.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The log failed or refused (see [`nano_store::Error`]).
    #[error(transparent)]
    Store(#[from] nano_store::Error),
    /// The log could not be written (a full or failed disk): no job can be committed
    /// until the service restarts with a writable log.
    #[error("the log cannot be written ({0}); computation is paused until the service restarts with space")]
    LogFailed(String),
    /// timely could not start or run its workers; timely reports its failures as
    /// text, so the text is all there is.
    #[error("the dataflow failed: {0}")]
    Timely(String),
    /// The threads that carry the cluster's traffic could not start.
    #[error("cannot start the cluster's network threads")]
    Network(#[source] std::io::Error),
    /// The thread that resumes runs when the log's volume has space again could not start.
    #[error("cannot start the thread that watches the log's free space")]
    SpaceWatcher(#[source] std::io::Error),
    /// Worker 0 (the one that takes jobs) ended before it started.
    #[error("the dataflow's worker 0 did not start")]
    DriverMissing,
    /// The dataflow has stopped: no job can be submitted.
    #[error("the dataflow has stopped")]
    Stopped,
    /// The log's checkpoint of a run cannot be read as its model's.
    #[error("the checkpoint of run {run} in the log is unreadable: {detail}")]
    UnreadableCheckpoint { run: RunKey, detail: String },
    /// A job ended without completing its run.
    #[error("the job for {run} failed: {reason}")]
    JobFailed { run: RunKey, reason: String },
    /// An orbit body's checkpoint does not belong to the scenario it is resumed under.
    #[error("cannot resume body {body} from its checkpoint: {reason}")]
    Checkpoint { body: usize, reason: String },
    /// A job whose smallest rounds could never fit in the engine's memory for blocks in
    /// flight ([`admission`]): refused rather than left waiting for ever.
    #[error("run {run} cannot be computed within this process's memory: even its smallest rounds ({what}) hold {needs_mb} MB in flight, over the {bound_mb} MB the engine's blocks may take (an eighth of --memory-mb)")]
    OverMemory {
        run: RunKey,
        /// What its smallest round is ("one step of its 100,000 bodies", "one block of 4,096 iterations").
        what: String,
        needs_mb: u64,
        bound_mb: u64,
    },
    /// Writing the records out failed.
    #[error("writing the run failed")]
    Output(#[from] std::io::Error),
    /// An orbit run's read named a nano run.
    #[error("run {seed} is a nano run: states and tracks are read from orbit runs")]
    NanoRun { seed: u64 },
    /// The log holds no run of this id.
    #[error("run {run}: the log holds no such run")]
    NoSuchRun { run: scenario::RunId },
    /// The log's catalog holds a run without the scenario logged with its first block.
    #[error("run {run} is in the catalog without its scenario")]
    NoScenario { run: scenario::RunId },
    /// The scenario the log keeps for a run does not read back.
    #[error("the logged scenario of run {run} does not parse: {detail}")]
    UnreadableScenario {
        run: scenario::RunId,
        detail: String,
    },
    /// What the log holds of a run does not agree with itself (its scenario, its
    /// catalog entry, its tracks, its versions).
    #[error("run {run}: {detail}")]
    InconsistentRun {
        run: scenario::RunId,
        detail: String,
    },
    /// A manoeuvre on a run that has the most versions it may have.
    #[error("run {run} has {latest} versions after version 0, the most a run may have (--max-versions {limit}): it takes no more manoeuvres")]
    TooManyVersions {
        run: scenario::RunId,
        latest: u32,
        limit: u32,
    },
    /// A manoeuvre whose track cannot be computed (the impulse's orbit is refused, or
    /// its integration stopped).
    #[error(transparent)]
    Manoeuvre(#[from] orbit::manoeuvre::Refused),
    /// A screening could not start, or the states cannot be screened.
    #[error(transparent)]
    Screening(#[from] screening::screener::ScreeningError),
    /// A screening the log kept for a run does not read back.
    #[error("run {run}: {source}")]
    UnreadableScreening {
        run: scenario::RunId,
        source: nano_store::encoding::PartialScreening,
    },
}

pub use export::{Format, RunWriter};
pub use model::{Agent, AgentState, Checkpoint, Record, RunKey};
pub use propagator::Propagator;
