//! A logged run's conjunctions at a screening distance: a version screened from
//! scratch ([`Held::screen`]), and a screener kept current as manoeuvres make new
//! versions ([`Held::follow`]: the manoeuvred body's old samples retracted, its new
//! ones inserted, instead of screening the new version again); and a version's
//! screening kept in the log ([`keep`]) and read back ([`kept`]), in the store's
//! encoding of screened pairs, so that a restarted service does not screen again.

use nano_store::{encoding, Log, ScreenedPair, Version};

use super::{LoggedRun, Overlay};
use crate::orbit::OrbitState;
use crate::screening::grid::Grid;
use crate::screening::screener::{Changes, Screener};
use crate::screening::windows::Workers;
use crate::screening::Conjunction;
use crate::screening::{refine, report};
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

/// Screens the version of `run` made by `versions` at `d_km` in windows of `window`
/// output intervals ([`crate::screening::windows`]), each window's states read from
/// the log in one pass when it is screened, on `workers` threads; `progress(k)` is
/// told when the outputs before `k` are screened. Every conjunction, closest first.
/// What it holds is one window's states and dataflow, whatever the run's length; no
/// screener is left to follow manoeuvres.
pub fn screen_windowed(
    log: &Log,
    run: &LoggedRun,
    versions: &[Version],
    d_km: f64,
    window: usize,
    workers: usize,
    progress: impl FnMut(usize),
) -> Result<Vec<Conjunction>, Error> {
    let workers = Workers::start(workers, None)?;
    let found = screen_windowed_on(&workers, log, run, versions, d_km, window, progress)?;
    workers.stop()?;
    Ok(found)
}

/// [`screen_windowed`] on `workers` kept between screenings (those of a whole
/// cluster: [`Workers::start`] with its network).
pub fn screen_windowed_on(
    workers: &Workers,
    log: &Log,
    run: &LoggedRun,
    versions: &[Version],
    d_km: f64,
    window: usize,
    progress: impl FnMut(usize),
) -> Result<Vec<Conjunction>, Error> {
    let outputs = run.iterations + 1;
    let mut overlay = Overlay::new(versions.to_vec(), run.step());
    workers.screen(
        outputs as usize,
        d_km,
        window,
        |range| run.window_states(log, &mut overlay, range.start as u64..range.end as u64),
        progress,
    )
}

/// Keeps `found`, version `version` of `run`'s conjunctions at the distance whose bits
/// are `d_bits` as the screening gave them, in the log (the pairs of catalogue objects
/// refined on SGP4, [`crate::screening::refine`]; sorted by pair, then time), and
/// leaves it so, sorted by miss distance, as answers give it.
pub fn keep(
    log: &Log,
    run: &LoggedRun,
    version: u32,
    d_bits: u64,
    found: &mut Vec<Conjunction>,
) -> Result<(), Error> {
    let t_end = run.iterations as f64 * run.step();
    refine::on_sgp4(&run.scenario, found, f64::from_bits(d_bits), t_end);
    found.sort();
    let bytes = encoding::encode_screening(found.iter().map(ScreenedPair::from));
    let kept = log.put_screening(run.key, version, d_bits, &bytes);
    report::by_miss(found);
    Ok(kept?)
}

/// The conjunctions in `bytes`, a screening the log kept for `run`, in the order kept.
pub fn decode(run: &LoggedRun, bytes: &[u8]) -> Result<Vec<Conjunction>, Error> {
    let pairs = encoding::decode_screening(bytes).map_err(|source| Error::UnreadableScreening {
        run: run.id,
        source,
    })?;
    Ok(pairs.into_iter().map(Conjunction::from).collect())
}

/// Version `version` of `run`'s conjunctions at the distance whose bits are `d_bits`,
/// as the log kept them, closest first; `None` when the log keeps no such screening.
pub fn kept(
    log: &Log,
    run: &LoggedRun,
    version: u32,
    d_bits: u64,
) -> Result<Option<Vec<Conjunction>>, Error> {
    let Some(bytes) = log.screening(run.key, version, d_bits)? else {
        return Ok(None);
    };
    let mut found = decode(run, &bytes)?;
    report::by_miss(&mut found);
    Ok(Some(found))
}

/// Version `version` of `run`'s conjunctions below `d_km`, from the screening the log
/// keeps of it at the least distance `D >= d_km` (a minimum below `d_km` is one below
/// `D`: the set is the kept one filtered), closest first, with `D`; `None` when the log
/// keeps no screening of the version at `d_km` or more.
pub fn kept_within(
    log: &Log,
    run: &LoggedRun,
    version: u32,
    d_km: f64,
) -> Result<Option<(f64, Vec<Conjunction>)>, Error> {
    let least = log
        .screening_distances(run.key, version)?
        .into_iter()
        .map(f64::from_bits)
        .filter(|&d| d >= d_km)
        .min_by(f64::total_cmp);
    let Some(d) = least else {
        return Ok(None);
    };
    let Some(mut found) = kept(log, run, version, d.to_bits())? else {
        return Ok(None);
    };
    found.retain(|c| c.miss_km < d_km);
    Ok(Some((d, found)))
}
