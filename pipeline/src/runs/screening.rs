//! A logged run's conjunctions at a screening distance: a version screened from
//! scratch ([`Held::screen`]), and a screener kept current as manoeuvres make new
//! versions ([`Held::follow`]: the manoeuvred body's old samples retracted, its new
//! ones inserted, instead of screening the new version again).

use nano_store::{Log, Version};

use super::{LoggedRun, Overlay};
use crate::orbit::OrbitState;
use crate::screening::grid::Grid;
use crate::screening::screener::{Changes, Screener};
use crate::Error;

/// A screener's grid takes segments this much longer than the version's longest: a
/// manoeuvre that makes a body move further between outputs than the grid allows
/// cannot update it (the screener is dropped, and the version is screened from
/// scratch), so the room is for the manoeuvres that do not change a body's speed by
/// more than about a fifth. The cells grow by as much.
pub const REACH_MARGIN: f64 = 1.2;

/// A screener and the version of its run it holds.
pub struct Held {
    pub screener: Screener,
    pub version: u32,
}

impl Held {
    /// Screens the version of `run` made by `versions` (every version after 0 up to
    /// it) at `d_km`, from scratch, on `workers` threads: every body's states in that
    /// version, in a grid with [`REACH_MARGIN`] room for the manoeuvres to come.
    pub fn screen(
        log: &Log,
        run: &LoggedRun,
        versions: &[Version],
        d_km: f64,
        workers: usize,
    ) -> Result<Held, Error> {
        let outputs = run.iterations + 1;
        let mut bodies = Vec::with_capacity(run.bodies as usize);
        let mut overlay = Overlay::new(versions.to_vec(), run.step());
        for body in 0..run.bodies {
            bodies.push(run.body_states(log, &mut overlay, body, 0..outputs)?);
        }
        let tight = Grid::for_states(&bodies, d_km);
        let grid = Grid {
            max_reach_km: tight.max_reach_km * REACH_MARGIN,
            ..tight
        };
        let mut screener = Screener::start(workers, grid)?;
        screener.insert(bodies)?;
        Ok(Held {
            screener,
            version: versions.len() as u32,
        })
    }

    /// Follows `made`, the version after the one held, whose manoeuvred body's states
    /// from `made.from_output` on are `states`; what it changed of the conjunctions.
    /// `None` when the screener is behind, or the new track moves further between
    /// outputs than its grid allows: it cannot follow, and is to be screened again.
    pub fn follow(&mut self, made: &Version, states: Vec<OrbitState>) -> Option<Changes> {
        if self.version != made.parent {
            return None;
        }
        let changes = self
            .screener
            .replace(made.body, made.from_output as usize, states)
            .ok()?;
        self.version = made.version;
        Some(changes)
    }
}
