//! The process's memory budget (`serve --memory-mb`), and the admission of large reads
//! that keeps the service inside it.
//!
//! The budget is split once, at start, into fixed shares:
//!
//! | share | of the budget | what it bounds |
//! |---|---|---|
//! | sled's page cache | 1/8 | pages of the log kept after a read (the cache is bounded since `store/vendor/sled/PATCH.md`) |
//! | the in-process cache | 1/8 | finished documents kept hot (`--cache-mb` may ask for less) |
//! | large reads | 1/4 | what reads of the log hold while they run (below) |
//! | the engine's blocks in flight | 1/8 | records computed and not yet in the log (below) |
//! | screenings | 1/8 | conjunction screeners kept alive between manoeuvres (below) |
//! | the rest | 1/4 | the program (8 MB idle) and the connections (below) |
//!
//! **Blocks in flight.** Each round of the dataflow holds one block of every job in
//! flight: a nano job's `--block` iterations × [`BLOCK_BYTES_PER_ITERATION`] (130
//! bytes), an orbit job's epoch of every body (records of 80 bytes). The engine opens
//! rounds ahead of the log while they fit, and at least one, and the round being
//! committed is held about three times over (its records, their stored form, their
//! encoding), so each job holds up to three of its rounds at that floor. Jobs are
//! admitted against the share by that charge ([`nano_pipeline::admission`]): a job
//! starts when three of its rounds fit in what the jobs admitted before it leave, an
//! orbit job with its whole epoch (some 10 MB a round at the default block) or a
//! shorter one that fits (down to an eighth of it); otherwise it waits, first come
//! first served, and starts as others end (`--max-jobs` bounds how many wait). The
//! sum of the charges never passes the share, so it holds whatever the number of jobs
//! and bodies: at the defaults (512 MB, 64 jobs, blocks of 4,096), 64 runs of a
//! 100-satellite shell run two with whole epochs and one with a shorter one at a time,
//! where unbounded they held some 2 GB (peak RSS 1,188 MB before, 290 MB after: see
//! `tests/memory.rs`); 42 nano jobs of 1.6 MB each fit at once. A run whose smallest rounds
//! (one step of every body) could never fit (over 280,000 bodies at 512 MB) is
//! refused with 413 and the reason (asking again cannot help). `serve` gives the engine this share
//! ([`MemoryBudget::engine_blocks`]); the CLI's engine the same share of the default
//! budget ([`nano_pipeline::engine::DEFAULT_BLOCKS_BYTES`], 64 MB).
//!
//! **Connections.** hyper's buffers grow with what a client sends (a request head of
//! 300 KB held 300 KB per connection: 1,000 such clients took the process to 307 MB).
//! Each connection's read and write buffers are capped at [`CONNECTION_BUFFER_BYTES`]
//! (a longer request head gets 431), so one holds at most [`CONNECTION_BYTES`]
//! (measured: 10 KB idle) beside the body it is sent, which a stream's weight below
//! already counts: 1,024 connections (`--max-connections`' default) hold 48 MB.
//!
//! **Screenings.** A screening of a version of an orbit run holds about
//! [`SCREENING_BYTES_PER_SAMPLE`] per sample (a body's state at an output time: the
//! states read from the log, the dataflow's arrangements of samples, segments and
//! cells; measured at 473 to 503 bytes, Starlink shell 1 over six hours and 500
//! satellites, `benches/screening.rs` and `tests/screen.rs`). A run whose whole
//! screening fits in the screenings' share is screened at once, its weight taken out
//! of the share before it starts, and the screener is kept while the share has room,
//! so that a manoeuvre updates it instead of screening again; when room is needed the
//! least recently used are dropped first ([`crate::screenings`]). A larger run is
//! screened in windows of time ([`nano_pipeline::screening::windows`]) within half the
//! share: what it holds does not grow with the run (Starlink shell 1 for a day at 30 s,
//! 4.6 million samples, peaks at 122 to 133 MB of the whole service's RSS, and 106
//! to 117 MB for half the day: `tests/memory.rs`). The share came out of the in-process cache's
//! quarter, which `--cache-mb` (256 MB by default) seldom filled. However small its
//! run, a screener weighs at least [`SCREENER_MIN_BYTES`]: its worker threads' stacks
//! and its dataflow, so that screeners of tiny runs at many distances cannot pile up
//! threads (at most 16 in the 64 MB share of the default budget).
//!
//! A large read is a read of a logged run that is not a cache hit: a streamed body (CSV
//! or JSON), a document built for the cache, or the page's decimated series. Each
//! takes a weight out of the readers' share for as long as it runs (a streamed body
//! until its last byte is handed on): [`STREAM_BYTES`] for a stream or a series, twice
//! the document's estimated size for a document (it grows by doubling). A stream or a
//! series that does not fit is refused at once with 503, `Retry-After` and the reason;
//! a document waits up to [`DOCUMENT_WAIT`] for its share (they are short: many
//! requests for one run at once queue), and one larger than the whole share is
//! streamed instead. Memory never grows with the number of readers. One client holds at
//! most `--client-share` of the share in streamed reads ([`crate::clients`]).
//!
//! **Manoeuvres.** A manoeuvre streams its version's states to the log a bounded write
//! at a time (a version of ten million states held whole took 1.6 GB under a 512 MB
//! budget) and takes [`MANOEUVRE_BYTES`] from the readers' share while it does, as a
//! stream does (503 with `Retry-After` when it does not fit). Updating the run's kept
//! screeners to the new version holds the body's new track and the samples retracted
//! and inserted: that is taken from the screenings' share as a screening of as many
//! samples, and when it does not fit the screeners are dropped instead of updated.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore, TryAcquireError};

