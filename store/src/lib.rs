//! The QRangeStore: records `[t0, t1) -> value` and the query "every value whose range
//! contains `t`".
//!
//! This crate holds the storage side of sedaro-nano:
//!
//! - [`QRangeStore`], the abstraction, with [`TimeRange`] (a validated left-inclusive,
//!   right-exclusive interval) and [`MemoryRangeStore`], the in-memory form: an
//!   augmented balanced interval tree that answers a query without scanning.
//! - [`record`] and [`run`]: what runs write ([`Record`]: one body's step, its state
//!   a fixed number of words its model defines) and how a run is named ([`RunKey`]: a
//!   [`Model`] and a [`RunId`]). The store knows bodies by index, not what they are: the
//!   models live in `nano-pipeline`, and what one needs to continue a run (its
//!   checkpoint) is bytes it defines and the log keeps. What the store does know of
//!   each model is how its runs are laid out ([`Model::state_words`],
//!   [`Model::framed`], [`Model::packed_checkpoints`], all in [`run`]), and one thing
//!   more of orbit runs: a [`Version`] records the manoeuvre that made it (the body,
//!   its time, its impulse in km/s) beside the body's replaced states.
//! - [`Log`]: every record of every run, persisted as an append-only sled log, one
//!   atomic [`Block`] at a time, with the run [`catalog`] (and each run's checkpoint
//!   and scenario document), range queries by seek, window reads (one body's
//!   [`Log::track`], every body at a time by [`Log::states_at`]), and [`Replay`] without
//!   recomputation. Beside the runs it keeps series derived from them
//!   ([`Log::put_series`], [`Log::series`]: the page's decimated series, read back
//!   without a scan of the run), and the versions of an orbit run made by manoeuvres
//!   with their screenings ([`Log::put_version`], [`Log::versions`],
//!   [`Log::version_states`], [`Log::put_screening`], [`Log::screening`]). [`encoding`] is its byte format (checksummed,
//!   versioned: logs of versions 1 and 2 are converted on open); [`verify`] checks a whole log.
//! - [`space`]: the log's disk. A quota checked before a run starts (its estimate held
//!   as a [`space::Reservation`] until it ends), a reserve kept
//!   free before every block, a ballast file, and the removal of sled's interrupted
//!   snapshots, so that a full volume makes the log read-only, never unopenable.
//!
//! sled is built from `vendor/sled` (0.34.7 with its page cache's LRU made to count
//! every access: `vendor/sled/PATCH.md`), so that reading a log holds about
//! [`LogOptions::cache_bytes`], not what was read.
//!
//! ```
//! use nano_store::{MemoryRangeStore, QRangeStore};
//!
//! let mut store = MemoryRangeStore::new();
//! store.insert(0.0, 3.0, "A")?;
//! store.insert(2.0, 4.0, "D")?;
//! assert_eq!(store.get(2.1)?, vec!["A", "D"]);
//! assert!(store.get(5.0).is_err());
//! # Ok::<(), nano_store::Error>(())
//! ```
//!
//! The log, for one run of one body written in one block and read back:
//!
//! ```
//! use nano_store::{Block, Log, LogOptions, Record, RunId, RunKey};
//! let dir = tempfile::tempdir().unwrap();
//! let log = Log::open(dir.path(), LogOptions::default())?;
//! let state = [7000.0, 0.0, 0.0, 0.0, 7.5, 0.0];
//! let record = Record { t0: 0.0, t1: 10.0, body: 0, iteration: 0, state };
//! let run = RunKey::orbit(RunId([1; 16]));
//! let checkpoint = vec![b"the model's bytes".to_vec()];
//! log.append(&[Block {
//!     run, bodies: 1, target: 1, first_iteration: 0, end: 1,
//!     records: &[record], checkpoint: &checkpoint, document: Some("{}"),
//! }])?;
//! assert_eq!(log.get(run, 5.0)?, vec![record]);
//! assert_eq!(log.replay(run, 0..1)?.collect::<Result<Vec<_>, _>>()?, vec![record]);
//! assert!(log.entry(run)?.unwrap().complete());
//! assert_eq!(log.checkpoint(run)?, checkpoint);
//! # Ok::<(), nano_store::Error>(())
//! ```

pub mod catalog;
pub mod encoding;
pub mod log;
pub mod mark;
mod memory;
mod range_store;
pub mod record;
pub mod run;
pub mod space;
pub mod verify;
mod version;

