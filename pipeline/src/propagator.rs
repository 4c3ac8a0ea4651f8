//! The single-threaded reference propagator: the records of a run, in order, as an
//! iterator.
//!
//! The nano model (`docs/model.md`) reads every agent's state from a range store
//! holding the whole run. The propagator keeps only the part of that store a future
//! read can reach: for each agent its latest record and the one before it. That is
//! enough because a read at `t - 0.001` by an agent at time `t` can miss another
//! agent's latest record only when that record starts after `t - 0.001`; that agent
//! then stepped while it was less than 0.001 ahead of `t`, and since every step is at
//! least 0.01 long, its record before covers the read. A test checks this window
//! against a literal run on the full [`nano_store::MemoryRangeStore`].

use crate::generator;
use crate::integrator::{self, Universe};
use crate::model::{Agent, Checkpoint, Record, Segment};

/// How far before its own time an agent reads the store.
pub const READ_LAG: f64 = 0.001;

pub use crate::model::start;

/// A run in progress: yields its records in order up to iteration `end`.
#[derive(Debug, Clone)]
pub struct Propagator {
    at: Checkpoint,
    /// The agent visited next within the current iteration.
    next_agent: usize,
    end: u64,
}

impl Propagator {
    /// The run `(iterations, seed)` from the start.
    pub fn new(seed: u64, iterations: u64) -> Self {
        Self::resume(start(seed), iterations)
    }

    /// Continues the run saved in `from` up to `iterations` in all; the records are
    /// exactly those a fresh run would write after `from.iterations`.
    pub fn resume(from: Checkpoint, iterations: u64) -> Self {
        Propagator {
            at: from,
            next_agent: 0,
            end: iterations,
        }
    }

    /// The iterations completed so far.
    pub fn iterations_done(&self) -> u64 {
        self.at.iterations
    }

    /// The run's state, when it stands between two iterations (always true after
    /// [`Propagator::run_until`]).
    pub fn checkpoint(&self) -> Option<Checkpoint> {
        (self.next_agent == 0).then_some(self.at)
    }

    /// Runs whole iterations until `iteration` (or the end) is reached, handing every
    /// record to `sink`.
    pub fn run_until(&mut self, iteration: u64, mut sink: impl FnMut(Record)) {
        let stop = iteration.min(self.end);
        while self.at.iterations < stop || self.next_agent != 0 {
            if let Some(record) = self.visit_next() {
                sink(record);
            }
        }
    }

    /// Visits the next agent of the current iteration; `Some` when it stepped.
    fn visit_next(&mut self) -> Option<Record> {
        let agent = Agent::ALL[self.next_agent];
        let iteration = self.at.iterations;
        self.next_agent += 1;
        if self.next_agent == Agent::ALL.len() {
            self.next_agent = 0;
            self.at.iterations += 1;
        }
        self.step(agent, iteration)
    }

    /// `docs/model.md`'s steps 1-4 for one agent: read at `t - 0.001`; wait unless
    /// every agent is seen; otherwise advance and record.
    fn step(&mut self, agent: Agent, iteration: u64) -> Option<Record> {
        let t = self.at.agents[agent.index()].time();
        let read = t - READ_LAG;
        let [planet, satellite] = &self.at.agents;
        let universe: Universe = [planet.state_at(read)?, satellite.state_at(read)?];
        let cursor = &mut self.at.agents[agent.index()];
        let t1 = t + universe[agent.index()].time_step;
        let next_step = generator::time_step(self.at.seed, agent, cursor.steps);
        let state = integrator::advance(agent, &universe, t1, next_step);
        cursor.previous = Some(cursor.latest);
        cursor.latest = Segment { t0: t, t1, state };
        cursor.steps += 1;
        Some(Record {
            t0: t,
            t1,
            agent,
            state,
            iteration,
        })
    }
}

impl Iterator for Propagator {
    type Item = Record;

