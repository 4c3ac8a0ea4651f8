//! The persistent QRangeStore: an append-only log of every run's records in sled.
//!
//! Records arrive a [`Block`] at a time (a block is one step range of one run, for
//! every body). Each block is written as one atomic sled batch holding its records (a
//! chunk per body with their time-index entries; for an orbit run, frames of groups of
//! bodies, found by arithmetic), the run's checkpoint and its updated catalog entry, so
//! the catalog, the checkpoint and the records can never disagree. How often the log
//! is flushed to disk is the [`Sync`] option. The byte format is in
//! [`crate::encoding`].
//!
//! The log's paths each have a module: `open` (opening, and converting logs of older
//! format versions), `write` (appending blocks), `read` (the range query and the
//! window reads), `replay` (a run's records, or one body's, read back in order) and
//! `parts` (bytes kept in parts beside the runs: series, screenings) and
//! `element_file` (element-set files, kept whole for the pipeline's catalogues).

mod element_file;
mod open;
mod parts;
mod read;
mod replay;
mod write;

pub use read::Window;
pub use replay::{Replay, Track};

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::catalog::CatalogEntry;
use crate::encoding::{self, Frame, Key, COMMITS_KEY};
use crate::mark;
use crate::record::Record;
use crate::run::RunKey;
use crate::space::{Reservation, Space};
use crate::{Error, Result};

/// When the log is flushed to disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sync {
    /// After every block: a block is durable before [`Log::append`] moves on.
    Always,
    /// Once per call of [`Log::append`] (one epoch's blocks of every run): the call
    /// returns only when all its blocks are durable.
    #[default]
    Batch,
    /// Never explicitly: sled writes in the background about every half second, so a
    /// crash may lose the latest blocks (never the consistency of what remains).
    Never,
}

impl std::str::FromStr for Sync {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "always" => Ok(Sync::Always),
            "batch" => Ok(Sync::Batch),
            "never" => Ok(Sync::Never),
            other => Err(format!(
                "unknown sync mode '{other}': expected always, batch or never"
            )),
        }
    }
}

impl std::fmt::Display for Sync {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Sync::Always => "always",
            Sync::Batch => "batch",
            Sync::Never => "never",
        })
    }
}

/// How a log is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogOptions {
    pub sync: Sync,
    /// How much sled's page cache holds: what a read leaves in memory is about this
    /// plus a few of sled's pages (with sled patched, `store/vendor/sled/PATCH.md`). A
    /// query is about twice as fast when the run's records fit in it.
    pub cache_bytes: u64,
    /// The most bytes the log may take on disk: new computation that would pass it is
    /// refused ([`Log::admit`]). `None`: only the volume bounds it.
    pub max_bytes: Option<u64>,
}

impl Default for LogOptions {
    fn default() -> Self {
        LogOptions {
            sync: Sync::Batch,
            cache_bytes: 64 << 20,
            max_bytes: None,
        }
    }
}

/// One step range of one run, appended as a unit.
#[derive(Debug, Clone, Copy)]
pub struct Block<'a> {
    pub run: RunKey,
    /// The run's bodies: its records name bodies `0..bodies` (the same in every block).
    pub bodies: u32,
    /// The most iterations asked of the run so far (kept in the catalog).
    pub target: u64,
    /// The block's first iteration: the iterations the log already holds for the run.
    pub first_iteration: u64,
    /// The block's exclusive last iteration.
    pub end: u64,
    /// The block's records in the order written (by iteration, then body).
    pub records: &'a [Record],
    /// What the run's model needs to continue after the block, in slots (bytes the
    /// model defines; nano has one slot, orbit one per body). Every slot is rewritten.
    pub checkpoint: &'a [Vec<u8>],
    /// The run's scenario, in canonical form: kept with the run's first block.
    pub document: Option<&'a str>,
}

/// The log; cheap to clone, and shared between threads.
#[derive(Clone)]
pub struct Log {
    db: sled::Db,
    tree: sled::Tree,
    path: PathBuf,
    options: LogOptions,
    pub(crate) space: Space,
    /// Serialises appends (each reads and rewrites its run's catalog entry) and holds
    /// the count of commits made durable and its mark (see [`crate::mark`]).
    pub(crate) commits: Arc<Mutex<Commits>>,
    /// Chunks read by queries and replays since the log was opened.
    chunks_read: Arc<AtomicU64>,
    /// Serialises keeps of element-set files, so that two keeps of one file write it once.
    element_files: Arc<Mutex<()>>,
}

impl std::fmt::Debug for Log {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Log")
            .field("path", &self.path)
            .field("options", &self.options)
            .finish()
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The count of commits made durable, and the mark that records it.
#[derive(Debug)]
pub(crate) struct Commits {
    count: u64,
    mark: mark::Mark,
}

impl Log {
    /// The tree all of the log lives in.
    pub(crate) fn tree(&self) -> &sled::Tree {
        &self.tree
    }

