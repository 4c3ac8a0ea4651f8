//! A small driver for [`super::grid`]: `N` timely worker threads in this process
//! (and, on a cluster, every worker of its other processes), a run's samples
//! inserted once, then manoeuvres (one body's samples from output `k` on retracted and
//! new ones inserted), each change answered with the conjunctions it added and
//! removed.
//!
//! Each change is one epoch of the dataflow's input. Every worker of this process
//! receives it; each inserts its share of the samples (every `N`-th), all advance to
//! the next epoch and step until the probe passes it, then send what the output
//! changed. The output is consolidated (records routed by their value) and then
//! exchanged to worker 0 before it is watched, so the changes made on any process
//! reach this one, and a conjunction that moved between workers but did not change
//! reports nothing.
//!
//! # On a cluster
//!
//! The driver is process 0; the other processes run [`run_peer`] on the same mesh.
//! Their workers build the same dataflow, insert nothing and close their inputs at
//! once, so the epochs are process 0's alone; the exchanges inside [`super::grid`]
//! spread the segments, the cells and the refinement over every worker of every
//! process. The grid (two numbers) is known to process 0 only: a first small dataflow
//! broadcasts it from worker 0 before the screening is built.
use std::collections::BTreeMap;
use std::sync::Arc;

use differential_dataflow::input::Input;
use differential_dataflow::VecCollection;
use timely::dataflow::operators::probe::Handle;
use timely::dataflow::operators::Exchange;

use crate::network::Network;
use crate::orbit::OrbitState;

use super::grid::{conjunctions, Grid, Segment, MAX_POSITION_KM};
use super::pool::{self, share_grid, Pool};
use super::{Conjunction, Sample};

/// Why samples were refused, or the workers failed.
#[derive(Debug, thiserror::Error)]
pub enum ScreeningError {
    #[error("body {body}, state {k}: {field} = {value} {rule}")]
    Sample {
        body: u32,
        k: usize,
        field: &'static str,
        value: f64,
        rule: String,
    },
    #[error("body {body}: {rule}")]
    Body { body: u32, rule: String },
    #[error("workers: {0}")]
    Workers(String),
    #[error("grid: {0}")]
    Grid(String),
}

/// What one change did to the conjunction set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    /// Conjunctions that are new, sorted.
    pub added: Vec<Conjunction>,
    /// Conjunctions that no longer hold, sorted.
    pub removed: Vec<Conjunction>,
}

enum Command {
    /// Whole bodies, numbered from `first`: each worker inserts the segments of every
    /// `N`-th, made where they are inserted (no copy of the run's segments is held).
    Insert {
        bodies: Arc<Vec<Arc<Vec<OrbitState>>>>,
        first: u32,
    },
    /// A few samples and segments retracted and inserted (a manoeuvre).
    Update(Arc<Updates>),
    Stop,
}

/// Body `body`'s segment from output `k` (state `s0`) to `k + 1` (`s1`).
pub(super) fn segment(body: u32, k: usize, s0: &OrbitState, s1: &OrbitState) -> Segment {
    (
        Sample::new(body, k as u32, s0),
        Sample::new(body, k as u32 + 1, s1),
    )
}

/// A change to the samples and to the segments.
type Updates = (Vec<(Sample, isize)>, Vec<(Segment, isize)>);

/// The dataflow's two inputs: the samples and the segments.
pub(super) type Inputs = (
    differential_dataflow::input::InputSession<u64, Sample, isize>,
    differential_dataflow::input::InputSession<u64, Segment, isize>,
);

/// What a worker watches: the conjunctions its part of the output changed.
pub(super) type Seen = std::rc::Rc<std::cell::RefCell<Vec<(Conjunction, isize)>>>;

/// The screening of one run, kept current.
pub struct Screener {
    grid: Grid,
    pool: Pool<Command>,
    /// Each body's current states (shared with the workers while they insert them).
    bodies: Vec<Arc<Vec<OrbitState>>>,
    /// The output times (those of the first body inserted).
    times: Vec<f64>,
    current: BTreeMap<Conjunction, isize>,
}

impl Screener {
    /// Starts `workers` (at least 1) worker threads screening at `grid`.
    pub fn start(workers: usize, grid: Grid) -> Result<Screener, ScreeningError> {
        Screener::start_on(workers, None, grid)
    }

