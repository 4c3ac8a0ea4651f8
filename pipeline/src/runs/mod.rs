//! Logged orbit runs: what the log holds of a run, read back as the run it is, and
//! what is done to it once complete. The service's routes and the command line call
//! these; neither reads a run's parts on its own.
//!
//! - [`LoggedRun::open`]: a run the log holds, its scenario read back and how far it
//!   is durable.
//! - [`overlay`]: a run's states in a version made by manoeuvres ("a later version
//!   wins"), read a window at a time or as a range ([`LoggedRun::body_states`]).
//! - [`download`]: a run written out in one of its formats, a chunk at a time, in
//!   any version.
//! - [`version`]: a complete run's next version, made by a manoeuvre and logged.
//! - [`screening`]: a version's conjunctions screened, and a screener kept current
//!   as versions are made.

pub mod download;
pub mod overlay;
pub mod screening;
pub mod version;

use std::ops::Range;

use nano_store::{Log, RunKey};

use crate::catalog::{CatalogSource, LogCatalogs};
use crate::orbit::OrbitState;
use crate::scenario::{OrbitScenario, RunId, Scenario};
use crate::Error;

pub use download::{Keep, OrbitPieces};
pub use overlay::Overlay;

/// The log's key of the run named `id`.
pub fn run_key(id: RunId) -> RunKey {
    match id {
        RunId::Nano(seed) => RunKey::nano(seed),
        RunId::Orbit(bytes) => RunKey::orbit(nano_store::RunId(bytes)),
    }
}

/// Reads `document`, the scenario kept for run `id`, as it was accepted when the run
/// started: under the rules of then, whatever the service's limits are now; its
/// catalogue, if it names one, from `catalogs`.
pub fn parse_kept(
    id: RunId,
    document: &str,
    catalogs: &dyn CatalogSource,
) -> Result<Scenario, Error> {
    Scenario::parse_logged_with(document, catalogs).map_err(|e| Error::UnreadableScenario {
        run: id,
        detail: e.to_string(),
    })
}

/// The scenario the log keeps for run `id` ([`parse_kept`], its catalogue from the
/// log), or `None` before its first block is logged (the scenario is logged with it).
pub fn kept_scenario(log: &Log, id: RunId) -> Result<Option<Scenario>, Error> {
    kept_scenario_with(log, id, &LogCatalogs::new(log.clone()))
}

/// [`kept_scenario`], its catalogue from `catalogs` (the service keeps one
/// [`LogCatalogs`], so that a read per request does not read the catalogue's file).
pub fn kept_scenario_with(
    log: &Log,
    id: RunId,
    catalogs: &dyn CatalogSource,
) -> Result<Option<Scenario>, Error> {
    match log.document(run_key(id))? {
        Some(document) => parse_kept(id, &document, catalogs).map(Some),
        None => Ok(None),
    }
}

/// An orbit run the log holds: its key, its scenario, and how far it is durable.
#[derive(Debug, Clone)]
pub struct LoggedRun {
    pub id: RunId,
    pub key: RunKey,
    pub scenario: OrbitScenario,
    /// Iterations durable: states up to `t_n` are logged.
    pub iterations: u64,
    pub bodies: u32,
    /// Whether the run reached the steps it was asked for.
    pub complete: bool,
}

impl LoggedRun {
    /// Reads `id`'s catalog entry and scenario: [`Error::NanoRun`] for a nano run,
    /// [`Error::NoSuchRun`] for a run the log does not hold.
    pub fn open(log: &Log, id: RunId) -> Result<LoggedRun, Error> {
        LoggedRun::open_with(log, id, &LogCatalogs::new(log.clone()))
    }

    /// [`LoggedRun::open`], the scenario's catalogue from `catalogs`.
    pub fn open_with(
        log: &Log,
        id: RunId,
        catalogs: &dyn CatalogSource,
    ) -> Result<LoggedRun, Error> {
        if let RunId::Nano(seed) = id {
            return Err(Error::NanoRun { seed });
        }
        let key = run_key(id);
        let Some(entry) = log.entry(key)? else {
            return Err(Error::NoSuchRun { run: id });
        };
        let scenario = match kept_scenario_with(log, id, catalogs)? {
            Some(Scenario::Orbit(scenario)) => scenario,
            Some(Scenario::Nano { .. }) => {
                return Err(Error::InconsistentRun {
                    run: id,
                    detail: "the scenario the log keeps is not an orbit scenario".into(),
                })
            }
            None => return Err(Error::NoScenario { run: id }),
        };
        Ok(LoggedRun {
            id,
            key,
            scenario,
            iterations: entry.iterations,
            bodies: entry.bodies,
            complete: entry.complete(),
        })
    }

