//! Opening the log: sled's lock waited for, the commit count checked against its
//! mark, the format version checked, and logs of versions 1 and 2 converted.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::write::{arithmetic_step, write_frames};
use super::{corrupt, create_private_dir, describe_key, guarded, Block, Commits, Log, LogOptions};
use crate::catalog::CatalogEntry;
use crate::encoding::{self, Chunk, Frame, COMMITS_KEY, FORMAT_VERSION, VERSION_KEY};
use crate::mark;
use crate::record::Record;
use crate::run::RunKey;
use crate::space::Space;
use crate::{Error, Result};

/// How long [`Log::open`] waits for a held lock before saying the log is in use.
const LOCK_WAIT: Duration = Duration::from_secs(2);

/// Whether sled's open failed because its file lock is held (sled 0.34 reports this
/// only as an `Other` I/O error carrying the lock call's `WouldBlock`).
fn is_lock_held(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::Other && e.to_string().contains("could not acquire lock")
}

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
                        source: source.into(),
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
            element_files: Arc::default(),
        })
    }
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
            if entry.run.model.packed_checkpoints() {
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