    fn next(&mut self) -> Option<Record> {
        while self.at.iterations < self.end {
            if let Some(record) = self.visit_next() {
                return Some(record);
            }
        }
        None
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = (self.end.saturating_sub(self.at.iterations)) as usize;
        (0, left.checked_mul(Agent::ALL.len()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::initial_state;
    use nano_store::{MemoryRangeStore, QRangeStore};
    use std::collections::BTreeMap;

    /// `docs/model.md` read literally: the whole run in a range store, a fresh universe
    /// per visit. Slow and unbounded, which is why the propagator does not work this
    /// way.
    fn literal_run(seed: u64, n: u64) -> Vec<Record> {
        let mut store = MemoryRangeStore::new();
        for agent in Agent::ALL {
            store
                .insert(f64::NEG_INFINITY, 0.0, (agent, initial_state(agent)))
                .unwrap();
        }
        let mut times = [0.0f64; 2];
        let mut steps = [0u64; 2];
        let mut out = Vec::new();
        for i in 0..n {
            for agent in Agent::ALL {
                let a = agent.index();
                let t = times[a];
                let mut universe = BTreeMap::new();
                for (who, state) in store.get(t - 0.001).unwrap_or_default() {
                    universe.insert(who, state);
                }
                if universe.len() < Agent::ALL.len() {
                    continue;
                }
                let states: Universe = [universe[&Agent::Planet], universe[&Agent::Satellite]];
                let t1 = t + states[a].time_step;
                let next = generator::time_step(seed, agent, steps[a]);
                let state = integrator::advance(agent, &states, t1, next);
                store.insert(t, t1, (agent, state)).unwrap();
                out.push(Record {
                    t0: t,
                    t1,
                    agent,
                    state,
                    iteration: i,
                });
                times[a] = t1;
                steps[a] += 1;
            }
        }
        out
    }

    #[test]
    fn the_window_gives_what_the_whole_store_gives() {
        for seed in [0, 1, 7, 42, 123_456_789, u64::MAX] {
            let literal = literal_run(seed, 1500);
            let windowed: Vec<_> = Propagator::new(seed, 1500).collect();
            assert_eq!(windowed.len(), literal.len(), "seed {seed}");
            for (i, (w, l)) in windowed.iter().zip(&literal).enumerate() {
                // Bit for bit: PartialEq on f64 would also accept -0.0 == 0.0.
                assert_eq!(
                    format!("{w:?}"),
                    format!("{l:?}"),
                    "seed {seed}, record {i}"
                );
            }
        }
    }

    #[test]
    fn some_iterations_make_one_agent_wait() {
        let records: Vec<_> = Propagator::new(0, 200).collect();
        assert!(
            records.len() < 400 && records.len() > 200,
            "{}",
            records.len()
        );
        assert_eq!(records.last().unwrap().iteration, 199);
    }

    #[test]
    fn continuing_a_checkpoint_equals_a_fresh_run() {
        for (half, n) in [(0, 10), (1000, 2000), (333, 1001)] {
            let mut first = Propagator::new(5, n);
            let mut joined = Vec::new();
            first.run_until(half, |r| joined.push(r));
            let saved = first
                .checkpoint()
                .expect("run_until stops between iterations");
            assert_eq!(saved.iterations, half);
            joined.extend(Propagator::resume(saved, n));
            let fresh: Vec<_> = Propagator::new(5, n).collect();
            assert_eq!(joined, fresh, "({half} continued to {n})");
        }
    }

    #[test]
    fn run_until_stops_at_the_end_of_the_run() {
        let mut run = Propagator::new(3, 10);
        let mut count = 0;
        run.run_until(1_000, |_| count += 1);
        assert_eq!(run.iterations_done(), 10);
        assert_eq!(count, Propagator::new(3, 10).count());
        assert_eq!(run.next(), None);
    }

    #[test]
    fn records_tile_each_agents_timeline() {
        let mut ends = [0.0f64; 2];
        for r in Propagator::new(11, 3000) {
            assert_eq!(r.t0, ends[r.agent.index()], "{r:?}");
            assert!(r.t0 < r.t1);
            assert_eq!(r.state.time, r.t1);
            ends[r.agent.index()] = r.t1;
        }
    }
}