    /// The directory the log lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The catalog entry of `run`, if the log holds any of it.
    pub fn entry(&self, run: RunKey) -> Result<Option<CatalogEntry>> {
        guarded(&self.path, || self.read_entry(run))
    }

    pub(crate) fn read_entry(&self, run: RunKey) -> Result<Option<CatalogEntry>> {
        let key = encoding::catalog_key(run);
        let Some(value) = self.tree.get(key)? else {
            return Ok(None);
        };
        encoding::decode_catalog(&key, &value)
            .map(Some)
            .map_err(|detail| corrupt(format!("run {run}, catalog entry"), detail))
    }

    /// Every catalog entry, ordered by run.
    pub fn catalog(&self) -> Result<Vec<CatalogEntry>> {
        guarded(&self.path, || self.read_catalog())
    }

    fn read_catalog(&self) -> Result<Vec<CatalogEntry>> {
        self.tree
            .scan_prefix([encoding::CATALOG_TAG])
            .map(|item| {
                let (key, value) = item?;
                encoding::decode_catalog(&key, &value)
                    .map_err(|detail| corrupt(describe_key(&key), detail))
            })
            .collect()
    }

    /// `run`'s checkpoint after its last logged block, slot by slot (empty when the
    /// log holds nothing of the run).
    pub fn checkpoint(&self, run: RunKey) -> Result<Vec<Vec<u8>>> {
        if run.model.packed_checkpoints() {
            return guarded(&self.path, || self.read_packs(run));
        }
        guarded(&self.path, || {
            self.tree
                .scan_prefix(encoding::checkpoint_prefix(run))
                .enumerate()
                .map(|(i, item)| {
                    let (key, value) = item?;
                    let place = describe_key(&key);
                    match encoding::decode_key(&key) {
                        Ok(Key::Checkpoint { slot, .. }) if slot as usize == i => {}
                        _ => return Err(corrupt(place, "a checkpoint slot is missing before it")),
                    }
                    encoding::decode_sealed(&key, &value)
                        .map(<[u8]>::to_vec)
                        .map_err(|detail| corrupt(place, detail))
                })
                .collect()
        })
    }

    /// An orbit run's checkpoint, from its packs in order.
    fn read_packs(&self, run: RunKey) -> Result<Vec<Vec<u8>>> {
        let mut slots = Vec::new();
        for (i, item) in self
            .tree
            .scan_prefix(encoding::pack_prefix(run))
            .enumerate()
        {
            let (key, value) = item?;
            let place = describe_key(&key);
            match encoding::decode_key(&key) {
                Ok(Key::Pack { pack, .. }) if pack as usize == i => {}
                _ => return Err(corrupt(place, "a checkpoint pack is missing before it")),
            }
            let pack =
                encoding::decode_pack(&key, &value).map_err(|detail| corrupt(place, detail))?;
            slots.extend(pack.into_iter().map(<[u8]>::to_vec));
        }
        Ok(slots)
    }

    /// `run`'s scenario in canonical form, if the log keeps it (runs of version 1
    /// logs, and nano runs, may have none).
    pub fn document(&self, run: RunKey) -> Result<Option<String>> {
        guarded(&self.path, || {
            let key = encoding::document_key(run);
            let Some(value) = self.tree.get(key)? else {
                return Ok(None);
            };
            let place = || describe_key(&key);
            let bytes =
                encoding::decode_sealed(&key, &value).map_err(|detail| corrupt(place(), detail))?;
            String::from_utf8(bytes.to_vec())
                .map(Some)
                .map_err(|_| corrupt(place(), "the document is not UTF-8"))
        })
    }

    /// Why the log cannot be written now (its volume is full), if it cannot. Cheap: a
    /// `statvfs` and a `stat`.
    pub fn read_only(&self) -> Result<Option<String>> {
        self.space.read_only()
    }

    /// Refuses, before it starts, new computation of `iterations` iterations of `run`
    /// (of `bodies` bodies: [`crate::space::iteration_bytes`] an iteration) that would
    /// take the log past its quota (counting what the runs in flight reserved), or that
    /// its volume cannot take now. Admitted, its estimate stays reserved while the
    /// [`Reservation`] is kept: keep it until the run completes or fails.
    pub fn admit(&self, run: RunKey, bodies: u32, iterations: u64) -> Result<Reservation> {
        let per = crate::space::iteration_bytes(run, bodies);
        self.space.admit(
            self.size_on_disk()?,
            iterations.saturating_mul(per),
            || match run.seed() {
                Some(_) => format!("{iterations} more iterations"),
                None => format!(
                    "{iterations} more output steps of {bodies} bodies ({per} bytes a step)"
                ),
            },
        )
    }

    /// Refuses writes of about `estimate` bytes (`what` names them) that would take
    /// the log past its quota, as [`Log::admit`] does for runs.
    pub fn admit_bytes(&self, estimate: u64, what: impl FnOnce() -> String) -> Result<Reservation> {
        self.space.admit(self.size_on_disk()?, estimate, what)
    }

