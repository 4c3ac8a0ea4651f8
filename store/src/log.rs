//! The persistent QRangeStore: an append-only log of every run's records in sled.
//!
//! Records arrive a [`Block`] at a time (a block is one step range of one run, for
//! every body). Each block is written as one atomic sled batch holding its records (a
//! chunk per body with their time-index entries; for an orbit run, frames of groups of
//! bodies, found by arithmetic), the run's checkpoint and its updated catalog entry, so
//! the catalog, the checkpoint and the records can never disagree. How often the log
//! is flushed to disk is the [`Sync`] option. The byte format is in
//! [`crate::encoding`].

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::catalog::CatalogEntry;
use crate::encoding::{self, Chunk, Frame, Key, COMMITS_KEY, FORMAT_VERSION, VERSION_KEY};
use crate::mark;
use crate::record::Record;
use crate::run::{Model, RunKey};
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

/// How long [`Log::open`] waits for a held lock before saying the log is in use.
const LOCK_WAIT: Duration = Duration::from_secs(2);

/// Whether sled's open failed because its file lock is held (sled 0.34 reports this
/// only as an `Other` I/O error carrying the lock call's `WouldBlock`).
fn is_lock_held(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::Other && e.to_string().contains("could not acquire lock")
}

/// Decodes one part of bytes kept in parts: the whole's length, and the part's bytes.
type DecodePart = for<'a> fn(&[u8], &'a [u8]) -> Result<(u64, &'a [u8]), encoding::Invalid>;

impl Log {
    /// Opens the log in directory `path`, creating it (readable by its owner only) if
    /// it does not exist. A log written in another format version is refused; a log
    /// whose lock another process holds is [`Error::InUse`] after a wait of two seconds.
    pub fn open(path: impl AsRef<Path>, options: LogOptions) -> Result<Log> {
        let path = path.as_ref().to_path_buf();
        create_private_dir(&path).map_err(|e| Error::Io {
            path: path.clone(),
            source: e,
        })?;
        // A full volume must not keep sled from opening (see `crate::space`).
        Space::new(&path, options.max_bytes).prepare_open()?;
        guarded(&path, || Self::open_sled(path.clone(), options))
    }

    fn open_sled(path: PathBuf, options: LogOptions) -> Result<Log> {
        let config = sled::Config::new()
            .path(&path)
            .cache_capacity(options.cache_bytes)
            .mode(sled::Mode::LowSpace);
        // sled releases its file lock when the last of its background writes ends,
        // which can be a moment after the last handle is dropped: a reopen in that
        // moment is refused. So a held lock is waited for, briefly, before it is taken
        // to mean that another process has the log.
        let waiting_since = Instant::now();
        let db = loop {
            match config.open() {
                Ok(db) => break db,
                Err(sled::Error::Io(e)) if is_lock_held(&e) => {
                    if waiting_since.elapsed() >= LOCK_WAIT {
                        return Err(Error::InUse { path });
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(source) => {
                    return Err(Error::Open {
                        path: path.clone(),
                        source,
                    });
                }
            }
        };
        let commits = match db.get(COMMITS_KEY)? {
            Some(v) => u64::from_be_bytes(v.as_ref().try_into().map_err(|_| Error::Corrupt {
                position: format!("the commit count in {}", path.display()),
                detail: "not an 8-byte count".into(),
            })?),
            None => 0,
        };
        let durable = mark::read(&path).map_err(|detail| Error::Corrupt {
            position: format!("the commit mark of {}", path.display()),
            detail,
        })?;
        // Before anything is written: a database that lost durable commits is left as
        // it was found.
        if commits < durable {
            return Err(Error::Corrupt {
                position: format!("the log at {}", path.display()),
                detail: format!(
                    "the database came back at commit {commits}, but commit {durable} had been made durable: \
                     sled cut its log at damaged data and what was written after it is lost"
                ),
            });
        }
        match db.get(VERSION_KEY)? {
            Some(v) => {
                let found = <[u8; 4]>::try_from(v.as_ref())
                    .map(u32::from_be_bytes)
                    .map_err(|_| Error::Corrupt {
                        position: format!("the format version in {}", path.display()),
                        detail: "not a 4-byte version number".into(),
                    })?;
                if found == 1 {
                    convert_v1(&db, &path)?;
                }
                if found == 1 || found == 2 {
                    convert_v2(&db, &path)?;
                } else if found != FORMAT_VERSION {
                    return Err(Error::FormatVersion {
                        path,
                        found,
                        supported: FORMAT_VERSION,
                    });
                }
            }
            None => {
                db.insert(VERSION_KEY, &FORMAT_VERSION.to_be_bytes())?;
                db.flush()?;
            }
        }
        let tree = db.open_tree("log")?;
        let commits = Arc::new(Mutex::new(Commits {
            count: commits,
            mark: mark::Mark::new(&path),
        }));
        Ok(Log {
            db,
            tree,
            space: Space::new(&path, options.max_bytes),
            path,
            options,
            commits,
            chunks_read: Arc::default(),
        })
    }

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
        if run.model == Model::Orbit {
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

    /// Appends blocks, each atomically with its run's catalog entry, and makes them
    /// durable as the [`Sync`] option says. A block must start where its run's log
    /// ends, and its records must tile each body's timeline from where it stands.
    ///
    /// A volume too full to keep its reserve after the blocks refuses them with
    /// [`Error::NoSpace`] before anything is written (see [`crate::space`]).
    pub fn append(&self, blocks: &[Block<'_>]) -> Result<()> {
        let records: usize = blocks.iter().map(|b| b.records.len()).sum();
        self.space
            .room_for(records as u64 * (crate::space::BYTES_PER_ITERATION / 2))?;
        guarded(&self.path, || self.write_blocks(blocks))
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

    fn write_blocks(&self, blocks: &[Block<'_>]) -> Result<()> {
        let mut commits = self.commits.lock().unwrap_or_else(|e| e.into_inner());
        let mut value = Vec::new();
        let mut by_body = Vec::new();
        for block in blocks {
            let previous = self.read_entry(block.run)?;
            let framed = self.check_block(block, previous.as_ref())?;
            let mut batch = sled::Batch::default();
            match framed {
                Some(step) => write_frames(block, step, &mut value, &mut batch)?,
                None => write_chunks(block, &mut value, &mut by_body, &mut batch)?,
            }
            self.write_checkpoint(block, &mut batch)?;
            if let (None, Some(document)) = (previous, block.document) {
                let key = encoding::document_key(block.run);
                batch.insert(&key[..], encoding::encode_sealed(&key, document.as_bytes()));
            }
            let now = now_ms();
            let entry = CatalogEntry {
                run: block.run,
                bodies: block.bodies,
                target: block.target.max(previous.map_or(0, |p| p.target)),
                iterations: block.end,
                records: previous.map_or(0, |p| p.records) + block.records.len() as u64,
                created_ms: previous.map_or(now, |p| p.created_ms),
                updated_ms: now,
            };
            batch.insert(
                &encoding::catalog_key(block.run)[..],
                encoding::encode_catalog(&entry),
            );
            self.tree.apply_batch(batch)?;
            if self.options.sync == Sync::Always {
                self.commit(&mut commits)?;
            }
        }
        if self.options.sync == Sync::Batch && !blocks.is_empty() {
            self.commit(&mut commits)?;
        }
        Ok(())
    }

    /// How `run`'s records are kept: as frames at its output step, or as chunks. Only
    /// orbit runs are written as frames; one seek.
    fn layout(&self, run: RunKey) -> Result<Option<f64>> {
        if run.model != Model::Orbit {
            return Ok(None);
        }
        let Some(item) = self.tree.scan_prefix(encoding::frame_prefix(run)).next() else {
            return Ok(None);
        };
        let (key, value) = item?;
        let frame = Frame::parse(&key, &value).map_err(|d| corrupt(describe_key(&key), d))?;
        Ok(Some(frame.step))
    }

    /// The output step `block` is written as frames at, or `None` for chunks. An orbit
    /// run whose first block is whole rounds at an output step (`t0 = k h`,
    /// `t1 = (k + 1) h` exactly, as the orbit model writes them) is written as frames,
    /// and then each later block must be so too; any other run is written as chunks.
    fn framing(&self, block: &Block<'_>, previous: Option<&CatalogEntry>) -> Result<Option<f64>> {
        if block.run.model != Model::Orbit {
            return Ok(None);
        }
        let step = match previous {
            None => None,
            Some(_) => match self.layout(block.run)? {
                Some(step) => Some(step),
                None => return Ok(None),
            },
        };
        let found = arithmetic_step(
            block.records,
            block.bodies,
            block.first_iteration..block.end,
            step,
        );
        match (step, found) {
            (Some(step), None) => Err(Error::InvalidBlock {
                run: block.run,
                detail: format!(
                    "the run is kept as frames: a block must be whole rounds of its {} bodies from iteration {}, \
                     the record of iteration k over [k {step}, (k + 1) {step})",
                    block.bodies, block.first_iteration
                ),
            }),
            (_, found) => Ok(found),
        }
    }

    /// Puts `block`'s checkpoint into `batch`: a nano run's slots each under its key,
    /// an orbit run's in packs, with the packs past the new ones removed.
    fn write_checkpoint(&self, block: &Block<'_>, batch: &mut sled::Batch) -> Result<()> {
        let run = block.run;
        if run.model != Model::Orbit {
            for (slot, bytes) in block.checkpoint.iter().enumerate() {
                let key = encoding::checkpoint_key(run, slot as u32);
                batch.insert(&key[..], encoding::encode_sealed(&key, bytes));
            }
            return Ok(());
        }
        let ranges = encoding::pack_ranges(block.checkpoint);
        for (pack, range) in ranges.iter().enumerate() {
            let key = encoding::pack_key(run, pack as u32);
            batch.insert(
                &key[..],
                encoding::encode_pack(&key, &block.checkpoint[range.clone()]),
            );
        }
        let stale = encoding::pack_key(run, ranges.len() as u32);
        let last = encoding::pack_key(run, u32::MAX);
        for item in self.tree.range(&stale[..]..=&last[..]) {
            batch.remove(item?.0);
        }
        Ok(())
    }

    /// Raises the target of a logged run (a request for more iterations than it has);
    /// a run not in the log gets its entry with its first block.
    pub fn raise_target(&self, run: RunKey, target: u64) -> Result<()> {
        let mut commits = self.commits.lock().unwrap_or_else(|e| e.into_inner());
        let Some(mut entry) = self.read_entry(run)? else {
            return Ok(());
        };
        if entry.target < target {
            entry.target = target;
            entry.updated_ms = now_ms();
            self.tree
                .insert(encoding::catalog_key(run), encoding::encode_catalog(&entry))?;
            if self.options.sync != Sync::Never {
                self.commit(&mut commits)?;
            }
        }
        Ok(())
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

    /// Keeps `bytes`, a series computed from the first `n` iterations of `run` (the
    /// web service's decimated series of at most `points` points), so that it need not
    /// be computed again; [`Log::series`] reads it back. The log must hold those
    /// iterations ([`Error::NotLogged`]). A series already kept under the same
    /// `(run, n, points)` is replaced whole, in one atomic batch.
    ///
    /// Not flushed: a series is derived from the run, and one lost in a crash is
    /// computed again by whoever asks, so it costs no fsync (sled writes it within
    /// about half a second). A volume too full for it refuses it with
    /// [`Error::NoSpace`] like any write.
    pub fn put_series(&self, run: RunKey, n: u64, points: u32, bytes: &[u8]) -> Result<()> {
        self.space.room_for(bytes.len() as u64)?;
        guarded(&self.path, || {
            let logged = self.read_entry(run)?.map_or(0, |e| e.iterations);
            if logged < n {
                return Err(Error::NotLogged {
                    run,
                    logged,
                    requested: n,
                });
            }
            self.put_parts(
                &encoding::series_prefix(run, n, points),
                |part| encoding::series_key(run, n, points, part),
                bytes,
                false,
            )?
            .map_err(|too_long| Error::InvalidBlock {
                run,
                detail: format!("a series of {too_long} bytes is too long to keep"),
            })
        })
    }

    /// Keeps `bytes` in parts under `prefix` (part `p` under `key_of(p)`), replacing
    /// whatever was kept there, in one atomic batch; [`Log::parts`] reads them back.
    /// Empty bytes are one empty part when `empty_as_part` (so that "kept empty" and
    /// "not kept" differ), none otherwise. `Err(len)` when `len` bytes need more parts
    /// than a key can number.
    pub(crate) fn put_parts(
        &self,
        prefix: &[u8],
        key_of: impl Fn(u16) -> [u8; 32],
        bytes: &[u8],
        empty_as_part: bool,
    ) -> Result<Result<(), usize>> {
        let mut pieces: Vec<&[u8]> = bytes.chunks(encoding::SERIES_PART_BYTES).collect();
        if pieces.len() > u16::MAX as usize + 1 {
            return Ok(Err(bytes.len()));
        }
        if pieces.is_empty() && empty_as_part {
            pieces.push(&[]);
        }
        let mut batch = sled::Batch::default();
        for item in self.tree.scan_prefix(prefix) {
            batch.remove(item?.0);
        }
        let total = bytes.len() as u64;
        for (part, piece) in pieces.into_iter().enumerate() {
            let key = key_of(part as u16);
            batch.insert(&key[..], encoding::encode_part(&key, total, piece));
        }
        self.tree.apply_batch(batch)?;
        Ok(Ok(()))
    }

    /// The series kept by [`Log::put_series`] for `(run, n, points)`, checked part by
    /// part; `None` if none is kept. Reads no chunk of the run.
    pub fn series(&self, run: RunKey, n: u64, points: u32) -> Result<Option<Vec<u8>>> {
        guarded(&self.path, || {
            self.parts(
                &encoding::series_prefix(run, n, points),
                encoding::decode_series_part,
                || format!("run {run}, its series of {points} points over {n} iterations"),
            )
        })
    }

    /// The bytes kept in parts under `prefix` (a series, a screening: the prefix holds
    /// the key's tag, so only parts of that kind are read), put back together: each
    /// part decoded and checked by `decode`, numbered from 0 with nothing missing, each
    /// naming the same total. `None` when no part is kept; `whole` names the bytes in
    /// an error.
    pub(crate) fn parts(
        &self,
        prefix: &[u8],
        decode: DecodePart,
        whole: impl FnOnce() -> String,
    ) -> Result<Option<Vec<u8>>> {
        let mut out: Option<Vec<u8>> = None;
        let mut total = 0;
        for (index, item) in self.tree.scan_prefix(prefix).enumerate() {
            let (key, value) = item?;
            let (claimed, bytes) =
                decode(&key, &value).map_err(|detail| corrupt(describe_key(&key), detail))?;
            let in_order = matches!(encoding::decode_key(&key),
                Ok(Key::Series { part, .. } | Key::Screening { part, .. }) if part as usize == index);
            let buffer = out.get_or_insert_with(|| {
                total = claimed;
                Vec::with_capacity(claimed.min(64 << 20) as usize)
            });
            if !in_order || claimed != total || buffer.len() as u64 + bytes.len() as u64 > total {
                return Err(corrupt(
                    describe_key(&key),
                    "the parts do not follow each other",
                ));
            }
            buffer.extend_from_slice(bytes);
        }
        match out {
            Some(bytes) if bytes.len() as u64 != total => {
                Err(corrupt(whole(), "some of its parts are missing"))
            }
            other => Ok(other),
        }
    }

    /// The range-store query for one run: every body's record whose range contains
    /// `t`, in the order written. Each body's record is found by one seek in the time
    /// index and a binary search in one chunk.
    pub fn get(&self, run: RunKey, t: f64) -> Result<Vec<Record>> {
        if self.layout(run)?.is_some() {
            let mut windows = Vec::new();
            self.states_at(run, t, &mut windows)?;
            if windows.is_empty() {
                return Err(Error::NotFound { t });
            }
            return Ok(windows.into_iter().map(|w| w.record).collect());
        }
        let bodies = self.entry(run)?.map_or(0, |e| e.bodies);
        let mut found = Vec::with_capacity(bodies as usize);
        for body in 0..bodies {
            found.extend(self.get_body(run, body, t)?);
        }
        if found.is_empty() {
            return Err(Error::NotFound { t });
        }
        // The order they were written in, as the in-memory store keeps insertion order.
        found.sort_by_key(|r| (r.iteration, r.body));
        Ok(found)
    }

    /// `body`'s record of `run` whose range contains `t`, if the log holds one.
    pub fn get_body(&self, run: RunKey, body: u32, t: f64) -> Result<Option<Record>> {
        guarded(&self.path, || self.find_record(run, body, t))
    }

    fn find_record(&self, run: RunKey, body: u32, t: f64) -> Result<Option<Record>> {
        if t.is_nan() {
            return Ok(None);
        }
        if let Some(step) = self.layout(run)? {
            let (bodies, logged) = self
                .read_entry(run)?
                .map_or((0, 0), |e| (e.bodies, e.iterations));
            let Some(k) = encoding::iteration_at(t, step).filter(|&k| k < logged && body < bodies)
            else {
                return Ok(None);
            };
            let block = self.block_holding(run, k, true)?;
            return self.frame_at(run, bodies, (block, body, k), |frame, j| {
                Some(frame.record(k, j))
            });
        }
        let from = encoding::index_key(run, body, t);
        self.chunk_at(run, body, &from, |chunk| chunk.find(t))
    }

    /// Reads the chunk the first time-index key of `run` and `body` at or after `from`
    /// points to, and hands it to `read`.
    fn chunk_at<T>(
        &self,
        run: RunKey,
        body: u32,
        from: &[u8],
        read: impl FnOnce(&Chunk<'_>) -> Option<T>,
    ) -> Result<Option<T>> {
        let end = encoding::index_end(run, body);
        let Some(item) = self.tree.range(from..=&end[..]).next() else {
            return Ok(None);
        };
        self.indexed_chunk(run, body, item?, read)
    }

    /// Reads the chunk the time-index entry `(key, value)` of `run` and `body` points
    /// to, verified, and hands it to `read`.
    fn indexed_chunk<T>(
        &self,
        run: RunKey,
        body: u32,
        (key, value): (sled::IVec, sled::IVec),
        read: impl FnOnce(&Chunk<'_>) -> Option<T>,
    ) -> Result<Option<T>> {
        let (first_iteration, part) = encoding::decode_index(&key, &value)
            .map_err(|detail| corrupt(describe_key(&key), detail))?;
        let chunk_key = encoding::chunk_key(run, first_iteration, body, part);
        let value = self.tree.get(chunk_key)?.ok_or_else(|| {
            corrupt(
                describe_key(&chunk_key),
                "the time index points to a chunk that is missing",
            )
        })?;
        self.chunks_read.fetch_add(1, Ordering::Relaxed);
        let chunk = Chunk::parse(&chunk_key, &value)
            .map_err(|detail| corrupt(describe_key(&chunk_key), detail))?;
        Ok(read(&chunk))
    }

    /// Where `body`'s latest logged record of `run` ends, if the log holds one: the
    /// first key of its time index (which runs backwards) names its latest chunk.
    fn body_end(&self, run: RunKey, body: u32) -> Result<Option<f64>> {
        let from = encoding::index_prefix(run, body);
        self.chunk_at(run, body, &from, |chunk| chunk.end_time())
    }

    /// The records of iterations `iterations` of `run`, in the order written, read back
    /// block by block. The log must hold them all: see [`Error::NotLogged`].
    pub fn replay(&self, run: RunKey, iterations: Range<u64>) -> Result<Replay> {
        guarded(&self.path, || self.start_replay(run, iterations))
    }

    fn start_replay(&self, run: RunKey, iterations: Range<u64>) -> Result<Replay> {
        let logged = self.entry(run)?.map_or(0, |e| e.iterations);
        if iterations.end > logged {
            return Err(Error::NotLogged {
                run,
                logged,
                requested: iterations.end,
            });
        }
        // Start at the block holding the first wanted iteration.
        let framed = self.layout(run)?.is_some();
        let start = self.block_holding(run, iterations.start, framed)?;
        let key = if framed {
            encoding::frame_key
        } else {
            encoding::chunk_key
        };
        let from = key(run, start, 0, 0);
        let to = key(run, iterations.end.max(1) - 1, u32::MAX, u16::MAX);
        let bodies = self.entry(run)?.map_or(0, |e| e.bodies);
        Ok(Replay {
            path: self.path.clone(),
            framed: framed.then_some(bodies),
            chunks: self.tree.range(&from[..]..=&to[..]),
            wanted: iterations,
            expected_start: start,
            pending: None,
            block: Vec::new(),
            next: 0,
            failed: false,
            chunks_read: Arc::clone(&self.chunks_read),
        })
    }

    /// The first iteration of the logged block of `run` that holds `iteration` (0 if
    /// the log holds no block at or before it): one backward seek in the chunk keys,
    /// or in the frame keys of a run kept as frames.
    fn block_holding(&self, run: RunKey, iteration: u64, framed: bool) -> Result<u64> {
        let (prefix, probe) = if framed {
            (
                encoding::frame_prefix(run),
                encoding::frame_key(run, iteration, u32::MAX, u16::MAX),
            )
        } else {
            (
                encoding::chunk_prefix(run),
                encoding::chunk_key(run, iteration, u32::MAX, u16::MAX),
            )
        };
        match self.tree.range(&prefix[..]..=&probe[..]).next_back() {
            Some(item) => {
                let (key, _) = item?;
                match encoding::decode_key(&key) {
                    Ok(Key::Chunk {
                        first_iteration, ..
                    }) if !framed => Ok(first_iteration),
                    Ok(Key::Frame {
                        first_iteration, ..
                    }) if framed => Ok(first_iteration),
                    _ => Err(corrupt(describe_key(&key), "not a chunk key")),
                }
            }
            None => Ok(0),
        }
    }

    /// Reads the frame of `run` (of `bodies` bodies) holding `body`'s record of
    /// `iteration` in the block from `block`, verified, and hands it to `read` with
    /// the body's place in it.
    fn frame_at<T>(
        &self,
        run: RunKey,
        bodies: u32,
        (block, body, iteration): (u64, u32, u64),
        read: impl FnOnce(&Frame<'_>, u32) -> T,
    ) -> Result<T> {
        with_frame(
            &self.tree,
            &self.chunks_read,
            run,
            bodies,
            (block, body, iteration),
            read,
        )
    }

    /// One body's records of iterations `iterations` of `run`, in iteration order.
    ///
    /// Only that body's chunks are read: its time index is walked from the back (the
    /// index runs from the latest chunk to the earliest), entered at the body's chunk
    /// in the block holding the first wanted iteration, and each chunk it points to is
    /// verified (checksum, body, start time, continuity with the chunk before) before
    /// a record of it is served. At most one chunk's records are held at a time. The
    /// log must hold the iterations ([`Error::NotLogged`]); a body the run does not
    /// have has no records.
    pub fn track(&self, run: RunKey, body: u32, iterations: Range<u64>) -> Result<Track> {
        guarded(&self.path, || self.start_track(run, body, iterations))
    }

    fn start_track(&self, run: RunKey, body: u32, iterations: Range<u64>) -> Result<Track> {
        let logged = self.entry(run)?.map_or(0, |e| e.iterations);
        if iterations.end > logged {
            return Err(Error::NotLogged {
                run,
                logged,
                requested: iterations.end,
            });
        }
        if self.layout(run)?.is_some() {
            let bodies = self.entry(run)?.map_or(0, |e| e.bodies);
            let block = self.block_holding(run, iterations.start, true)?;
            return Ok(Track {
                path: self.path.clone(),
                tree: self.tree.clone(),
                run,
                body,
                index: None,
                frames: Some(FrameWalk {
                    bodies,
                    block,
                    next: iterations.start,
                }),
                skip_before: block,
                wanted: iterations.clone(),
                records: Vec::with_capacity(encoding::FRAME_STEPS as usize),
                next: 0,
                stands: None,
                done: iterations.is_empty() || body >= bodies,
                chunks_read: Arc::clone(&self.chunks_read),
            });
        }
        let block = self.block_holding(run, iterations.start, false)?;
        // The body's first chunk in that block names the index key to enter at; a body
        // with no records in that block (a nano body that waited through it) is read
        // from the start of its index, its earlier chunks skipped by their block.
        let first = encoding::chunk_key(run, block, body, 0);
        let enter = match self.tree.get(first)? {
            Some(value) => {
                let chunk = Chunk::parse(&first, &value)
                    .map_err(|detail| corrupt(describe_key(&first), detail))?;
                if chunk.is_empty() {
                    encoding::index_end(run, body).to_vec()
                } else {
                    encoding::index_key(run, body, chunk.t0).to_vec()
                }
            }
            None => encoding::index_end(run, body).to_vec(),
        };
        let prefix = encoding::index_prefix(run, body);
        Ok(Track {
            path: self.path.clone(),
            tree: self.tree.clone(),
            run,
            body,
            index: Some(self.tree.range(&prefix[..]..=&enter[..])),
            frames: None,
            skip_before: block,
            wanted: iterations.clone(),
            records: Vec::with_capacity(encoding::PART_RECORDS),
            next: 0,
            stands: None,
            done: iterations.is_empty(),
            chunks_read: Arc::clone(&self.chunks_read),
        })
    }

    /// The window read: for every body of `run` whose logged records reach `t`, the
    /// record whose range contains `t` and the state at that record's start, by body,
    /// into `out` (cleared first; reuse it between calls).
    ///
    /// Each body costs one seek in its time index and the read of one chunk; only when
    /// `t` falls in a chunk's first record is the chunk before it read too (the next key
    /// of the same seek), for the state the record starts from. A record that is its
    /// body's first has no logged start: the run's initial state, which the log does
    /// not know ([`Window::start`] is `None`). Nothing is allocated per body beyond
    /// `out`'s rows.
    pub fn states_at(&self, run: RunKey, t: f64, out: &mut Vec<Window>) -> Result<()> {
        out.clear();
        if t.is_nan() {
            return Ok(());
        }
        let (bodies, logged) = self
            .entry(run)?
            .map_or((0, 0), |e| (e.bodies, e.iterations));
        out.reserve(bodies as usize);
        guarded(&self.path, || {
            if let Some(step) = self.layout(run)? {
                return self.frame_windows(run, (bodies, logged), step, t, out);
            }
            for body in 0..bodies {
                if let Some(window) = self.window(run, body, t)? {
                    out.push(window);
                }
            }
            Ok(())
        })
    }

    /// [`Log::states_at`] of a run kept as frames: the iteration holding `t` is
    /// arithmetic, its block one seek, and each group of bodies one frame (two when
    /// `t` falls in a frame's first iteration: the states before are in the frame
    /// before).
    fn frame_windows(
        &self,
        run: RunKey,
        (bodies, logged): (u32, u64),
        step: f64,
        t: f64,
        out: &mut Vec<Window>,
    ) -> Result<()> {
        let Some(k) = encoding::iteration_at(t, step).filter(|&k| k < logged) else {
            return Ok(());
        };
        let block = self.block_holding(run, k, true)?;
        let before = match k.checked_sub(1) {
            Some(previous) if (k - block) % encoding::FRAME_STEPS == 0 => Some((
                if k == block {
                    self.block_holding(run, previous, true)?
                } else {
                    block
                },
                previous,
            )),
            _ => None,
        };
        for group in (0..bodies).step_by(encoding::GROUP_BODIES as usize) {
            let from = out.len();
            self.frame_at(run, bodies, (block, group, k), |frame, _| {
                out.extend((0..frame.bodies).map(|j| Window {
                    record: frame.record(k, j),
                    start: (k > frame.first).then(|| frame.record(k - 1, j).state),
                }));
            })?;
            if let Some((block, previous)) = before {
                self.frame_at(run, bodies, (block, group, previous), |frame, _| {
                    for (j, window) in out[from..].iter_mut().enumerate() {
                        window.start = Some(frame.record(previous, j as u32).state);
                    }
                })?;
            }
        }
        Ok(())
    }

    fn window(&self, run: RunKey, body: u32, t: f64) -> Result<Option<Window>> {
        let from = encoding::index_key(run, body, t);
        let end = encoding::index_end(run, body);
        let mut index = self.tree.range(&from[..]..=&end[..]);
        let Some(item) = index.next() else {
            return Ok(None);
        };
        let found = self.indexed_chunk(run, body, item?, |chunk| {
            let i = chunk.locate(t)?;
            Some((chunk.record(i), (i > 0).then(|| chunk.record(i - 1).state)))
        })?;
        let Some((record, start)) = found else {
            return Ok(None);
        };
        if start.is_some() {
            return Ok(Some(Window { record, start }));
        }
        // The record is its chunk's first: the state it starts from ends the chunk
        // before, the next key of the same seek.
        let Some(item) = index.next() else {
            return Ok(Some(Window {
                record,
                start: None,
            }));
        };
        let (key, value) = item?;
        let place = describe_key(&key);
        let before = self.indexed_chunk(run, body, (key, value), |chunk| {
            let last = chunk.record(chunk.len().checked_sub(1)?);
            Some((last.t1, last.state))
        })?;
        match before {
            Some((t1, state)) if t1 == record.t0 => Ok(Some(Window {
                record,
                start: Some(state),
            })),
            _ => Err(corrupt(
                place,
                &format!(
                    "body {body}'s chunk before the one holding t = {t} does not end where that one starts ({})",
                    record.t0
                ),
            )),
        }
    }

    /// The records of `run` whose ranges overlap `[from, to)`, in the order written.
    pub fn replay_times(
        &self,
        run: RunKey,
        from: f64,
        to: f64,
    ) -> Result<impl Iterator<Item = Result<Record>>> {
        let (logged, bodies) = self
            .entry(run)?
            .map_or((0, 0), |e| (e.iterations, e.bodies));
        // The earliest iteration any body's record overlapping `from` was written in.
        let mut start = logged;
        let framed = self.layout(run)?;
        if let Some(step) = framed {
            start = match encoding::iteration_at(from, step) {
                Some(k) => k.min(logged),
                None if from < 0.0 => 0,
                None => logged,
            };
        }
        for body in (0..bodies).filter(|_| framed.is_none()) {
            let iteration = match self.get_body(run, body, from)? {
                Some(r) => r.iteration,
                None if from < self.first_t0(run, body)? => 0,
                None => logged,
            };
            start = start.min(iteration);
        }
        let mut replay = self.replay(run, start..logged)?;
        // Each body's records are in time order: once all have passed `to`, stop.
        let mut past = vec![false; bodies as usize];
        let mut passed = 0;
        Ok(std::iter::from_fn(move || loop {
            if passed == past.len() {
                return None;
            }
            match replay.next()? {
                Ok(r) if r.t0 >= to => {
                    if let Some(p) = past.get_mut(r.body as usize).filter(|p| !**p) {
                        *p = true;
                        passed += 1;
                    }
                }
                Ok(r) if r.t1 <= from => {}
                other => return Some(other),
            }
        }))
    }

    /// Where `body`'s first logged record of `run` starts (infinity if none): the last
    /// key of its time index, which runs backwards.
    fn first_t0(&self, run: RunKey, body: u32) -> Result<f64> {
        match self
            .tree
            .scan_prefix(encoding::index_prefix(run, body))
            .next_back()
        {
            Some(item) => match encoding::decode_key(&item?.0) {
                Ok(Key::TimeIndex { t0, .. }) => Ok(t0),
                _ => Ok(f64::INFINITY),
            },
            None => Ok(f64::INFINITY),
        }
    }

    /// Checks that `block` continues its run where the log (`previous`) ends; the
    /// output step when the block is to be kept as frames (see [`Log::framing`]).
    fn check_block(
        &self,
        block: &Block<'_>,
        previous: Option<&CatalogEntry>,
    ) -> Result<Option<f64>> {
        let run = block.run;
        let logged = previous.map_or(0, |p| p.iterations);
        if block.first_iteration != logged {
            return Err(Error::OutOfOrder {
                run,
                logged,
                first_iteration: block.first_iteration,
            });
        }
        let invalid = |detail: String| Err(Error::InvalidBlock { run, detail });
        let end = block.end;
        if end <= block.first_iteration || end - block.first_iteration > u32::MAX as u64 {
            return invalid(format!(
                "it must cover 1 to 2^32 iterations, from {} to {end}",
                block.first_iteration
            ));
        }
        if let Some(p) = previous.filter(|p| p.bodies != block.bodies) {
            return invalid(format!(
                "it has {} bodies, the run {}",
                block.bodies, p.bodies
            ));
        }
        // Whole rounds at the run's output step tile every body's timeline from where
        // the run stands.
        if let Some(step) = self.framing(block, previous)? {
            return Ok(Some(step));
        }
        // Where each body stands: unknown (NaN) until its first record in the block
        // asks the log.
        let mut ends = vec![f64::NAN; block.bodies as usize];
        let mut last = None;
        for r in block.records {
            let position = (r.iteration, r.body);
            if !(block.first_iteration..end).contains(&r.iteration)
                || r.body >= block.bodies
                || last.is_some_and(|l| l >= position)
            {
                return invalid(format!(
                    "record of body {} in iteration {} is out of order",
                    r.body, r.iteration
                ));
            }
            last = Some(position);
            crate::TimeRange::new(r.t0, r.t1)?;
            let stands = &mut ends[r.body as usize];
            if stands.is_nan() && previous.is_some() {
                *stands = self.body_end(run, r.body)?.unwrap_or(f64::NAN);
            }
            if !stands.is_nan() && r.t0 != *stands {
                return invalid(format!(
                    "the record of body {} in iteration {} starts at {} but the body stands at {}",
                    r.body, r.iteration, r.t0, stands
                ));
            }
            *stands = r.t1;
        }
        Ok(None)
    }
}

/// Reads the frame of `run` (of `bodies` bodies) holding `body`'s record of
/// `iteration` in the block from `block` (which the caller knows the log holds),
/// verified, and hands it to `read` with the body's place in it.
fn with_frame<T>(
    tree: &sled::Tree,
    chunks_read: &AtomicU64,
    run: RunKey,
    bodies: u32,
    (block, body, iteration): (u64, u32, u64),
    read: impl FnOnce(&Frame<'_>, u32) -> T,
) -> Result<T> {
    let group = body - body % encoding::GROUP_BODIES;
    let part = (iteration - block) / encoding::FRAME_STEPS;
    let key = encoding::frame_key(run, block, group, part.min(u16::MAX as u64) as u16);
    let place = || describe_key(&key);
    let value = tree
        .get(key)?
        .ok_or_else(|| corrupt(place(), "a frame of the run is missing"))?;
    chunks_read.fetch_add(1, Ordering::Relaxed);
    let frame = Frame::parse(&key, &value).map_err(|detail| corrupt(place(), detail))?;
    let j = body - group;
    if !(frame.first..frame.first + frame.steps).contains(&iteration)
        || frame.bodies != encoding::GROUP_BODIES.min(bodies - group)
    {
        return Err(corrupt(
            place(),
            &format!("the frame does not hold body {body}'s record of iteration {iteration}"),
        ));
    }
    Ok(read(&frame, j))
}

/// Puts `block`'s records into `batch` as chunks, one body's at a time, with their
/// time-index entries (see [`encoding`]).
fn write_chunks(
    block: &Block<'_>,
    value: &mut Vec<u8>,
    by_body: &mut Vec<Record>,
    batch: &mut sled::Batch,
) -> Result<()> {
    let words = block.run.model.state_words();
    // A block by iteration then body with every body in every iteration (an orbit
    // round) is read body by body in place, with a stride of the bodies; any other (a
    // nano block) is first grouped by body, in a copy.
    let bodies = block.bodies as usize;
    let strided = is_round(block.records, bodies);
    let starts = if strided {
        Vec::new()
    } else {
        group_by_body(block.records, block.bodies, by_body)
    };
    let end = block.end;
    for body in 0..block.bodies {
        let (records, stride) = if strided {
            (&block.records[body as usize..], bodies)
        } else {
            (
                &by_body[starts[body as usize]..starts[body as usize + 1]],
                1,
            )
        };
        // The body's records: every `stride`-th of `records`, from the first.
        let count = records.len().div_ceil(stride);
        let body_part = |from: usize, to: usize| {
            records[(from * stride).min(records.len())..]
                .iter()
                .step_by(stride)
                .take(to - from)
        };
        // A block in which every body waited still leaves an (empty) chunk of body 0,
        // so that the blocks of a run follow each other without gaps.
        let empty_block = block.records.is_empty() && body == 0;
        if count == 0 && !empty_block {
            continue;
        }
        let parts = count.div_ceil(encoding::PART_RECORDS).max(1);
        if parts > u16::MAX as usize {
            return Err(Error::InvalidBlock {
                run: block.run,
                detail: format!("{count} records of one body are too many for one block"),
            });
        }
        for part in 0..parts {
            let from = (part * encoding::PART_RECORDS).min(count);
            let to = (from + encoding::PART_RECORDS).min(count);
            let records = body_part(from, to);
            let key = encoding::chunk_key(block.run, block.first_iteration, body, part as u16);
            value.clear();
            encoding::encode_chunk(
                &key,
                words,
                block.first_iteration,
                end,
                records.clone(),
                value,
            );
            batch.insert(&key[..], &value[..]);
            if let Some(first) = records.clone().next() {
                let index = encoding::index_key(block.run, body, first.t0);
                let entry = encoding::encode_index(&index, block.first_iteration, part as u16);
                batch.insert(&index[..], &entry[..]);
            }
        }
    }
    Ok(())
}

/// Puts `block`'s records (whole rounds at output step `step`, checked) into `batch`
/// as frames: for each group of [`encoding::GROUP_BODIES`] bodies, one frame per
/// [`encoding::FRAME_STEPS`] iterations, holding only the states.
fn write_frames(
    block: &Block<'_>,
    step: f64,
    value: &mut Vec<u8>,
    batch: &mut sled::Batch,
) -> Result<()> {
    let words = block.run.model.state_words();
    let bodies = block.bodies as usize;
    let steps = block.end - block.first_iteration;
    let parts = steps.div_ceil(encoding::FRAME_STEPS);
    if parts > u16::MAX as u64 + 1 {
        return Err(Error::InvalidBlock {
            run: block.run,
            detail: format!("{steps} output steps are too many for one block"),
        });
    }
    for group in (0..block.bodies).step_by(encoding::GROUP_BODIES as usize) {
        let n = encoding::GROUP_BODIES.min(block.bodies - group);
        for part in 0..parts {
            let from = part * encoding::FRAME_STEPS;
            let to = (from + encoding::FRAME_STEPS).min(steps);
            let key = encoding::frame_key(block.run, block.first_iteration, group, part as u16);
            let rows = (from as usize..to as usize).map(|i| {
                let at = i * bodies + group as usize;
                &block.records[at..at + n as usize]
            });
            value.clear();
            encoding::encode_frame(&key, words, step, block.end, n, rows, value);
            batch.insert(&key[..], &value[..]);
        }
    }
    Ok(())
}

/// The output step of `records` if they are whole rounds of `bodies` bodies over
/// iterations `span` whose record of iteration `k` spans `[k * step, (k + 1) * step)`
/// exactly; with no `step` given, the one the first record implies (its `t1`, when
/// the span starts at 0).
fn arithmetic_step(
    records: &[Record],
    bodies: u32,
    span: Range<u64>,
    step: Option<f64>,
) -> Option<f64> {
    let first = span.start;
    let whole = span
        .end
        .checked_sub(first)
        .and_then(|n| n.checked_mul(bodies as u64))
        == Some(records.len() as u64);
    if !whole
        || !is_round(records, bodies as usize)
        || records
            .iter()
            .step_by(bodies as usize)
            .zip(first..)
            .any(|(r, k)| r.iteration != k)
    {
        return None;
    }
    let step = match step {
        Some(step) => step,
        None if first == 0 => records[0].t1,
        None => return None,
    };
    let last_end = records.last().map_or(0.0, |r| r.t1);
    if !(step > 0.0 && step.is_finite() && last_end.is_finite()) {
        return None;
    }
    records
        .iter()
        .all(|r| r.t0 == r.iteration as f64 * step && r.t1 == (r.iteration + 1) as f64 * step)
        .then_some(step)
}

/// Whether `records` are whole rounds of `bodies` bodies: by iteration, then body,
/// each body once per iteration (what an orbit job's block is).
fn is_round(records: &[Record], bodies: usize) -> bool {
    bodies > 0
        && !records.is_empty()
        && records.len().is_multiple_of(bodies)
        && records.iter().enumerate().all(|(i, r)| {
            r.body as usize == i % bodies && r.iteration == records[i - i % bodies].iteration
        })
}

/// Puts `records` (by iteration, then body) into `out` grouped by body, each body's in
/// their order (a counting sort); returns where each body's records start, with the
/// end last.
fn group_by_body(records: &[Record], bodies: u32, out: &mut Vec<Record>) -> Vec<usize> {
    let mut starts = vec![0usize; bodies as usize + 1];
    for r in records {
        if let Some(count) = starts.get_mut(r.body as usize + 1) {
            *count += 1;
        }
    }
    for i in 1..starts.len() {
        starts[i] += starts[i - 1];
    }
    out.clear();
    out.resize(
        records.len(),
        records.first().copied().unwrap_or(Record {
            t0: 0.0,
            t1: 0.0,
            body: 0,
            iteration: 0,
            state: [0.0; crate::run::MAX_STATE_WORDS],
        }),
    );
    let mut next = starts.clone();
    for r in records {
        // Bodies past the run's were refused by `check_block`.
        let slot = &mut next[r.body as usize];
        out[*slot] = *r;
        *slot += 1;
    }
    starts
}

/// Converts a version-1 log to this version, in batches that each move some keys and
/// delete them (so a conversion cut short continues on the next open), then records
/// the new version.
fn convert_v1(db: &sled::Db, path: &Path) -> Result<()> {
    const BATCH_KEYS: usize = 4096;
    let tree = db.open_tree("log")?;
    loop {
        let mut batch = sled::Batch::default();
        let mut moved = 0;
        for item in tree.range(..&encoding::v1::END[..]).take(BATCH_KEYS) {
            let (key, value) = item?;
            let converted =
                encoding::v1::convert(&key, &value).map_err(|detail| Error::Corrupt {
                    position: format!("version-1 key {:02x?} in {}", &key[..], path.display()),
                    detail: detail.to_owned(),
                })?;
            for (new_key, new_value) in converted {
                batch.insert(new_key, new_value);
            }
            batch.remove(key);
            moved += 1;
        }
        if moved == 0 {
            break;
        }
        tree.apply_batch(batch)?;
    }
    db.insert(VERSION_KEY, &2u32.to_be_bytes())?;
    db.flush()?;
    Ok(())
}

/// Converts a version-2 log to this version: each orbit run's checkpoint slots become
/// packs (one batch a run), and the chunks of each orbit run whose blocks are all
/// whole rounds at an output step become frames, a block a batch (its chunks and
/// time-index entries deleted in it), so that a conversion cut short continues on the
/// next open. Runs of other shapes, and runs with damaged chunks, stay as chunks
/// (the damage visible to reads and `verify` as before). Then records the version.
fn convert_v2(db: &sled::Db, path: &Path) -> Result<()> {
    let tree = db.open_tree("log")?;
    let mut runs = Vec::new();
    for item in tree.scan_prefix([encoding::CATALOG_TAG]) {
        let (key, value) = item?;
        // A damaged entry is left for reads and `verify` to report.
        if let Ok(entry) = encoding::decode_catalog(&key, &value) {
            if entry.run.model == Model::Orbit {
                runs.push(entry);
            }
        }
    }
    for entry in runs {
        convert_slots(&tree, entry.run)?;
        convert_chunks(&tree, &entry, path)?;
    }
    db.insert(VERSION_KEY, &FORMAT_VERSION.to_be_bytes())?;
    db.flush()?;
    Ok(())
}

/// Moves an orbit run's checkpoint slots into packs, in one batch; slots that fail
/// their checksum are left where they are.
fn convert_slots(tree: &sled::Tree, run: RunKey) -> Result<()> {
    let mut batch = sled::Batch::default();
    let mut slots = Vec::new();
    for item in tree.scan_prefix(encoding::checkpoint_prefix(run)) {
        let (key, value) = item?;
        let Ok(bytes) = encoding::decode_sealed(&key, &value) else {
            return Ok(());
        };
        slots.push(bytes.to_vec());
        batch.remove(key);
    }
    if slots.is_empty() {
        return Ok(());
    }
    for (pack, range) in encoding::pack_ranges(&slots).into_iter().enumerate() {
        let key = encoding::pack_key(run, pack as u32);
        batch.insert(&key[..], encoding::encode_pack(&key, &slots[range]));
    }
    Ok(tree.apply_batch(batch)?)
}

/// One block of a version-2 run's chunks: its first iteration, end, records in the
/// order written, and the keys to delete (chunks and time-index entries).
type ChunkBlock = (u64, u64, Vec<Record>, Vec<Vec<u8>>);

/// Reads a run's chunks block by block, in order, from the run's first chunk; `Ok(None)`
/// when a chunk is damaged.
fn chunk_blocks(
    tree: &sled::Tree,
    run: RunKey,
) -> impl Iterator<Item = Result<Option<ChunkBlock>>> + '_ {
    let mut chunks = tree.scan_prefix(encoding::chunk_prefix(run)).peekable();
    std::iter::from_fn(move || {
        let mut read = || -> Result<Option<Option<ChunkBlock>>> {
            let Some(first) = chunks.next() else {
                return Ok(None);
            };
            let (key, value) = first?;
            let block_key = key[..encoding::BLOCK_KEY_LEN].to_vec();
            let mut item = Some((key, value));
            let (mut records, mut keys, mut span) = (Vec::new(), Vec::new(), None);
            while let Some((key, value)) = item.take() {
                let Ok(chunk) = Chunk::parse(&key, &value) else {
                    return Ok(Some(None));
                };
                span = Some((chunk.first_iteration, chunk.end));
                if !chunk.is_empty() {
                    keys.push(encoding::index_key(run, chunk.body, chunk.t0).to_vec());
                }
                records.extend(chunk.records());
                keys.push(key.to_vec());
                if chunks
                    .peek()
                    .is_some_and(|next| next.as_ref().is_ok_and(|(k, _)| k.starts_with(&block_key)))
                {
                    item = chunks.next().transpose()?;
                }
            }
            let (first, end) = span.expect("a block has a chunk");
            records.sort_by_key(|r| r.iteration);
            Ok(Some(Some((first, end, records, keys))))
        };
        read().transpose()
    })
}

/// Turns an orbit run's chunks into frames, a block a batch, if every block is whole
/// rounds at one output step (checked first, in a pass that writes nothing).
fn convert_chunks(tree: &sled::Tree, entry: &CatalogEntry, path: &Path) -> Result<()> {
    let run = entry.run;
    // A conversion cut short left frames of the first blocks: their step holds.
    let mut step = match tree.scan_prefix(encoding::frame_prefix(run)).next() {
        Some(item) => {
            let (key, value) = item?;
            let frame = Frame::parse(&key, &value).map_err(|d| corrupt(describe_key(&key), d))?;
            Some(frame.step)
        }
        None => None,
    };
    let converting = step.is_some();
    let fits = |first: u64, end: u64, records: &[Record], step: &mut Option<f64>| {
        *step = arithmetic_step(records, entry.bodies, first..end, *step);
        step.is_some()
    };
    let mut checked = step;
    for block in chunk_blocks(tree, run) {
        let fitting = match block? {
            Some((first, end, records, _)) => fits(first, end, &records, &mut checked),
            None => false,
        };
        if !fitting {
            if converting {
                return Err(Error::Corrupt {
                    position: format!("run {run} in {}", path.display()),
                    detail: "the conversion to frames stopped at a block that is not whole rounds at the run's output step".into(),
                });
            }
            return Ok(());
        }
    }
    let mut value = Vec::new();
    for block in chunk_blocks(tree, run) {
        let changed = || Error::Corrupt {
            position: format!("run {run} in {}", path.display()),
            detail: "the run's chunks changed while it was converted".into(),
        };
        let Some((first, end, records, keys)) = block? else {
            return Err(changed());
        };
        if !fits(first, end, &records, &mut step) {
            return Err(changed());
        }
        let step = step.ok_or_else(changed)?;
        let mut batch = sled::Batch::default();
        let block = Block {
            run,
            bodies: entry.bodies,
            target: entry.target,
            first_iteration: first,
            end,
            records: &records,
            checkpoint: &[],
            document: None,
        };
        write_frames(&block, step, &mut value, &mut batch)?;
        for key in keys {
            batch.remove(key);
        }
        tree.apply_batch(batch)?;
    }
    Ok(())
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
        Err(_) => format!("key {key:02x?}"),
    }
}

/// An iterator over logged records, in the order written; see [`Log::replay`].
pub struct Replay {
    path: PathBuf,
    /// For a run kept as frames, its bodies.
    framed: Option<u32>,
    chunks: sled::Iter,
    wanted: Range<u64>,
    /// Where the next block must start: blocks follow each other without gaps.
    expected_start: u64,
    /// A chunk read ahead: the first of the next block.
    pending: Option<(sled::IVec, sled::IVec)>,
    /// The current block's records, in the order written.
    block: Vec<Record>,
    next: usize,
    failed: bool,
    chunks_read: Arc<AtomicU64>,
}

impl Replay {
    /// The next block's first key and value, the one read ahead if any; `None` at the
    /// end, which must be where the wanted iterations end.
    fn first_of_block(&mut self) -> Result<Option<(sled::IVec, sled::IVec)>> {
        Ok(Some(match self.pending.take() {
            Some(kv) => kv,
            None => match self.chunks.next() {
                Some(item) => item?,
                None if self.expected_start < self.wanted.end => {
                    return Err(Error::Corrupt {
                        position: format!(
                            "the end of the log, at iteration {}",
                            self.expected_start
                        ),
                        detail: format!(
                            "the catalog promises iterations up to {}",
                            self.wanted.end
                        ),
                    })
                }
                None => return Ok(None),
            },
        }))
    }

    /// The next key and value if it is of the block whose keys start `block_key`;
    /// one of the next block is kept for it.
    fn next_of_block(&mut self, block_key: &[u8]) -> Result<Option<(sled::IVec, sled::IVec)>> {
        if let Some(kv) = self.chunks.next() {
            let kv = kv?;
            if kv.0[..encoding::BLOCK_KEY_LEN] == block_key[..] {
                return Ok(Some(kv));
            }
            self.pending = Some(kv);
        }
        Ok(None)
    }

    /// Reads the next block's frames into `self.block`, in the order written; false at
    /// the end.
    fn load_frames(&mut self, bodies: u32) -> Result<bool> {
        self.block.clear();
        self.next = 0;
        let Some(first) = self.first_of_block()? else {
            return Ok(false);
        };
        let block_key = first.0[..encoding::BLOCK_KEY_LEN].to_vec();
        let block = self.expected_start;
        // The frame expected next: its group's first body and its part.
        let (mut group, mut part) = (0u32, 0u16);
        let mut end = None;
        let mut item = Some(first);
        while let Some((key, value)) = item.take() {
            let frame = Frame::parse(&key, &value).map_err(|d| corrupt(describe_key(&key), d))?;
            let end = *end.get_or_insert(frame.end);
            if frame.block != block
                || frame.end != end
                || (frame.first_body, frame.part) != (group, part)
                || group >= bodies
                || frame.bodies != encoding::GROUP_BODIES.min(bodies - group)
            {
                return Err(corrupt(
                    describe_key(&key),
                    &format!("a gap in the log: the block was expected at iteration {block}, its frame of bodies {group}.. part {part} next"),
                ));
            }
            if self.block.is_empty() {
                let placeholder = frame.record(frame.first, 0);
                self.block
                    .resize((end - block) as usize * bodies as usize, placeholder);
            }
            for k in frame.first..frame.first + frame.steps {
                let row = (k - block) as usize * bodies as usize + group as usize;
                for j in 0..frame.bodies {
                    self.block[row + j as usize] = frame.record(k, j);
                }
            }
            self.chunks_read.fetch_add(1, Ordering::Relaxed);
            if frame.first + frame.steps < end {
                part += 1;
            } else {
                (group, part) = (group + frame.bodies, 0);
            }
            item = self.next_of_block(&block_key)?;
        }
        if group < bodies {
            return Err(corrupt(
                format!("the block from iteration {block}"),
                &format!("a gap in the log: the frames of bodies {group}.. are missing"),
            ));
        }
        self.expected_start = end.expect("a block has at least one frame");
        Ok(true)
    }

    /// Reads the next block's chunks into `self.block`; false at the end.
    fn load_block(&mut self) -> Result<bool> {
        if let Some(bodies) = self.framed {
            return self.load_frames(bodies);
        }
        self.block.clear();
        self.next = 0;
        let Some(first) = self.first_of_block()? else {
            return Ok(false);
        };
        let block_key = first.0[..encoding::BLOCK_KEY_LEN].to_vec();
        let mut end = None;
        // The body whose parts are being read, and the part expected next.
        let mut at: Option<(u32, u16)> = None;
        let mut item = Some(first);
        while let Some((key, value)) = item.take() {
            let chunk = Chunk::parse(&key, &value).map_err(|d| corrupt(describe_key(&key), d))?;
            let expected_part = match at {
                Some((body, part)) if body == chunk.body => part.saturating_add(1),
                Some((body, _)) if body > chunk.body => u16::MAX,
                _ => 0,
            };
            if chunk.first_iteration != self.expected_start
                || end.is_some_and(|end| end != chunk.end)
                || chunk.part != expected_part
            {
                return Err(corrupt(
                    describe_key(&key),
                    &format!(
                        "a gap in the log: the block was expected at iteration {}",
                        self.expected_start
                    ),
                ));
            }
            end = Some(chunk.end);
            at = Some((chunk.body, chunk.part));
            self.chunks_read.fetch_add(1, Ordering::Relaxed);
            self.block.extend(chunk.records());
            if let Some(kv) = self.chunks.next() {
                let kv = kv?;
                if kv.0[..encoding::BLOCK_KEY_LEN] == block_key[..] {
                    item = Some(kv);
                } else {
                    self.pending = Some(kv);
                }
            }
        }
        self.expected_start = end.expect("a block has at least one chunk");
        // The block's chunks come body by body, each body's in iteration order: a
        // stable sort by iteration merges them into the order written (by iteration,
        // then body), in one pass per body.
        self.block.sort_by_key(|r| r.iteration);
        Ok(true)
    }
}

impl Iterator for Replay {
    type Item = Result<Record>;

    fn next(&mut self) -> Option<Result<Record>> {
        loop {
            if self.failed {
                return None;
            }
            while let Some(r) = self.block.get(self.next) {
                self.next += 1;
                if r.iteration >= self.wanted.end {
                    self.failed = true;
                    return None;
                }
                if r.iteration >= self.wanted.start {
                    return Some(Ok(*r));
                }
            }
            let path = self.path.clone();
            match guarded(&path, || self.load_block()) {
                Ok(true) => {}
                Ok(false) => return None,
                Err(e) => {
                    self.failed = true;
                    return Some(Err(e));
                }
            }
        }
    }
}

/// One body's window at a time `t`; see [`Log::states_at`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Window {
    /// The body's record whose range `[t0, t1)` contains `t` (its state is the one at
    /// `t1`).
    pub record: Record,
    /// The body's state at `record.t0`: the previous record's state, or `None` when
    /// the record is the body's first (its start is the run's initial state, which
    /// the log does not hold: the caller knows it from the scenario).
    pub start: Option<crate::State>,
}

/// One body's records over a range of iterations; see [`Log::track`].
pub struct Track {
    path: PathBuf,
    tree: sled::Tree,
    run: RunKey,
    body: u32,
    /// The body's time index from the entry point, walked from the back (earliest
    /// chunk first); none for a run kept as frames.
    index: Option<sled::Iter>,
    /// Where the walk stands in a run kept as frames.
    frames: Option<FrameWalk>,
    /// Chunks of blocks before this one hold no wanted iteration.
    skip_before: u64,
    wanted: Range<u64>,
    /// The current chunk's records.
    records: Vec<Record>,
    next: usize,
    /// Where the body stands after the chunks read so far (its last record's end).
    stands: Option<(f64, u64)>,
    done: bool,
    chunks_read: Arc<AtomicU64>,
}

/// Where a [`Track`] of a run kept as frames stands.
struct FrameWalk {
    bodies: u32,
    /// The block holding `next`.
    block: u64,
    /// The next iteration to read.
    next: u64,
}

impl Track {
    /// Reads the frame holding the body's next record into `self.records`: the frame
    /// is found from the iteration alone, with no index.
    fn load_frame(&mut self) -> Result<bool> {
        self.records.clear();
        self.next = 0;
        let walk = self.frames.as_mut().expect("a track of frames");
        if walk.next >= self.wanted.end {
            return Ok(false);
        }
        let (next, records) = (walk.next, &mut self.records);
        let (first, steps, end) = with_frame(
            &self.tree,
            &self.chunks_read,
            self.run,
            walk.bodies,
            (walk.block, self.body, next),
            |frame, j| {
                records.extend((next..frame.first + frame.steps).map(|k| frame.record(k, j)));
                (frame.first, frame.steps, frame.end)
            },
        )?;
        debug_assert!(first <= next);
        walk.next = first + steps;
        if walk.next >= end {
            walk.block = end;
        }
        Ok(true)
    }

    /// Reads the body's next chunk into `self.records`; false at the end of its index.
    fn load_chunk(&mut self) -> Result<bool> {
        if self.frames.is_some() {
            return self.load_frame();
        }
        self.records.clear();
        self.next = 0;
        loop {
            let Some(item) = self.index.as_mut().and_then(|index| index.next_back()) else {
                return Ok(false);
            };
            let (key, value) = item?;
            let place = || describe_key(&key);
            let Ok(Key::TimeIndex { t0, .. }) = encoding::decode_key(&key) else {
                return Err(corrupt(place(), "not a time-index key"));
            };
            let (first_iteration, part) =
                encoding::decode_index(&key, &value).map_err(|detail| corrupt(place(), detail))?;
            if first_iteration < self.skip_before {
                continue;
            }
            if first_iteration >= self.wanted.end {
                return Ok(false);
            }
            let chunk_key = encoding::chunk_key(self.run, first_iteration, self.body, part);
            let value = self.tree.get(chunk_key)?.ok_or_else(|| {
                corrupt(
                    describe_key(&chunk_key),
                    "the time index points to a chunk that is missing",
                )
            })?;
            self.chunks_read.fetch_add(1, Ordering::Relaxed);
            let chunk = Chunk::parse(&chunk_key, &value)
                .map_err(|detail| corrupt(describe_key(&chunk_key), detail))?;
            if chunk.is_empty() || chunk.t0 != t0 {
                return Err(corrupt(
                    describe_key(&chunk_key),
                    &format!("the time index says it starts at t = {t0}, but it does not"),
                ));
            }
            for record in chunk.records() {
                let continues = match self.stands {
                    Some((t1, iteration)) => record.t0 == t1 && record.iteration > iteration,
                    None => true,
                };
                if !continues {
                    return Err(corrupt(
                        describe_key(&chunk_key),
                        &format!(
                            "a gap in body {}'s track: its record of iteration {} does not follow the one before",
                            self.body, record.iteration
                        ),
                    ));
                }
                self.stands = Some((record.t1, record.iteration));
                self.records.push(record);
            }
            return Ok(true);
        }
    }
}

impl Iterator for Track {
    type Item = Result<Record>;

    fn next(&mut self) -> Option<Result<Record>> {
        loop {
            if self.done {
                return None;
            }
            while let Some(r) = self.records.get(self.next) {
                self.next += 1;
                if r.iteration >= self.wanted.end {
                    self.done = true;
                    return None;
                }
                if r.iteration >= self.wanted.start {
                    return Some(Ok(*r));
                }
            }
            let path = self.path.clone();
            match guarded(&path, || self.load_chunk()) {
                Ok(true) => {}
                Ok(false) => {
                    self.done = true;
                    return None;
                }
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            }
        }
    }
}