pub use catalog::CatalogEntry;
pub use encoding::{ScreenedPair, Version, ELEMENT_FILE_MAX_BYTES};
pub use log::{Block, Log, LogOptions, Replay, Sync, Track, Window};
pub use memory::MemoryRangeStore;
pub use range_store::{QRangeStore, TimeRange};
pub use record::{Record, State};
pub use run::{Model, RunId, RunKey};
pub use verify::Report;
pub use version::{ManoeuvreKey, VERSION_WRITE_PARTS};

use std::path::PathBuf;

/// Everything that can go wrong in the store, with the values that were wrong.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A range must have `t0 < t1`, and neither end may be NaN.
    #[error("invalid range [{t0}, {t1}): a range needs t0 < t1 and no NaN")]
    InvalidRange { t0: f64, t1: f64 },
    /// No stored range contains the queried time.
    #[error("no stored range contains t = {t}")]
    NotFound { t: f64 },
    /// The log's directory could not be made or read.
    #[error("cannot use the log directory {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// sled could not open the log (unreadable, damaged).
    #[error("cannot open the log at {path}: {source}")]
    Open { path: PathBuf, source: StorageError },
    /// Another process (or another open handle in this one) holds the log's lock.
    #[error(
        "the log at {path} is in use by another process; stop it, or give this one another data directory"
    )]
    InUse { path: PathBuf },
    /// The log was written in a format this build does not read.
    #[error("the log at {path} has format version {found}, but this build reads versions 1 to {supported}")]
    FormatVersion {
        path: PathBuf,
        found: u32,
        supported: u32,
    },
    /// A read or write of the log failed.
    #[error("the log's storage failed: {0}")]
    Storage(#[from] StorageError),
    /// Stored data failed its checks: it is reported, never served.
    #[error("corrupt log data at {position}: {detail}")]
    Corrupt { position: String, detail: String },
    /// An element-set file cannot be kept as asked (too long, or another file is
    /// already kept under its id); what is kept is unchanged.
    #[error("element-set file {id}: {detail}")]
    ElementFile { id: String, detail: String },
    /// A block did not start where its run's log ends.
    #[error("a block of run {run} starts at iteration {first_iteration}, but the log holds {logged} iterations of it")]
    OutOfOrder {
        run: RunKey,
        logged: u64,
        first_iteration: u64,
    },
    /// A block's records do not continue its run.
    #[error("invalid block for run {run}: {detail}")]
    InvalidBlock { run: RunKey, detail: String },
    /// The log's volume is too full to take a write: refused before sled sees it.
    #[error(
        "the log's volume ({path}) has {available} bytes free, and this write needs {needed} with the reserve: \
         the log is read-only until space returns"
    )]
    NoSpace {
        path: PathBuf,
        available: u64,
        needed: u64,
    },
    /// New computation would take the log past its quota.
    #[error(
        "the log at {path} holds {size} bytes and the runs in flight have {reserved} more reserved; \
         {what} would add about {estimate} bytes and pass its quota of {quota} bytes \
         (--max-log-gb): logged runs are still served"
    )]
    QuotaReached {
        path: PathBuf,
        size: u64,
        reserved: u64,
        estimate: u64,
        quota: u64,
        /// What was to be written: the iterations of a run and its bodies, a version.
        what: String,
    },
    /// The log cannot be written now; the reason says why and until when.
    #[error("{0}")]
    ReadOnly(String),
    /// A version that does not follow its run's latest, or a read of one it lacks.
    #[error("run {run}: {detail}")]
    InvalidVersion { run: RunKey, detail: String },
    /// A replay asked for iterations the log does not hold.
    #[error("the log holds {logged} iterations of run {run}, but {requested} were asked for")]
    NotLogged {
        run: RunKey,
        logged: u64,
        requested: u64,
    },
}

/// A failure of the storage engine beneath the log (sled), kept whole as the cause of
/// the store's [`Error`] (its text and its own source are sled's), so that callers
/// name no type of the engine's.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct StorageError(sled::Error);

impl From<sled::Error> for Error {
    fn from(e: sled::Error) -> Self {
        Error::Storage(StorageError(e))
    }
}

impl From<sled::Error> for StorageError {
    fn from(e: sled::Error) -> Self {
        StorageError(e)
    }
}

/// The store's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