    /// Reserves the estimate of `iterations` iterations of `run` (of `bodies` bodies)
    /// without checking the quota: for a run admitted before a restart, resumed now.
    pub fn reserve(&self, run: RunKey, bodies: u32, iterations: u64) -> Reservation {
        self.space
            .reserve(iterations.saturating_mul(crate::space::iteration_bytes(run, bodies)))
    }

    /// The bytes the runs in flight hold reserved under the quota.
    pub fn reserved(&self) -> u64 {
        self.space.reserved()
    }

    /// How `run`'s records are kept: as frames at its output step, or as chunks. Only
    /// orbit runs are written as frames; one seek.
    fn layout(&self, run: RunKey) -> Result<Option<f64>> {
        if !run.model.framed() {
            return Ok(None);
        }
        let Some(item) = self.tree.scan_prefix(encoding::frame_prefix(run)).next() else {
            return Ok(None);
        };
        let (key, value) = item?;
        let frame = Frame::parse(&key, &value).map_err(|d| corrupt(describe_key(&key), d))?;
        Ok(Some(frame.step))
    }

    /// Makes everything written so far durable.
    pub fn flush(&self) -> Result<()> {
        let mut commits = self.commits.lock().unwrap_or_else(|e| e.into_inner());
        self.commit(&mut commits)
    }

    /// Counts one more commit in sled, flushes, then records it in the commit mark.
    pub(crate) fn commit(&self, commits: &mut Commits) -> Result<()> {
        commits.count += 1;
        self.db.insert(COMMITS_KEY, &commits.count.to_be_bytes())?;
        self.db.flush()?;
        commits
            .mark
            .write(commits.count)
            .map_err(|source| Error::Io {
                path: self.path.clone(),
                source,
            })
    }

    /// The bytes the log takes on disk.
    pub fn size_on_disk(&self) -> Result<u64> {
        Ok(self.db.size_on_disk()?)
    }

    /// Chunks of records read since the log was opened, by queries and replays (not
    /// by [`Log::verify`]): what a caller that should not scan a run can check.
    pub fn chunks_read(&self) -> u64 {
        self.chunks_read.load(Ordering::Relaxed)
    }
}

/// Runs sled operations on the log in `path`, turning a panic inside sled (it asserts
/// on some damaged files instead of returning an error) into [`Error::Corrupt`].
pub(crate) fn guarded<T>(path: &Path, f: impl FnOnce() -> Result<T>) -> Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|panic| {
        let message = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        Err(Error::Corrupt {
            position: format!("the database files in {}", path.display()),
            detail: format!("sled failed on damaged data ({message})"),
        })
    })
}

fn create_private_dir(path: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(path)
}

pub(crate) fn corrupt(position: String, detail: &str) -> Error {
    Error::Corrupt {
        position,
        detail: detail.to_owned(),
    }
}

/// Names the place a key stands for, for error messages.
pub(crate) fn describe_key(key: &[u8]) -> String {
    match encoding::decode_key(key) {
        Ok(Key::Catalog(run)) => format!("run {run}, catalog entry"),
        Ok(Key::Chunk {
            run,
            first_iteration,
            body,
            part,
        }) => format!(
            "run {run}, records of body {body} (part {part}) of the block from iteration {first_iteration}"
        ),
        Ok(Key::TimeIndex { run, body, t0 }) => {
            format!("run {run}, time index of body {body} at t = {t0}")
        }
        Ok(Key::Frame {
            run,
            first_iteration,
            body,
            part,
        }) => format!(
            "run {run}, frame of bodies {body}..{} (part {part}) of the block from iteration {first_iteration}",
            body.saturating_add(encoding::GROUP_BODIES)
        ),
        Ok(Key::Pack { run, pack }) => format!("run {run}, checkpoint pack {pack}"),
        Ok(Key::Checkpoint { run, slot }) => format!("run {run}, checkpoint slot {slot}"),
        Ok(Key::Document(run)) => format!("run {run}, scenario document"),
        Ok(Key::Series {
            run,
            n,
            points,
            part,
        }) => {
            format!("run {run}, part {part} of its series of {points} points over {n} iterations")
        }
        Ok(Key::Version { run, version }) => format!("run {run}, version {version}"),
        Ok(Key::ManoeuvreKey { run, key }) => {
            format!("run {run}, the manoeuvre key {:02x?}", &key[..4])
        }
        Ok(Key::VersionStates { run, version, part }) => {
            format!("run {run}, part {part} of version {version}'s states")
        }
        Ok(Key::Screening {
            run,
            version,
            d_bits,
            part,
        }) => format!(
            "run {run}, part {part} of version {version}'s screening at {} km",
            f64::from_bits(d_bits)
        ),
        Ok(Key::ElementFile { id }) => format!("element-set file {}", hex(&id)),
        Ok(Key::ElementFilePart { id, part }) => {
            format!("element-set file {}, part {part}", hex(&id))
        }
        Err(_) => format!("key {key:02x?}"),
    }
}

/// Bytes as lowercase hexadecimal (an element-set file's id, as its keeper writes it).
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
