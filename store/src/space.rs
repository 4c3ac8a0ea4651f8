//! Disk space: what the log may take, what its volume has left, and how a full volume
//! never leaves the log unopenable.
//!
//! sled 0.34 needs free space to open: it writes a snapshot of its page table on every
//! start, first as `snap.<lsn>.generating`, then renamed. On a full volume the write
//! fails after the file was created, and the empty `snap.*.generating` is left behind.
//! sled takes the newest-named snapshot file on the next open, so from then on every
//! open reads the empty file and says "Read corrupted data", even with space again,
//! until someone deletes it by hand. So the store:
//!
//! - **removes every `snap.*.generating` before opening**: sled renames a snapshot
//!   only once it is whole and synced, so a file still under that name is always an
//!   interrupted write; the older snapshot and sled's log rebuild the same state
//!   ([`remove_interrupted_snapshots`]).
//! - **keeps a ballast**: a file of [`BALLAST_BYTES`] (really allocated) in the log's
//!   directory. When the volume is too full for sled to open, the ballast is deleted
//!   first, which gives sled the room for its snapshot. It is made again once the
//!   volume has room for it and the [`RESERVE_BYTES`].
//! - **never lets sled meet a full volume**: before a block is written, the volume
//!   must keep [`RESERVE_BYTES`] free after it ([`Space::room_for`]). Otherwise the
//!   write is refused with [`Error::NoSpace`] before sled sees it, since sled's own
//!   error on a failed write is sticky until the process restarts. While the volume
//!   is that full the log is read-only ([`Space::read_only`]): everything logged is
//!   read as usual, and writing resumes by itself once space returns.
//! - **counts a quota** ([`Space::admit`]): a run whose estimated size would take the
//!   log past its `max_bytes` is refused before it starts, at [`BYTES_PER_ITERATION`]
//!   an iteration of a nano run and [`BYTES_PER_STATE`] a body an output step of an
//!   orbit run ([`iteration_bytes`]: a shell of 100,000 bodies is 100,000 states a
//!   step, not one iteration); a manoeuvre's version at [`BYTES_PER_STATE`] a state.
//!   An admitted run's estimate is held as a [`Reservation`] until the run completes or
//!   fails (the engine keeps it with the job), so runs admitted together cannot pass
//!   the quota between them: each is weighed against the log's size plus what the runs
//!   in flight may still write. While a run writes, its bytes count twice (in the size
//!   and in its reservation): the quota errs on the side of the disk. Runs resumed
//!   after a restart reserve their remainder unconditionally ([`Space::reserve`]).

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::{Relaxed, SeqCst};
use std::sync::Arc;

use fs2::FileExt;

use crate::{Error, Result};

/// The ballast's size.
pub const BALLAST_BYTES: u64 = 4 << 20;

/// Free space the volume keeps after every write: room for sled's next segment, its
/// snapshot and its background flushes.
pub const RESERVE_BYTES: u64 = 4 << 20;

/// The most a logged iteration takes on disk: two records of at most 85 bytes each
/// (README, "What we learned about sled"), rounded up.
pub const BYTES_PER_ITERATION: u64 = 180;

/// The most one orbit state takes in the log, as frames or as a version's parts (48
/// bytes of numbers; sled's pages and segments take the rest: 90 to 129 bytes a state
/// measured, BENCHMARKS.md), rounded up.
pub const BYTES_PER_STATE: u64 = 130;

/// What one iteration of `run`, of `bodies` bodies, takes in the log at most: a nano
/// run's two records, or an orbit run's state of every body.
pub fn iteration_bytes(run: crate::RunKey, bodies: u32) -> u64 {
    match run.seed() {
        Some(_) => BYTES_PER_ITERATION,
        None => u64::from(bodies.max(1)) * BYTES_PER_STATE,
    }
}

/// The ballast's file name in the log's directory.
pub const BALLAST_NAME: &str = "ballast";

/// The disk-space side of one open log.
#[derive(Debug, Clone)]
pub struct Space {
    dir: PathBuf,
    max_bytes: Option<u64>,
    /// What the last refused write needed free (0 after a write that fit): the log stays
    /// read-only until the volume has that much, so that runs do not resume only to be
    /// refused again.
    refused_need: Arc<AtomicU64>,
    /// The bytes reserved by admitted runs still in flight (see [`Reservation`]).
    reserved: Arc<AtomicU64>,
}

/// The estimated bytes of a run admitted under the quota, held against it until
/// dropped (when the run completes or fails): admission counts them as if written.
#[derive(Debug)]
#[must_use = "a reservation holds its bytes only while it is kept"]
pub struct Reservation {
    bytes: u64,
    reserved: Arc<AtomicU64>,
}

impl Reservation {
    /// The bytes held.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.reserved.fetch_sub(self.bytes, SeqCst);
    }
}

/// Free space beyond the reserve below which the log is read-only: room for a few
/// blocks.
pub const WRITE_HEADROOM: u64 = 2 << 20;

/// Removes every interrupted snapshot (`snap.*.generating`) in `dir`; returns how many.
pub fn remove_interrupted_snapshots(dir: &Path) -> std::io::Result<usize> {
    let mut removed = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with("snap.") && name.ends_with(".generating") {
            std::fs::remove_file(entry.path())?;
            removed += 1;
        }
    }
    Ok(removed)
}

