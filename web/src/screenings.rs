//! The screenings the service runs and keeps: the jobs ([`Job`]), and the conjunction
//! screeners kept alive so that a manoeuvre updates a screening
//! (`Screener::replace`: the body's old samples retracted, the new ones inserted)
//! instead of screening the new version again.
//!
//! One screener per run and distance at most, at the version it last screened or was
//! updated to. Each holds its weight ([`crate::budget::SCREENING_BYTES_PER_SAMPLE`] per
//! sample, and at least [`crate::budget::SCREENER_MIN_BYTES`]) out of the screenings'
//! share of the memory budget ([`crate::budget::MemoryBudget::screenings`]); a
//! screening under way holds its weight as a [`Reservation`] before it reads a state
//! (a windowed one, half the share). When a new one needs room, the least recently
//! used kept screeners are dropped; one that does not fit beside the screenings under
//! way gets 503.
//!
//! Manoeuvres of a run take the run's lock ([`Screenings::run_lock`]), and so does a
//! job that keeps a screener: no version slips between the two. A job under way at
//! `D` answers every request at `D` or less (single flight). New versions and finished
//! screenings are announced on a broadcast channel that the conjunction event streams
//! follow.
//!
//! In a cluster, the windowed screenings run on every worker of every process
//! ([`ClusterWorkers`]): process 0 reads each window from the log and its peers take
//! their share of the window's dataflow. Kept screeners (whole-run, kept current
//! under manoeuvres) stay in process 0.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use axum::http::StatusCode;
use nano_store::RunKey;
use tokio::sync::{broadcast, watch};

use crate::budget::{SCREENER_MIN_BYTES, SCREENING_BYTES_PER_SAMPLE};
use crate::error::ApiError;

pub use nano_pipeline::runs::screening::Held;
use nano_pipeline::screening::screener::ScreeningError;
use nano_pipeline::screening::windows::Workers;

/// The windowed screenings' worker threads on every process of the cluster (the
/// `worker` processes run their side, [`nano_pipeline::screening::windows::run_peer`],
/// on a mesh of their own beside the engine's), kept from the service's start to its
/// stop. One screening at a time: the others wait for their turn.
pub struct ClusterWorkers {
    workers: Mutex<Option<Workers>>,
    processes: usize,
}

impl ClusterWorkers {
    /// Keeps `workers`, started as process 0 of a cluster of `processes`.
    pub fn new(workers: Workers, processes: usize) -> ClusterWorkers {
        ClusterWorkers {
            workers: Mutex::new(Some(workers)),
            processes,
        }
    }

    /// The processes the screenings run on.
    pub fn processes(&self) -> usize {
        self.processes
    }

    /// `screen` on the workers, when its turn comes (on a blocking thread); `None`
    /// once they are stopped.
    pub fn with<R>(&self, screen: impl FnOnce(&Workers) -> R) -> Option<R> {
        let workers = self.workers.lock().unwrap_or_else(|e| e.into_inner());
        workers.as_ref().map(screen)
    }

    /// Stops the workers, after the screening under way: the peers' side returns.
    pub fn stop(&self) -> Result<(), ScreeningError> {
        let taken = self
            .workers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        taken.map_or(Ok(()), Workers::stop)
    }
}

/// A kept screener, shared between the requests that use it (on blocking threads).
pub type Shared = Arc<Mutex<Held>>;

struct Kept {
    held: Shared,
    weight: u64,
    used_at: u64,
}

#[derive(Default)]
struct Inner {
    /// Bytes held by kept screeners and reservations.
    used: u64,
    clock: u64,
    kept: HashMap<(RunKey, u64), Kept>,
}

/// The kept screeners, their share of the budget, the runs' locks, the screening
/// jobs, and the announcements of new versions and finished screenings.
pub struct Screenings {
    capacity: u64,
    workers: usize,
    inner: Mutex<Inner>,
    runs: Mutex<HashMap<RunKey, Weak<tokio::sync::Mutex<()>>>>,
    versions: broadcast::Sender<(RunKey, u32)>,
    jobs: Mutex<VecDeque<Arc<Job>>>,
    next_job: AtomicU64,
}

/// Screening jobs remembered at most (the oldest finished ones are forgotten first;
/// their screenings stay in the log).
pub const MAX_JOBS: usize = 256;

/// Where a screening job is.
#[derive(Debug, Clone, PartialEq)]
pub enum JobState {
    /// `done` of the version's `total` output times screened.
    Running { done: u64, total: u64 },
    /// Screened and kept in the log: `count` conjunctions below its distance.
    Done { count: usize },
    /// It could not be screened: the status a request for it would have had, and why.
    Failed { status: u16, reason: String },
}