use crate::error::ApiError;

/// What one streaming reader holds at most: the channel's chunks, the writer's buffer,
/// one block of decoded records, a leaf of sled's tree and the socket's buffers.
pub const STREAM_BYTES: u64 = 4 << 20;

/// The most each connection's read buffer, and its write buffer, hold (hyper's
/// `max_buf_size`, whose default of about 400 KB would let 1,024 connections hold
/// 800 MB). A request head longer than this is refused with 431.
pub const CONNECTION_BUFFER_BYTES: usize = 16 << 10;

/// What one open connection holds at most, beside the body it is sent: its two
/// buffers and hyper's state (measured at 10 KB idle), rounded up.
pub const CONNECTION_BYTES: u64 = 2 * CONNECTION_BUFFER_BYTES as u64 + (16 << 10);

/// What one iteration of a block in flight takes (see the module docs).
pub use nano_pipeline::engine::BLOCK_BYTES_PER_ITERATION;

/// What a manoeuvre holds while it writes its version, whatever the run's length: one
/// write of the version's parts (64 parts of 150 states, 460 KB, held about twice as
/// values and as sled's batch), the integrator and the state at its floor, rounded up.
/// Taken from the readers' share for the manoeuvre's duration (see the module docs).
pub const MANOEUVRE_BYTES: u64 = 4 << 20;

/// What a screening holds per sample (see the module docs), rounded up.
pub const SCREENING_BYTES_PER_SAMPLE: u64 = 640;

/// The least a screener weighs, whatever its samples (see the module docs).
pub const SCREENER_MIN_BYTES: u64 = 4 << 20;

/// The smallest budget `serve` accepts.
pub const MIN_MEMORY_BYTES: u64 = 128 << 20;

/// The weight of one admission unit (the semaphore counts KiB).
const UNIT: u64 = 1 << 10;

/// Bytes of JSON per record in a run's document, rounded up (measured: 118 to 130).
pub const DOCUMENT_BYTES_PER_RECORD: u64 = 140;

/// How long a document for the cache waits for its share before the request gets 503.
pub const DOCUMENT_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// The memory budget and its shares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryBudget {
    /// The whole budget, in bytes.
    pub total: u64,
}

impl MemoryBudget {
    /// A budget of `megabytes` MiB; refused under [`MIN_MEMORY_BYTES`].
    pub fn megabytes(megabytes: u64) -> Result<MemoryBudget, String> {
        let total = megabytes.saturating_mul(1 << 20);
        if total < MIN_MEMORY_BYTES {
            return Err(format!(
                "a memory budget of {megabytes} MB is too small: the service needs at least {} MB",
                MIN_MEMORY_BYTES >> 20
            ));
        }
        Ok(MemoryBudget { total })
    }

    /// The bytes sled's page cache may hold.
    pub fn sled_cache(&self) -> u64 {
        self.total / 8
    }

    /// The bytes the in-process cache may hold at most.
    pub fn memory_cache(&self) -> u64 {
        self.total / 8
    }

    /// The bytes large reads may hold together.
    pub fn readers(&self) -> u64 {
        self.total / 4
    }

    /// The bytes the engine's blocks in flight may hold (see the module docs).
    pub fn engine_blocks(&self) -> u64 {
        self.total / 8
    }

    /// The bytes screenings kept alive (and those under way) may hold together.
    pub fn screenings(&self) -> u64 {
        self.total / 8
    }
}

impl Default for MemoryBudget {
    fn default() -> Self {
        MemoryBudget { total: 512 << 20 }
    }
}

/// Admits large reads while they fit in the readers' share.
#[derive(Debug, Clone)]
pub struct Readers {
    permits: Arc<Semaphore>,
    capacity: u64,
}

