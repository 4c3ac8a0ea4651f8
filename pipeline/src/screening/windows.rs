//! A screening of a whole run in windows of time, so that what it holds does not grow
//! with the run's length (`docs/design.md`, "Screening in windows").
//!
//! The run's intervals are cut into windows of `w` intervals. Each window is one small
//! timely dataflow (`build`), built on every worker of every process, fed that
//! window's segments (its `w + 1` output times, the first shared with the window
//! before), its input closed, run to its end and dropped: each worker screens the
//! intervals routed to it whole with [`Sweep`] (nothing is retracted, so differential's
//! arrangements would buy nothing). An interval belongs to exactly one window (the segment
//! from output `k` to `k + 1` is in the window holding `k`), and a minimum belongs to
//! its interval ([`super::approach`]), so the windows' answers are disjoint and their
//! union is the whole run's: the same set [`super::screen`] finds in one dataflow.
//!
//! Each window has its own grid ([`Grid::for_states`] of its states alone: the distance,
//! and the reach its states are checked against), sent from worker 0 to every worker
//! before the window's dataflow is built; a grid with no distance tells the peers the
//! screening has ended.
//!
//! What is held at once is one window's states (read by the caller, per window) and
//! one window's dataflow: about [`BYTES_PER_SAMPLE`] per sample of the window, and the
//! conjunctions found so far.

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::Arc;

use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::probe::Handle;
use timely::dataflow::operators::{Capability, Exchange as _, Input, Inspect, Operator, Probe};
use timely::dataflow::InputHandleVec;

use crate::network::Network;
use crate::orbit::OrbitState;
use crate::Error;

use super::grid::Grid;
use super::grid::Segment;
use super::pool::{self, share_grid, Pool};
use super::screener::{check, segment, ScreeningError, Seen};
use super::sweep::Sweep;
use super::{report, Conjunction};

/// What a window's dataflow holds per sample (a body at an output time), measured
/// on Starlink shell 1 (BENCHMARKS.md) when the windows were differential's grid: its
/// segment (128 bytes) exchanged and held, the sweep's points, boxes and cell entries
/// take less, and the figure is kept as a prudent one.
pub const BYTES_PER_SAMPLE: u64 = 480;

/// The fewest intervals a window holds.
pub const MIN_WINDOW: usize = 1;

/// The intervals per window that keep a window of `bodies` bodies within `bytes` at
/// `per_sample` bytes a sample ([`BYTES_PER_SAMPLE`], or a caller's more prudent
/// figure), at least [`MIN_WINDOW`].
pub fn window_for(bodies: u32, bytes: u64, per_sample: u64) -> usize {
    let samples = bytes / per_sample.max(1);
    let outputs = samples / u64::from(bodies.max(1));
    (outputs.saturating_sub(1) as usize).max(MIN_WINDOW)
}

enum Command {
    /// A window: every body's states at outputs `first..=first + w`.
    Window {
        grid: Grid,
        first: u32,
        bodies: Arc<Vec<Vec<OrbitState>>>,
    },
    Stop,
}

/// Screens a run of `outputs` output times at `distance_km`, `window` intervals at a
/// time, on `workers` worker threads and every worker of the other processes of
/// `network` (which run [`run_peer`]). `read(range)` gives every body's states at the
/// outputs of `range`; `progress(k)` is told each time the intervals before output
/// `k` are screened. Every conjunction, closest first.
pub fn screen_windows(
    outputs: usize,
    distance_km: f64,
    window: usize,
    workers: usize,
    network: Option<Network>,
    read: impl FnMut(Range<usize>) -> Result<Vec<Vec<OrbitState>>, Error>,
    progress: impl FnMut(usize),
) -> Result<Vec<Conjunction>, Error> {
    check_distance(distance_km)?;
    let workers = Workers::start(workers, network)?;
    let found = workers.screen(outputs, distance_km, window, read, progress)?;
    workers.stop()?;
    Ok(found)
}

fn check_distance(distance_km: f64) -> Result<(), ScreeningError> {
    if !(distance_km.is_finite() && distance_km > 0.0) {
        return Err(ScreeningError::Grid(format!(
            "distance_km = {distance_km} must be finite and above 0"
        )));
    }
    Ok(())
}

/// The worker threads of windowed screenings, kept from one screening to the next:
/// in this process, and on every worker of the other processes of its network (which
/// run [`run_peer`] as long as these are kept). One screening at a time.
pub struct Workers {
    pool: Pool<Command>,
}

impl Workers {
    /// Starts `workers` threads, as process 0 of `network` when there is one.
    pub fn start(workers: usize, network: Option<Network>) -> Result<Workers, ScreeningError> {
        Ok(Workers {
            pool: start(workers, network)?,
        })
    }

    /// [`screen_windows`] on these workers.
    pub fn screen(
        &self,
        outputs: usize,
        distance_km: f64,
        window: usize,
        mut read: impl FnMut(Range<usize>) -> Result<Vec<Vec<OrbitState>>, Error>,
        mut progress: impl FnMut(usize),
    ) -> Result<Vec<Conjunction>, Error> {
        check_distance(distance_km)?;
        let window = window.max(MIN_WINDOW);
        let mut found = Vec::new();
        let mut first = 0;
        while first + 1 < outputs || first == 0 && outputs == 1 {
            let last = (first + window).min(outputs - 1);
            let bodies = read(first..last + 1)?;
            let grid = Grid::for_states(&bodies, distance_km);
            let times: Vec<f64> = bodies
                .first()
                .map(|b| b.iter().map(|s| s.t).collect())
                .unwrap_or_default();
            for (body, states) in bodies.iter().enumerate() {
                check(&grid, &times, body as u32, 0, states).map_err(|e| at(e, first))?;
            }
            found.extend(screen_window(&self.pool, grid, first as u32, bodies)?);
            progress(last + 1);
            if last == first {
                // A run of one output time: its states checked, no interval to screen.
                break;
            }
            first = last;
        }
        report::by_miss(&mut found);
        Ok(found)
    }