/// A screening of one version of a run at one distance, under way or finished.
pub struct Job {
    pub id: u64,
    pub run: RunKey,
    pub version: u32,
    pub d_km: f64,
    /// Screened in windows of time (the run is too large to keep a screener of).
    pub windowed: bool,
    /// The processes whose workers screen it (those of the cluster when windowed).
    pub processes: usize,
    /// Screened from its parent's kept screening: only what a manoeuvre changed.
    pub incremental: std::sync::atomic::AtomicBool,
    state: watch::Sender<JobState>,
}

impl Job {
    pub fn state(&self) -> JobState {
        self.state.borrow().clone()
    }

    /// Follows the job's state.
    pub fn watch(&self) -> watch::Receiver<JobState> {
        self.state.subscribe()
    }

    pub fn set(&self, state: JobState) {
        self.state.send_replace(state);
    }

    pub fn running(&self) -> bool {
        matches!(self.state(), JobState::Running { .. })
    }
}

/// A screening's weight, held out of the share until it is dropped or kept.
pub struct Reservation {
    owner: Arc<Screenings>,
    weight: u64,
}

impl Reservation {
    /// The bytes it holds.
    pub fn weight(&self) -> u64 {
        self.weight
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if self.weight > 0 {
            let mut inner = self.owner.lock();
            inner.used = inner.used.saturating_sub(self.weight);
        }
    }
}

impl Screenings {
    /// Screenings within `capacity` bytes, each on `workers` worker threads.
    pub fn new(capacity: u64, workers: usize) -> Screenings {
        Screenings {
            capacity,
            workers: workers.max(1),
            inner: Mutex::default(),
            runs: Mutex::default(),
            versions: broadcast::channel(64).0,
            jobs: Mutex::default(),
            next_job: AtomicU64::new(1),
        }
    }

    fn jobs(&self) -> std::sync::MutexGuard<'_, VecDeque<Arc<Job>>> {
        self.jobs.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A new job screening `version` of `run` at `d_km`, running, `total` output
    /// times to screen. Past [`MAX_JOBS`], the oldest finished job is forgotten.
    pub fn add_job(
        &self,
        run: RunKey,
        version: u32,
        d_km: f64,
        windowed: bool,
        processes: usize,
        total: u64,
    ) -> Arc<Job> {
        let job = Arc::new(Job {
            id: self.next_job.fetch_add(1, Ordering::Relaxed),
            run,
            version,
            d_km,
            windowed,
            processes,
            incremental: Default::default(),
            state: watch::channel(JobState::Running { done: 0, total }).0,
        });
        let mut jobs = self.jobs();
        while jobs.len() >= MAX_JOBS {
            match jobs.iter().position(|j| !j.running()) {
                Some(at) => {
                    jobs.remove(at);
                }
                None => break,
            }
        }
        jobs.push_back(Arc::clone(&job));
        job
    }

    /// Job `id` of `run`, if it is remembered.
    pub fn job(&self, run: RunKey, id: u64) -> Option<Arc<Job>> {
        self.jobs()
            .iter()
            .find(|j| j.id == id && j.run == run)
            .cloned()
    }

    /// The jobs of `run` remembered, oldest first.
    pub fn jobs_of(&self, run: RunKey) -> Vec<Arc<Job>> {
        self.jobs()
            .iter()
            .filter(|j| j.run == run)
            .cloned()
            .collect()
    }