/// A large read's share of the budget, given back when dropped.
#[derive(Debug)]
pub struct ReadPermit(#[allow(dead_code)] OwnedSemaphorePermit);

impl Readers {
    /// Admission within `bytes`.
    pub fn new(bytes: u64) -> Readers {
        let units = (bytes / UNIT).min(Semaphore::MAX_PERMITS as u64);
        Readers {
            permits: Arc::new(Semaphore::new(units as usize)),
            capacity: units * UNIT,
        }
    }

    /// Takes `bytes` for a read, or refuses it with 503 when they do not fit now.
    pub fn admit(&self, bytes: u64, what: &str) -> Result<ReadPermit, ApiError> {
        let units = bytes.div_ceil(UNIT).clamp(1, u32::MAX as u64) as u32;
        match Arc::clone(&self.permits).try_acquire_many_owned(units) {
            Ok(permit) => Ok(ReadPermit(permit)),
            Err(TryAcquireError::NoPermits) | Err(TryAcquireError::Closed) => {
                Err(ApiError::MemoryFull {
                    reason: format!(
                        "{what} needs {} MB of the memory budget for reads, and {} of its {} MB are in use; try again shortly",
                        bytes.div_ceil(1 << 20),
                        self.in_use().div_ceil(1 << 20),
                        self.capacity >> 20
                    ),
                })
            }
        }
    }

    /// Takes `bytes` for a short read (a document built for the cache), waiting up to
    /// `wait` for them: many such reads at once queue instead of failing. 503 after.
    pub async fn admit_within(
        &self,
        bytes: u64,
        what: &str,
        wait: std::time::Duration,
    ) -> Result<ReadPermit, ApiError> {
        let units = bytes.div_ceil(UNIT).clamp(1, u32::MAX as u64) as u32;
        let acquire = Arc::clone(&self.permits).acquire_many_owned(units);
        match tokio::time::timeout(wait, acquire).await {
            Ok(Ok(permit)) => Ok(ReadPermit(permit)),
            _ => self.admit(bytes, what),
        }
    }

    /// The bytes admitted reads hold now.
    pub fn in_use(&self) -> u64 {
        self.capacity - self.permits.available_permits() as u64 * UNIT
    }

    /// The readers' share, in bytes.
    pub fn capacity(&self) -> u64 {
        self.capacity
    }
}

/// Bounds glibc's malloc to two arenas; call it before any thread starts.
///
/// glibc gives each thread that allocates under contention an arena of its own (up to
/// eight per core), and keeps what each one freed: with tokio's blocking threads
/// reading the log in parallel, the acceptance workload of `tests/memory.rs` peaked at
/// 276 MB with the default arenas and at 127 MB with two (`MALLOC_ARENA_MAX=2`, same
/// workload). A `MALLOC_ARENA_MAX` in the environment is left to rule.
pub fn limit_allocator_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: mallopt only sets an allocator parameter; called before threads start.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 2);
        }
    }
}

/// The weight of a document of the first `n` iterations built in memory.
pub fn document_bytes(n: u64) -> u64 {
    // Up to two records per iteration; the buffer doubles as it grows.
    2 * n * 2 * DOCUMENT_BYTES_PER_RECORD
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_beyond_the_share_are_refused_until_one_ends() {
        let readers = Readers::new(3 * STREAM_BYTES);
        let a = readers.admit(STREAM_BYTES, "a").unwrap();
        let _b = readers.admit(STREAM_BYTES, "b").unwrap();
        let _c = readers.admit(STREAM_BYTES, "c").unwrap();
        let refused = readers.admit(STREAM_BYTES, "a fourth").unwrap_err();
        assert!(
            refused.to_string().contains("a fourth needs 4 MB"),
            "{refused}"
        );
        drop(a);
        assert!(readers.admit(STREAM_BYTES, "again").is_ok());
    }

    #[test]
    fn the_shares_fit_in_the_budget_and_small_budgets_are_refused() {
        let budget = MemoryBudget::megabytes(512).unwrap();
        let shares = budget.sled_cache()
            + budget.memory_cache()
            + budget.readers()
            + budget.engine_blocks()
            + budget.screenings();
        assert!(shares < budget.total);
        // What the connections hold at most fits beside them, in the last quarter.
        let connections = crate::config::DEFAULT_MAX_CONNECTIONS as u64 * CONNECTION_BYTES;
        assert!(shares + connections < budget.total, "{connections}");
        // The CLI's engine takes the default budget's share.
        assert_eq!(
            MemoryBudget::default().engine_blocks(),
            nano_pipeline::engine::DEFAULT_BLOCKS_BYTES
        );
        let refused = MemoryBudget::megabytes(64).unwrap_err();
        assert!(refused.contains("64 MB is too small"), "{refused}");
    }
}
