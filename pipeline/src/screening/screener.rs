//! A small driver for [`super::grid`]: `N` timely worker threads in this process, a
//! run's samples inserted once, then manoeuvres (one body's samples from output `k`
//! on retracted and new ones inserted), each change answered with the conjunctions it
//! added and removed.
//!
//! Each change is one epoch of the dataflow's input. Every worker receives it; each
//! inserts its share of the samples (every `N`-th), all advance to the next epoch and
//! step until the probe passes it, then send what their part of the output changed.
//! The output is consolidated (records routed by their value) before it is watched, so
//! a conjunction that moved between workers but did not change reports nothing.

use std::collections::BTreeMap;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use differential_dataflow::input::Input;
use timely::dataflow::operators::probe::Handle;

use crate::orbit::OrbitState;

use super::grid::{conjunctions, Grid};
use super::{reach, Conjunction, Sample};

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
    Update(Arc<Vec<(Sample, isize)>>),
    Stop,
}

/// The screening of one run, kept current.
pub struct Screener {
    grid: Grid,
    commands: Vec<Sender<Command>>,
    reports: Receiver<Vec<(Conjunction, isize)>>,
    workers: Option<JoinHandle<Result<(), String>>>,
    /// Each body's current states.
    bodies: Vec<Vec<OrbitState>>,
    /// The output times (those of the first body inserted).
    times: Vec<f64>,
    current: BTreeMap<Conjunction, isize>,
}

impl Screener {
    /// Starts `workers` (at least 1) worker threads screening at `grid`.
    pub fn start(workers: usize, grid: Grid) -> Result<Screener, ScreeningError> {
        if workers == 0 {
            return Err(ScreeningError::Workers("workers = 0: at least 1".into()));
        }
        let (report_tx, reports) = channel();
        let mut commands = Vec::with_capacity(workers);
        let mut receivers = Vec::with_capacity(workers);
        for _ in 0..workers {
            let (tx, rx) = channel();
            commands.push(tx);
            receivers.push(Some(rx));
        }
        let receivers = Arc::new(Mutex::new(receivers));
        let report_tx = Mutex::new(report_tx);
        let config = timely::Config::process(workers);
        let handle = std::thread::spawn(move || {
            let guards = timely::execute(config, move |worker| {
                let index = worker.index();
                let commands: Option<Receiver<Command>> = receivers
                    .lock()
                    .ok()
                    .and_then(|mut r| r.get_mut(index).and_then(Option::take));
                let Some(commands) = commands else {
                    return;
                };
                let Some(report) = report_tx.lock().ok().map(|tx| tx.clone()) else {
                    return;
                };
                let peers = worker.peers();
                let changes = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
                let seen = std::rc::Rc::clone(&changes);
                let probe = Handle::new();
                let mut input = worker.dataflow::<u64, _, _>(|scope| {
                    let (input, samples) = scope.new_collection();
                    conjunctions(samples, grid)
                        .consolidate()
                        .inspect(move |(c, _, diff)| seen.borrow_mut().push((*c, *diff)))
                        .probe_with(&probe);
                    input
                });
                while let Ok(Command::Update(updates)) = commands.recv() {
                    for (sample, diff) in updates.iter().skip(index).step_by(peers) {
                        input.update(*sample, *diff);
                    }
                    let next = input.time() + 1;
                    input.advance_to(next);
                    input.flush();
                    worker.step_while(|| probe.less_than(input.time()));
                    let batch = std::mem::take(&mut *changes.borrow_mut());
                    if report.send(batch).is_err() {
                        return;
                    }
                }
            })?;
            for result in guards.join() {
                result?;
            }
            Ok(())
        });
        Ok(Screener {
            grid,
            commands,
            reports,
            workers: Some(handle),
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
        let mut updates = Vec::new();
        for (i, states) in bodies.iter().enumerate() {
            let body = first + i as u32;
            self.check(body, 0, states)?;
            updates.extend(
                states
                    .iter()
                    .enumerate()
                    .map(|(k, s)| (Sample::new(body, k as u32, s), 1)),
            );
        }
        self.bodies.extend(bodies);
        self.apply(updates)
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
        let mut updates: Vec<(Sample, isize)> = old[from..]
            .iter()
            .enumerate()
            .map(|(i, s)| (Sample::new(body, (from + i) as u32, s), -1))
            .collect();
        updates.extend(
            states
                .iter()
                .enumerate()
                .map(|(i, s)| (Sample::new(body, (from + i) as u32, s), 1)),
        );
        self.bodies[body as usize] = whole;
        self.apply(updates)
    }

    /// The states of a body must be finite, at the run's output times, and within the
    /// grid's reach between outputs (else a pair could be missed); checked from output
    /// `from` on (the interval ending at `from` included).
    fn check(&self, body: u32, from: usize, states: &[OrbitState]) -> Result<(), ScreeningError> {
        let err =
            |k: usize, field: &'static str, value: f64, rule: String| ScreeningError::Sample {
                body,
                k,
                field,
                value,
                rule,
            };
        if states.len() != self.times.len() {
            return Err(ScreeningError::Body {
                body,
                rule: format!(
                    "has {} states, the run has {} output times",
                    states.len(),
                    self.times.len()
                ),
            });
        }
        for (k, s) in states.iter().enumerate().skip(from) {
            if s.t.to_bits() != self.times[k].to_bits() {
                return Err(err(
                    k,
                    "t",
                    s.t,
                    format!("must be the output time {}", self.times[k]),
                ));
            }
            if let Some(x) = s.r.iter().chain(&s.v).find(|x| !x.is_finite()) {
                return Err(err(k, "r, v", *x, "must be finite".into()));
            }
        }
        for k in from.saturating_sub(1)..states.len().saturating_sub(1) {
            let r = reach(&states[k], &states[k + 1]);
            if r.is_nan() || r > self.grid.max_reach_km {
                return Err(err(
                    k,
                    "reach_km",
                    r,
                    format!(
                        "must be at most the grid's max_reach_km {}",
                        self.grid.max_reach_km
                    ),
                ));
            }
        }
        Ok(())
    }

    fn apply(&mut self, updates: Vec<(Sample, isize)>) -> Result<Changes, ScreeningError> {
        let updates = Arc::new(updates);
        for tx in &self.commands {
            tx.send(Command::Update(Arc::clone(&updates)))
                .map_err(|_| self.failed())?;
        }
        let mut net: BTreeMap<Conjunction, isize> = BTreeMap::new();
        for _ in 0..self.commands.len() {
            let batch = self.reports.recv().map_err(|_| self.failed())?;
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

    fn failed(&self) -> ScreeningError {
        ScreeningError::Workers("a worker thread stopped".into())
    }

    /// Stops the workers and waits for them.
    pub fn shutdown(mut self) -> Result<(), ScreeningError> {
        self.stop()
    }

    fn stop(&mut self) -> Result<(), ScreeningError> {
        for tx in &self.commands {
            let _ = tx.send(Command::Stop);
        }
        match self.workers.take().map(JoinHandle::join) {
            Some(Ok(Err(e))) => Err(ScreeningError::Workers(e)),
            Some(Err(_)) => Err(ScreeningError::Workers("a worker thread panicked".into())),
            _ => Ok(()),
        }
    }
}

impl Drop for Screener {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}