    /// Ends the screenings: the peers' [`run_peer`] returns.
    pub fn stop(mut self) -> Result<(), ScreeningError> {
        self.pool.stop(|| Command::Stop)
    }
}

/// A refusal of a window's state `k`, numbered as the run's output `first + k`.
fn at(e: ScreeningError, first: usize) -> ScreeningError {
    match e {
        ScreeningError::Sample {
            body,
            k,
            field,
            value,
            rule,
        } => ScreeningError::Sample {
            body,
            k: first + k,
            field,
            value,
            rule,
        },
        e => e,
    }
}

/// Starts the worker threads of a windowed screening (process 0 of its cluster):
/// each builds a window's dataflow when told, feeds it its share of the window's
/// samples and segments, runs it to its end and reports what it found.
fn start(workers: usize, network: Option<Network>) -> Result<Pool<Command>, ScreeningError> {
    Pool::start(workers, network, move |worker, commands, report| {
        let index = worker.index();
        loop {
            let (grid, first, bodies) = match commands.recv() {
                Ok(Command::Window {
                    grid,
                    first,
                    bodies,
                }) => (grid, first, Some(bodies)),
                Ok(Command::Stop) | Err(_) => (STOP, 0, None),
            };
            let sent = (index == 0).then_some(grid);
            let (Some(grid), Some(bodies)) = (share_grid(worker, sent), bodies) else {
                return;
            };
            let seen = Seen::default();
            let probe = Handle::new();
            let mut input = build(worker, grid.distance_km, std::rc::Rc::clone(&seen), &probe);
            for (i, states) in bodies.iter().enumerate().skip(index).step_by(workers) {
                let body = i as u32;
                for (k, w) in states.windows(2).enumerate() {
                    if !w[1].is_absent() {
                        input.send(segment(body, first as usize + k, &w[0], &w[1]));
                    }
                }
            }
            drop(input);
            while !probe.done() {
                worker.step_or_park(None);
            }
            let found = std::mem::take(&mut *seen.borrow_mut());
            if report.send(found).is_err() {
                return;
            }
        }
    })
}

/// Screens one window: the conjunctions of its intervals.
fn screen_window(
    pool: &Pool<Command>,
    grid: Grid,
    first: u32,
    bodies: Vec<Vec<OrbitState>>,
) -> Result<Vec<Conjunction>, ScreeningError> {
    let bodies = Arc::new(bodies);
    let reports = pool.apply(|| Command::Window {
        grid,
        first,
        bodies: Arc::clone(&bodies),
    })?;
    // A window's answer is made once and never retracted.
    Ok(reports
        .into_iter()
        .flatten()
        .filter(|(_, diff)| *diff > 0)
        .map(|(c, _)| c)
        .collect())
}

/// A window's dataflow, the same on every worker of every process: the segments
/// routed by their interval, each interval screened whole by [`Sweep`] once every
/// segment is in, the conjunctions gathered on worker 0 and watched there into
/// `seen`. Nothing is retracted, so nothing is arranged.
fn build(
    worker: &mut timely::worker::Worker,
    distance_km: f64,
    seen: Seen,
    probe: &Handle<u64>,
) -> InputHandleVec<u64, Segment> {
    worker.dataflow::<u64, _, _>(|scope| {
        let (input, segments) = scope.new_input::<Vec<Segment>>();
        segments
            .unary_frontier::<CapacityContainerBuilder<Vec<Conjunction>>, _, _, _>(
                Exchange::new(|(s0, _): &Segment| u64::from(s0.k)),
                "Sweep",
                move |_initial, _info| {
                    // Each interval's segments, until the window's input has ended.
                    let mut held: BTreeMap<u32, Vec<Segment>> = BTreeMap::new();
                    let mut time: Option<Capability<u64>> = None;
                    let mut sweep = Sweep::default();
                    let mut found = Vec::new();
                    move |(input, frontier), output| {
                        input.for_each(|stamp, segments| {
                            for s in segments.drain(..) {
                                held.entry(s.0.k).or_default().push(s);
                            }
                            if time.is_none() {
                                time = stamp.retain_least(output.output_index());
                            }
                        });
                        let Some(cap) = time.as_ref() else { return };
                        if frontier.less_equal(cap.time()) {
                            return;
                        }
                        for (_, segments) in std::mem::take(&mut held) {
                            sweep.interval(&segments, distance_km, &mut found);
                        }
                        output.session(cap).give_iterator(found.drain(..));
                        time = None;
                    }
                },
            )
            .exchange(|_| 0)
            .inspect(move |c| seen.borrow_mut().push((*c, 1)))
            .probe_with(probe);
        input
    })
}

/// The grid that ends a screening: no distance.
const STOP: Grid = Grid {
    distance_km: f64::NAN,
    max_reach_km: 0.0,
};

/// Runs process `network.process` (1 or more) of a windowed screening whose driver
/// ([`screen_windows`]) is process 0, until the driver ends it.
pub fn run_peer(workers: usize, network: Network) -> Result<(), ScreeningError> {
    pool::run_peer(workers, network, |worker| {
        // Each window's dataflow built as process 0 builds it, its input closed at
        // once (the segments are process 0's), and run to its end.
        while let Some(grid) = share_grid(worker, None) {
            let probe = Handle::new();
            drop(build(worker, grid.distance_km, Seen::default(), &probe));
            while !probe.done() {
                worker.step_or_park(None);
            }
        }
    })
}