impl Space {
    /// The space of the log in `dir`, with an optional quota.
    pub fn new(dir: &Path, max_bytes: Option<u64>) -> Space {
        Space {
            dir: dir.to_path_buf(),
            max_bytes,
            refused_need: Arc::default(),
            reserved: Arc::default(),
        }
    }

    fn io(&self, source: std::io::Error) -> Error {
        Error::Io {
            path: self.dir.clone(),
            source,
        }
    }

    /// Bytes free on the log's volume (for this user).
    pub fn available(&self) -> Result<u64> {
        fs2::available_space(&self.dir).map_err(|e| self.io(e))
    }

    fn ballast(&self) -> PathBuf {
        self.dir.join(BALLAST_NAME)
    }

    /// Before sled opens: frees the ballast when the volume has less than the reserve,
    /// and removes interrupted snapshots.
    pub fn prepare_open(&self) -> Result<()> {
        remove_interrupted_snapshots(&self.dir).map_err(|e| self.io(e))?;
        if self.available()? < RESERVE_BYTES {
            match std::fs::remove_file(self.ballast()) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(self.io(e)),
            }
        }
        Ok(())
    }

    /// Makes the ballast when it is missing and the volume has room for it and the
    /// reserve; true when it is in place.
    fn restore_ballast(&self) -> Result<bool> {
        let path = self.ballast();
        if path.metadata().is_ok_and(|m| m.len() >= BALLAST_BYTES) {
            return Ok(true);
        }
        if self.available()? < BALLAST_BYTES + RESERVE_BYTES {
            return Ok(false);
        }
        let made = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(false)
            .open(&path)
            .and_then(|file| file.allocate(BALLAST_BYTES));
        match made {
            Ok(()) => Ok(true),
            Err(e) => {
                let _ = std::fs::remove_file(&path);
                Err(self.io(e))
            }
        }
    }

    /// Why the log cannot be written now, if it cannot: the volume lacks the ballast's
    /// room or the reserve. Puts the ballast back when there is room again.
    pub fn read_only(&self) -> Result<Option<String>> {
        let ballast = self.restore_ballast()?;
        let available = self.available()?;
        let needed = (RESERVE_BYTES + WRITE_HEADROOM).max(self.refused_need.load(Relaxed));
        if ballast && available >= needed {
            return Ok(None);
        }
        Ok(Some(format!(
            "the log's volume ({}) is full: {} free, and writing needs {} free beside a {} ballast; \
             logged runs are served, new computation resumes by itself when space returns",
            self.dir.display(),
            mib(available),
            mib(needed),
            mib(BALLAST_BYTES),
        )))
    }

    /// Refuses a write of about `bytes` that would leave less than the reserve free.
    pub fn room_for(&self, bytes: u64) -> Result<()> {
        let available = self.available()?;
        let needed = bytes.saturating_add(RESERVE_BYTES);
        if available < needed || !self.restore_ballast()? {
            self.refused_need.store(needed, Relaxed);
            return Err(Error::NoSpace {
                path: self.dir.clone(),
                available,
                needed,
            });
        }
        self.refused_need.store(0, Relaxed);
        Ok(())
    }

    /// Admits new writes of about `estimate` bytes (`what` names them: a run's
    /// iterations, [`iteration_bytes`] each, or a version's states), or refuses them
    /// when the log would pass its quota (`size` is the log's size now, and the runs in
    /// flight hold their reservations) or the volume cannot take them. The estimate
    /// stays reserved while the returned [`Reservation`] is kept.
    pub fn admit(
        &self,
        size: u64,
        estimate: u64,
        what: impl FnOnce() -> String,
    ) -> Result<Reservation> {
        let reservation = match self.max_bytes {
            None => self.reserve_bytes(estimate),
            Some(quota) => {
                // Check and reserve in one step: requests admitted at the same moment
                // each see the others' reservations.
                let taken = self.reserved.fetch_update(SeqCst, SeqCst, |reserved| {
                    let total = size.saturating_add(reserved).saturating_add(estimate);
                    (total <= quota).then(|| reserved + estimate)
                });
                match taken {
                    Ok(_) => Reservation {
                        bytes: estimate,
                        reserved: Arc::clone(&self.reserved),
                    },
                    Err(reserved) => {
                        return Err(Error::QuotaReached {
                            path: self.dir.clone(),
                            size,
                            reserved,
                            estimate,
                            quota,
                            what: what(),
                        })
                    }
                }
            }
        };
        if let Some(reason) = self.read_only()? {
            return Err(Error::ReadOnly(reason));
        }
        Ok(reservation)
    }

    /// Reserves an estimate of `bytes` without checking the quota: for runs admitted
    /// before a restart, which resume whatever the quota says now.
    pub fn reserve(&self, bytes: u64) -> Reservation {
        self.reserve_bytes(bytes)
    }

    fn reserve_bytes(&self, bytes: u64) -> Reservation {
        self.reserved.fetch_add(bytes, SeqCst);
        Reservation {
            bytes,
            reserved: Arc::clone(&self.reserved),
        }
    }

    /// The bytes runs in flight hold reserved.
    pub fn reserved(&self) -> u64 {
        self.reserved.load(SeqCst)
    }
}

/// Bytes as MiB with one decimal, for messages.
pub fn mib(bytes: u64) -> String {
    format!("{:.2} MiB", bytes as f64 / (1 << 20) as f64)
}