    /// Starts `workers` (at least 1) worker threads screening at `grid`, as process 0
    /// of the cluster `network` when there is one (its other processes run
    /// [`run_peer`]).
    pub fn start_on(
        workers: usize,
        network: Option<Network>,
        grid: Grid,
    ) -> Result<Screener, ScreeningError> {
        if !(grid.distance_km.is_finite() && grid.distance_km > 0.0) {
            return Err(ScreeningError::Grid(format!(
                "distance_km = {} must be finite and above 0",
                grid.distance_km
            )));
        }
        if !(grid.max_reach_km.is_finite()
            && grid.max_reach_km >= 0.0
            && grid.max_reach_km <= MAX_POSITION_KM)
        {
            return Err(ScreeningError::Grid(format!(
                "max_reach_km = {} must be finite, at least 0 and at most {MAX_POSITION_KM:e}",
                grid.max_reach_km
            )));
        }
        let pool = Pool::start(workers, network, move |worker, commands, report| {
            let index = worker.index();
            let sent = (index == 0).then_some(grid);
            let grid = share_grid(worker, sent).expect("worker 0 sends the grid");
            let changes: Seen = Default::default();
            let probe = Handle::new();
            let mut input = build(worker, grid, std::rc::Rc::clone(&changes), &probe);
            loop {
                match commands.recv() {
                    Ok(Command::Insert { bodies, first }) => {
                        for (i, states) in bodies.iter().enumerate().skip(index).step_by(workers) {
                            let body = first + i as u32;
                            // A catalogue object SGP4 stopped has no states from
                            // then on: no samples, and no segment reaching them.
                            for (k, s) in states.iter().enumerate() {
                                if !s.is_absent() {
                                    input.0.update(Sample::new(body, k as u32, s), 1);
                                }
                            }
                            for (k, w) in states.windows(2).enumerate() {
                                if !w[1].is_absent() {
                                    input.1.update(segment(body, k, &w[0], &w[1]), 1);
                                }
                            }
                            // Moves what is inserted on into the arrangements' batchers
                            // body by body, rather than queueing a whole run in the
                            // channels first.
                            input.0.flush();
                            input.1.flush();
                            worker.step();
                        }
                    }
                    Ok(Command::Update(updates)) => {
                        for (sample, diff) in updates.0.iter().skip(index).step_by(workers) {
                            input.0.update(*sample, *diff);
                        }
                        for (seg, diff) in updates.1.iter().skip(index).step_by(workers) {
                            input.1.update(*seg, *diff);
                        }
                    }
                    Ok(Command::Stop) | Err(_) => return,
                }
                let next = input.0.time() + 1;
                input.0.advance_to(next);
                input.1.advance_to(next);
                input.0.flush();
                input.1.flush();
                worker.step_while(|| probe.less_than(&next));
                let batch = std::mem::take(&mut *changes.borrow_mut());
                if report.send(batch).is_err() {
                    return;
                }
            }
        })?;
        Ok(Screener {
            grid,
            pool,
            bodies: Vec::new(),
            times: Vec::new(),
            current: BTreeMap::new(),
        })
    }

    /// The current conjunctions, sorted.
    pub fn conjunctions(&self) -> Vec<Conjunction> {
        self.current.keys().copied().collect()
    }

    /// Adds bodies (numbered on from those already inserted), each with its states at
    /// the run's output times.
    pub fn insert(&mut self, bodies: Vec<Vec<OrbitState>>) -> Result<Changes, ScreeningError> {
        let first = self.bodies.len() as u32;
        if self.times.is_empty() {
            if let Some(b) = bodies.first() {
                self.times = b.iter().map(|s| s.t).collect();
            }
        }
        for (i, states) in bodies.iter().enumerate() {
            self.check(first + i as u32, 0, states)?;
        }
        let bodies: Vec<Arc<Vec<OrbitState>>> = bodies.into_iter().map(Arc::new).collect();
        self.bodies.extend(bodies.iter().cloned());
        self.apply(|| Command::Insert {
            bodies: Arc::new(bodies.clone()),
            first,
        })
    }

    /// A manoeuvre: `body`'s states from output `from` on become `states` (its
    /// outputs `from`, `from + 1`, ...); the old ones are retracted.
    pub fn replace(
        &mut self,
        body: u32,
        from: usize,
        states: Vec<OrbitState>,
    ) -> Result<Changes, ScreeningError> {
        let Some(old) = self.bodies.get(body as usize) else {
            return Err(ScreeningError::Body {
                body,
                rule: format!("no such body (there are {})", self.bodies.len()),
            });
        };
        if from > old.len() {
            return Err(ScreeningError::Body {
                body,
                rule: format!("from = {from} is past its {} states", old.len()),
            });
        }
        let mut whole = old[..from].to_vec();
        whole.extend_from_slice(&states);
        self.check(body, from, &whole)?;
        // The samples from `from` on and the segments from the one ending at `from`
        // on: the old retracted, the new inserted.
        let start = from.saturating_sub(1);
        // As inserted: absent states (a stopped catalogue object's) have neither.
        let segments = |track: &[OrbitState], diff: isize| {
            track[start..]
                .windows(2)
                .enumerate()
                .filter(|(_, w)| !w[1].is_absent())
                .map(|(i, w)| (segment(body, start + i, &w[0], &w[1]), diff))
                .collect::<Vec<_>>()
        };
        let samples = |track: &[OrbitState], diff: isize| {
            track[from..]
                .iter()
                .enumerate()
                .filter(|(_, s)| !s.is_absent())
                .map(|(i, s)| (Sample::new(body, (from + i) as u32, s), diff))
                .collect::<Vec<_>>()
        };
        let mut updates = (samples(&old[..], -1), segments(&old[..], -1));
        updates.0.extend(samples(&whole, 1));
        updates.1.extend(segments(&whole, 1));
        self.bodies[body as usize] = Arc::new(whole);
        let updates = Arc::new(updates);
        self.apply(|| Command::Update(Arc::clone(&updates)))
    }

