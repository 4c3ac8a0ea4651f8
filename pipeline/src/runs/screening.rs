//! A logged run's conjunctions at a screening distance: a version screened from
//! scratch ([`Held::screen`]), and a screener kept current as manoeuvres make new
//! versions ([`Held::follow`]: the manoeuvred body's old samples retracted, its new
//! ones inserted, instead of screening the new version again); and a version's
//! screening kept in the log ([`keep`]) and read back ([`kept`]), in the store's
//! encoding of screened pairs, so that a restarted service does not screen again.

use nano_store::{encoding, Log, ScreenedPair, Version};

use super::{LoggedRun, Overlay};
use crate::orbit::OrbitState;
use crate::screening::approach::closest_approaches;
use crate::screening::grid::{Envelope, Grid};
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

/// A screener and the version of its run it holds, with its conjunctions of two
/// catalogue objects refined on SGP4 once, when it was made: no manoeuvre changes
/// them (a catalogue object takes none), so an update does not refine them again.
pub struct Held {
    pub screener: Screener,
    pub version: u32,
    pub refined: Vec<Conjunction>,
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
        let mut refined: Vec<Conjunction> = screener
            .conjunctions()
            .into_iter()
            .filter(|c| refine::of_catalogue_objects(&run.scenario, c))
            .collect();
        let t_end = run.iterations as f64 * run.step();
        refine::on_sgp4(&run.scenario, &mut refined, d_km, t_end);
        Ok(Held {
            screener,
            version: versions.len() as u32,
            refined,
        })
    }

    /// The version's conjunctions, those of two catalogue objects refined on SGP4
    /// (for [`keep_refined`]); `scenario` is the run's.
    pub fn conjunctions(&self, scenario: &crate::scenario::OrbitScenario) -> Vec<Conjunction> {
        let mut found: Vec<Conjunction> = self
            .screener
            .conjunctions()
            .into_iter()
            .filter(|c| !refine::of_catalogue_objects(scenario, c))
            .collect();
        found.extend_from_slice(&self.refined);
        found
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

/// The version of `run` made by the last of `versions` (one body's track replaced from
/// an output on), screened at `d_km` from its parent's screening at `d_km` as the log
/// keeps it, instead of from scratch: the parent's conjunctions of every other pair,
/// and of the manoeuvred body those of the intervals before the first it changes;
/// then the manoeuvred body against every other body over the intervals it changes,
/// read from the log `window` output intervals at a time (`progress(k)` told when the
/// outputs before `k` are done): each pair's envelopes compared, and the pairs that
/// may meet refined by [`closest_approaches`], as the grid refines them. The same set,
/// bit for bit, as a screening of the version from scratch, for the reading of a
/// fraction of the run and one body's pairs. `None` when the log keeps no screening of
/// the parent at `d_km`, or the new track has a state the screening would refuse
/// (screened from scratch, it is refused by name).
pub fn screen_manoeuvred(
    log: &Log,
    run: &LoggedRun,
    versions: &[Version],
    d_km: f64,
    window: usize,
    mut progress: impl FnMut(usize),
) -> Result<Option<Vec<Conjunction>>, Error> {
    let Some(made) = versions.last() else {
        return Ok(None);
    };
    let Some(parent) = kept(log, run, made.parent, d_km.to_bits())? else {
        return Ok(None);
    };
    let outputs = run.iterations + 1;
    let body = made.body as usize;
    // The interval ending at the first new state is the first that changes.
    let first_changed = made.from_output.saturating_sub(1).min(outputs - 1);
    let mut overlay = Overlay::new(versions.to_vec(), run.step());
    let window = window.max(1) as u64;
    let mut found: Option<Vec<Conjunction>> = None;
    let mut first = first_changed;
    while first + 1 < outputs {
        let last = (first + window).min(outputs - 1);
        let bodies = run.window_states(log, &mut overlay, first..last + 1)?;
        let track = &bodies[body];
        if track
            .iter()
            .any(|s| !s.is_absent() && s.r.iter().chain(&s.v).any(|x| !x.is_finite()))
        {
            return Ok(None);
        }
        let kept = found.get_or_insert_with(|| {
            // The parent's answer but the manoeuvred body's from the first changed
            // interval on (a minimum at its start belongs to the interval before).
            let from = track[0].t;
            parent
                .iter()
                .filter(|c| !((c.a as usize == body || c.b as usize == body) && c.tca_s > from))
                .copied()
                .collect()
        });
        for k in 0..(last - first) as usize {
            let (m0, m1) = (&track[k], &track[k + 1]);
            if m0.is_absent() || m1.is_absent() {
                continue;
            }
            let ours = Envelope::between(m0, m1);
            for (other, states) in bodies.iter().enumerate() {
                let (o0, o1) = (&states[k], &states[k + 1]);
                if other == body || o0.is_absent() || o1.is_absent() {
                    continue;
                }
                if !ours.near(&Envelope::between(o0, o1), d_km) {
                    continue;
                }
                let (lo, hi) = if other < body {
                    ((other, o0, o1), (body, m0, m1))
                } else {
                    ((body, m0, m1), (other, o0, o1))
                };
                kept.extend(closest_approaches(
                    lo.0 as u32,
                    (lo.1, lo.2),
                    hi.0 as u32,
                    (hi.1, hi.2),
                    d_km,
                ));
            }
        }
        progress(last as usize + 1);
        first = last;
    }
    let mut found = found.unwrap_or(parent);
    report::by_miss(&mut found);
    Ok(Some(found))
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
    keep_refined(log, run, version, d_bits, found)
}

/// [`keep`] for conjunctions whose catalogue pairs are refined already (those of
/// [`Held::conjunctions`], and of [`screen_manoeuvred`]: its parent's, read back, and
/// the manoeuvred body's, which SGP4 does not propagate).
pub fn keep_refined(
    log: &Log,
    run: &LoggedRun,
    version: u32,
    d_bits: u64,
    found: &mut [Conjunction],
) -> Result<(), Error> {
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