    /// The time between two output times, s.
    pub fn step(&self) -> f64 {
        self.scenario.output_step_s()
    }

    /// The time of the durable frontier, `t_n`.
    pub fn frontier(&self) -> f64 {
        self.iterations as f64 * self.step()
    }

    /// Body `body`'s state at `t_0`: the scenario's (the log holds states from `t_1`).
    pub fn initial(&self, body: u32) -> Result<OrbitState, Error> {
        self.scenario
            .body(body as usize)
            .map(|b| b.state0)
            .ok_or_else(|| Error::InconsistentRun {
                run: self.id,
                detail: format!(
                    "the log has body {body}, its scenario {} bodies",
                    self.scenario.body_count()
                ),
            })
    }

    /// Body `body`'s states at outputs `outputs` (within `0 ..= iterations`) in the
    /// version `overlay` lays over version 0: version 0's track, with the states a
    /// manoeuvre replaced read from its version.
    pub fn body_states(
        &self,
        log: &Log,
        overlay: &mut Overlay,
        body: u32,
        outputs: Range<u64>,
    ) -> Result<Vec<OrbitState>, Error> {
        let mut out = Vec::with_capacity((outputs.end - outputs.start) as usize);
        if outputs.is_empty() {
            return Ok(out);
        }
        if outputs.start == 0 {
            out.push(self.initial(body)?);
        }
        // The record of iteration k - 1 holds the state at t_k.
        let iterations = outputs.start.max(1) - 1..outputs.end - 1;
        for record in log.track(self.key, body, iterations)? {
            let r = record?;
            let [x, y, z, vx, vy, vz] = r.state;
            out.push(OrbitState {
                t: r.t1,
                r: [x, y, z],
                v: [vx, vy, vz],
            });
        }
        if out.len() as u64 != outputs.end - outputs.start {
            return Err(Error::InconsistentRun {
                run: self.id,
                detail: format!(
                    "body {body}'s track over outputs {outputs:?} has {} states",
                    out.len()
                ),
            });
        }
        for (k, state) in outputs.zip(out.iter_mut()) {
            if let Some(s) = overlay.state(log, self.key, body, k)? {
                *state = s;
            }
        }
        Ok(out)
    }

    /// Every body's states at outputs `outputs` (within `0 ..= iterations`) in the
    /// version `overlay` lays over version 0, read in one pass over the log's blocks
    /// (not body by body): what a screening window reads.
    pub fn window_states(
        &self,
        log: &Log,
        overlay: &mut Overlay,
        outputs: Range<u64>,
    ) -> Result<Vec<Vec<OrbitState>>, Error> {
        let len = (outputs.end - outputs.start) as usize;
        let absent = OrbitState {
            t: f64::NAN,
            r: [f64::NAN; 3],
            v: [f64::NAN; 3],
        };
        let mut out = vec![vec![absent; len]; self.bodies as usize];
        let mut filled = 0usize;
        if outputs.is_empty() {
            return Ok(out);
        }
        if outputs.start == 0 {
            for (body, states) in out.iter_mut().enumerate() {
                states[0] = self.initial(body as u32)?;
            }
            filled += self.bodies as usize;
        }
        // The record of iteration k - 1 holds the state at t_k.
        let iterations = outputs.start.max(1) - 1..outputs.end - 1;
        for record in log.replay(self.key, iterations)? {
            let r = record?;
            let k = r.iteration + 1;
            let slot = out
                .get_mut(r.body as usize)
                .and_then(|b| b.get_mut((k - outputs.start) as usize));
            let Some(slot) = slot else {
                return Err(Error::InconsistentRun {
                    run: self.id,
                    detail: format!("a record of body {} at output {k}", r.body),
                });
            };
            let [x, y, z, vx, vy, vz] = r.state;
            *slot = OrbitState {
                t: r.t1,
                r: [x, y, z],
                v: [vx, vy, vz],
            };
            filled += 1;
        }
        if filled != len * self.bodies as usize {
            return Err(Error::InconsistentRun {
                run: self.id,
                detail: format!(
                    "outputs {outputs:?} of {} bodies hold {filled} states",
                    self.bodies
                ),
            });
        }
        for body in overlay.manoeuvred() {
            let Some(states) = out.get_mut(body as usize) else {
                continue;
            };
            for (k, state) in outputs.clone().zip(states.iter_mut()) {
                if let Some(s) = overlay.state(log, self.key, body, k)? {
                    *state = s;
                }
            }
        }
        Ok(out)
    }
}