    fn check(&self, body: u32, from: usize, states: &[OrbitState]) -> Result<(), ScreeningError> {
        check(&self.grid, &self.times, body, from, states)
    }

    /// Sends every worker the command `make` makes, and gathers what the epoch
    /// changed.
    fn apply(&mut self, make: impl Fn() -> Command) -> Result<Changes, ScreeningError> {
        let mut net: BTreeMap<Conjunction, isize> = BTreeMap::new();
        for batch in self.pool.apply(make)? {
            for (c, diff) in batch {
                *net.entry(c).or_default() += diff;
            }
        }
        let mut changes = Changes::default();
        for (c, diff) in net {
            if diff == 0 {
                continue;
            }
            let count = self.current.entry(c).or_default();
            *count += diff;
            if *count == 0 {
                self.current.remove(&c);
            }
            if diff > 0 {
                changes.added.push(c);
            } else {
                changes.removed.push(c);
            }
        }
        Ok(changes)
    }

    /// Stops the workers and waits for them.
    pub fn shutdown(mut self) -> Result<(), ScreeningError> {
        self.stop()
    }

    fn stop(&mut self) -> Result<(), ScreeningError> {
        self.pool.stop(|| Command::Stop)
    }
}

impl Drop for Screener {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

/// The states of a body must be at the run's output times, and admitted by the grid
/// ([`Grid::admits`]: finite, within the screened region, within the grid's reach
/// between outputs, else a pair could be missed or a segment visit cells without
/// bound); checked from output `from` on (the interval ending at `from` included).
pub(super) fn check(
    grid: &Grid,
    times: &[f64],
    body: u32,
    from: usize,
    states: &[OrbitState],
) -> Result<(), ScreeningError> {
    let err = |k: usize, field: &'static str, value: f64, rule: String| ScreeningError::Sample {
        body,
        k,
        field,
        value,
        rule,
    };
    if states.len() != times.len() {
        return Err(ScreeningError::Body {
            body,
            rule: format!(
                "has {} states, the run has {} output times",
                states.len(),
                times.len()
            ),
        });
    }
    for (k, s) in states.iter().enumerate().skip(from) {
        if s.t.to_bits() != times[k].to_bits() {
            return Err(err(
                k,
                "t",
                s.t,
                format!("must be the output time {}", times[k]),
            ));
        }
    }
    // A catalogue object SGP4 stopped has states up to a time and none after
    // (NaN, `OrbitState::is_absent`): allowed as the track's end only.
    let present = states.iter().take_while(|s| !s.is_absent()).count();
    if let Some(k) = (present..states.len()).find(|&k| !states[k].is_absent()) {
        return Err(err(
            k,
            "r",
            states[k].r[0],
            "a state after a missing one (a body's states may stop, not resume)".into(),
        ));
    }
    for k in from.saturating_sub(1)..present.saturating_sub(1) {
        if let Err((field, value, rule)) = grid.admits(&states[k], &states[k + 1]) {
            return Err(err(k, field, value, rule));
        }
    }
    if present == 1 {
        // One state makes no segment: its values are checked alone.
        if let Err((field, value, rule)) = grid.admits(&states[0], &states[0]) {
            return Err(err(0, field, value, rule));
        }
    }
    Ok(())
}

/// The screening's dataflow, the same on every worker of every process (timely
/// matches operators by the order they are built in): the conjunctions,
/// consolidated, gathered on worker 0 and watched there into `seen`.
pub(super) fn build(
    worker: &mut timely::worker::Worker,
    grid: Grid,
    seen: Seen,
    probe: &Handle<u64>,
) -> Inputs {
    worker.dataflow::<u64, _, _>(|scope| {
        let (samples_in, samples) = scope.new_collection();
        let (segments_in, segments) = scope.new_collection();
        let input = (samples_in, segments_in);
        let found = conjunctions(samples, segments, grid).consolidate();
        VecCollection::new(found.inner.exchange(|_| 0))
            .inspect(move |(c, _, diff)| seen.borrow_mut().push((*c, *diff)))
            .probe_with(probe);
        input
    })
}

/// Runs process `network.process` (1 or more) of a screening cluster whose driver
/// ([`Screener::start_on`]) is process 0, until the driver stops.
pub fn run_peer(workers: usize, network: Network) -> Result<(), ScreeningError> {
    pool::run_peer(workers, network, |worker| {
        let grid = share_grid(worker, None).expect("worker 0 sends the grid");
        // Built as process 0 builds it, then closed at once: the epochs are process
        // 0's. Timely steps this worker until the dataflow ends, when process 0 stops.
        let input = build(worker, grid, Seen::default(), &Handle::new());
        drop(input);
    })
}