    /// The job under way screening `version` of `run` at a distance of at least
    /// `d_km` (the largest), if there is one: its answer will hold the one at `d_km`.
    pub fn running_covering(&self, run: RunKey, version: u32, d_km: f64) -> Option<Arc<Job>> {
        self.jobs()
            .iter()
            .filter(|j| j.run == run && j.version == version && j.d_km >= d_km && j.running())
            .max_by(|a, b| a.d_km.total_cmp(&b.d_km))
            .cloned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The worker threads a screening runs on.
    pub fn workers(&self) -> usize {
        self.workers
    }

    /// The share, in bytes.
    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    /// The bytes kept screeners and screenings under way hold now.
    pub fn in_use(&self) -> u64 {
        self.lock().used
    }

    /// How many screeners are kept.
    pub fn kept_count(&self) -> usize {
        self.lock().kept.len()
    }

    /// The lock that serialises changes to `run` (manoeuvres, screenings).
    pub fn run_lock(&self, run: RunKey) -> Arc<tokio::sync::Mutex<()>> {
        let mut runs = self.runs.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(lock) = runs.get(&run).and_then(Weak::upgrade) {
            return lock;
        }
        runs.retain(|_, lock| lock.strong_count() > 0);
        let lock = Arc::new(tokio::sync::Mutex::new(()));
        runs.insert(run, Arc::downgrade(&lock));
        lock
    }

    /// Takes the weight of a screening of `samples` samples (`what` names it for the
    /// refusals), dropping the least recently used kept screeners to make room.
    pub fn reserve(self: &Arc<Self>, samples: u64, what: &str) -> Result<Reservation, ApiError> {
        let weight = samples
            .saturating_mul(SCREENING_BYTES_PER_SAMPLE)
            .max(SCREENER_MIN_BYTES);
        if weight > self.capacity {
            return Err(ApiError::Refused {
                status: StatusCode::PAYLOAD_TOO_LARGE,
                message: format!(
                    "{what} has {samples} samples (bodies x output times), about {} MB at {SCREENING_BYTES_PER_SAMPLE} bytes a sample, \
                     past the limit of {} MB the service keeps for screenings (an eighth of --memory-mb); \
                     screen it with `sedaro-nano screen --scenario FILE --steps N --distance D`",
                    weight.div_ceil(1 << 20),
                    self.capacity >> 20
                ),
            });
        }
        self.reserve_bytes(weight, what)
    }

    /// Takes `weight` bytes of the share for a screening (`what` names it), dropping
    /// the least recently used kept screeners to make room; 503 when the screenings
    /// under way leave too little.
    pub fn reserve_bytes(
        self: &Arc<Self>,
        weight: u64,
        what: &str,
    ) -> Result<Reservation, ApiError> {
        let mut dropped = Vec::new();
        let result = {
            let mut inner = self.lock();
            while inner.used + weight > self.capacity {
                let Some(oldest) = inner
                    .kept
                    .iter()
                    .min_by_key(|(_, k)| k.used_at)
                    .map(|(key, _)| *key)
                else {
                    break;
                };
                let kept = inner.kept.remove(&oldest).expect("found above");
                inner.used = inner.used.saturating_sub(kept.weight);
                dropped.push(kept.held);
            }
            if inner.used + weight > self.capacity {
                Err(ApiError::MemoryFull {
                    reason: format!(
                        "{what} needs {} MB of the memory kept for screenings, and screenings under way hold {} of its {} MB; try again shortly",
                        weight.div_ceil(1 << 20),
                        inner.used.div_ceil(1 << 20),
                        self.capacity >> 20
                    ),
                })
            } else {
                inner.used += weight;
                Ok(Reservation {
                    owner: Arc::clone(self),
                    weight,
                })
            }
        };
        // A dropped screener joins its worker threads: not under the lock.
        drop(dropped);
        result
    }

    /// Keeps `held` as run `run`'s screener at distance `d_bits`, its weight taken
    /// over from `reservation` (replacing the one kept before, if any).
    pub fn keep(&self, mut reservation: Reservation, run: RunKey, d_bits: u64, held: Held) {
        let weight = std::mem::take(&mut reservation.weight);
        let before = {
            let mut inner = self.lock();
            inner.clock += 1;
            let kept = Kept {
                held: Arc::new(Mutex::new(held)),
                weight,
                used_at: inner.clock,
            };
            let before = inner.kept.insert((run, d_bits), kept);
            if let Some(before) = &before {
                inner.used = inner.used.saturating_sub(before.weight);
            }
            before
        };
        drop(before);
    }

    /// Run `run`'s kept screener at distance `d_bits`, if there is one (now the most
    /// recently used).
    pub fn kept(&self, run: RunKey, d_bits: u64) -> Option<Shared> {
        let mut inner = self.lock();
        inner.clock += 1;
        let clock = inner.clock;
        let kept = inner.kept.get_mut(&(run, d_bits))?;
        kept.used_at = clock;
        Some(Arc::clone(&kept.held))
    }

    /// Every kept screener of `run`, by distance bits.
    pub fn kept_of(&self, run: RunKey) -> Vec<(u64, Shared)> {
        let inner = self.lock();
        let mut out: Vec<(u64, Shared)> = inner
            .kept
            .iter()
            .filter(|((r, _), _)| *r == run)
            .map(|((_, d), k)| (*d, Arc::clone(&k.held)))
            .collect();
        out.sort_by(|(a, _), (b, _)| f64::from_bits(*a).total_cmp(&f64::from_bits(*b)));
        out
    }

    /// Drops run `run`'s screener at `d_bits` (it could not follow a manoeuvre).
    pub fn forget(&self, run: RunKey, d_bits: u64) {
        let removed = {
            let mut inner = self.lock();
            let removed = inner.kept.remove(&(run, d_bits));
            if let Some(k) = &removed {
                inner.used = inner.used.saturating_sub(k.weight);
            }
            removed
        };
        drop(removed);
    }

    /// Follows the versions made, and the screenings finished, from now on: each
    /// announcement is a run and one of its versions.
    pub fn subscribe(&self) -> broadcast::Receiver<(RunKey, u32)> {
        self.versions.subscribe()
    }

    /// Announces version `version` of `run`, or a screening of it finished.
    pub fn announce(&self, run: RunKey, version: u32) {
        let _ = self.versions.send((run, version));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nano_pipeline::screening::grid::Grid;
    use nano_pipeline::screening::screener::Screener;

    fn held(version: u32) -> Held {
        let grid = Grid {
            distance_km: 5.0,
            max_reach_km: 1.0,
        };
        Held {
            screener: Screener::start(1, grid).unwrap(),
            version,
            refined: Vec::new(),
        }
    }

    fn run(n: u8) -> RunKey {
        RunKey::orbit(nano_store::RunId([n; 16]))
    }

    #[test]
    fn the_least_recently_used_screeners_make_room_and_too_large_is_a_413() {
        // Screenings of `u` samples or more weigh their samples, not the floor.
        let u = SCREENER_MIN_BYTES.div_ceil(SCREENING_BYTES_PER_SAMPLE);
        let per = u * SCREENING_BYTES_PER_SAMPLE;
        let screenings = Arc::new(Screenings::new(10 * per, 1));
        let too_large = screenings.reserve(11 * u, "run x at 5 km").err().unwrap();
        let samples = format!("{} samples", 11 * u);
        assert!(
            matches!(&too_large, ApiError::Refused { status, message }
                if *status == StatusCode::PAYLOAD_TOO_LARGE && message.contains(&samples) && message.contains("sedaro-nano screen")),
            "{too_large:?}"
        );
        for n in 0..3 {
            let r = screenings.reserve(3 * u, "a").unwrap();
            screenings.keep(r, run(n), 5f64.to_bits(), held(0));
        }
        assert_eq!(screenings.in_use(), 9 * per);
        // Run 0 used last: run 1 is the least recently used, then run 2.
        assert!(screenings.kept(run(0), 5f64.to_bits()).is_some());
        let r = screenings.reserve(4 * u, "b").unwrap();
        assert!(screenings.kept(run(1), 5f64.to_bits()).is_none());
        assert!(screenings.kept(run(2), 5f64.to_bits()).is_some());
        assert_eq!(screenings.in_use(), 10 * per);
        // Nothing kept can make room beside a reservation of 4 and the rest: 503.
        // Asking for run 2 made run 0 the least recently used.
        let r2 = screenings.reserve(3 * u, "c").unwrap();
        assert!(screenings.kept(run(0), 5f64.to_bits()).is_none());
        assert_eq!(screenings.kept_count(), 1);
        let full = screenings.reserve(4 * u, "d").err().unwrap();
        assert!(matches!(full, ApiError::MemoryFull { .. }), "{full:?}");
        assert_eq!(screenings.kept_count(), 0);
        drop(r);
        drop(r2);
        assert_eq!(screenings.in_use(), 0);
    }

    #[test]
    fn a_screener_of_a_tiny_run_weighs_the_floor() {
        let screenings = Arc::new(Screenings::new(3 * SCREENER_MIN_BYTES, 1));
        let r = screenings.reserve(2, "two samples").unwrap();
        assert_eq!(screenings.in_use(), SCREENER_MIN_BYTES);
        screenings.keep(r, run(1), 1f64.to_bits(), held(0));
        // Many distances of a tiny run: at most three are kept at once.
        for d in 2..10 {
            let r = screenings.reserve(2, "two samples").unwrap();
            screenings.keep(r, run(1), f64::from(d).to_bits(), held(0));
        }
        assert_eq!(screenings.kept_count(), 3);
        assert_eq!(screenings.in_use(), 3 * SCREENER_MIN_BYTES);
    }

    #[test]
    fn one_lock_per_run_while_anyone_holds_it() {
        let screenings = Screenings::new(0, 1);
        let a = screenings.run_lock(run(1));
        let b = screenings.run_lock(run(1));
        assert!(Arc::ptr_eq(&a, &b));
        assert!(!Arc::ptr_eq(&a, &screenings.run_lock(run(2))));
    }
}
