//! Conjunctions of two catalogue objects refined on SGP4 itself, so that a coarse
//! output step still gives the exact minima (`docs/orbits.md`, "Conjunctions").
//!
//! The screening finds each minimum on the bodies' Hermite interpolants: exact for the
//! cubics, but the cubics are not the orbits. Between outputs a minute apart a
//! low-orbit object's cubic strays some decimetres from SGP4's path, and further at
//! longer steps or past a perigee. A catalogue object's path *is* its SGP4, which can
//! be evaluated at any time; so, for a pair of catalogue objects, the time of closest
//! approach is found again as the root of `g(t) = dr . dv` (half the derivative of
//! the squared distance) of the two SGP4 states near the interpolant's, and the miss
//! and the encounter are read there.
//!
//! The root is bracketed around the interpolant's time (the bracket widened until `g`
//! turns from negative to positive inside it, up to an output step each way) and
//! found by false position with the Illinois modification, to a microsecond. The
//! distance, the speed and the radial / in-track / cross-track frame do not change
//! under a rotation of both states, so it all is done in TEME, SGP4's own frame,
//! whatever frame the run is written in.
//!
//! What cannot be refined is kept as the interpolant gave it: a pair with a body the
//! scenario integrates itself (a manoeuvrable body: its path between outputs is the
//! integrator's), or one SGP4 fails for near the time. Two minima of one pair that
//! the interpolant kept apart but that are one minimum of SGP4 are kept once; one that
//! SGP4 puts at the screening distance or past it is no conjunction at that distance,
//! and neither is one where SGP4 has no minimum within an output step (or none inside
//! the run): the cubics were not the orbits there. The public catalogue has such an
//! object: an element set fifty days old of a decaying fragment whose SGP4 positions
//! leap between two points a million kilometres out, either side of the Earth, from
//! one output to the next; the cubic between them crosses low orbits at 59,000 km/s
//! and met one within 5 km, where SGP4 keeps the two a million kilometres apart.

use crate::orbit::OrbitState;
use crate::scenario::OrbitScenario;

use super::approach::encounter;
use super::Conjunction;

/// How close the refined time of closest approach is to the root (s).
pub const TCA_TOLERANCE_S: f64 = 1e-6;

/// The widest bracket searched around the interpolant's time, in output steps each way.
const MAX_BRACKET_STEPS: f64 = 1.0;

/// The most steps of false position (each halves the bracket at least every other step
/// with the Illinois modification; far more than a microsecond in an output step
/// needs).
const MAX_ITERATIONS: usize = 100;

/// Whether both bodies of `c` are catalogue objects of `scenario`: a pair SGP4 refines
/// (and a manoeuvre, which no catalogue object takes, never changes).
pub fn of_catalogue_objects(scenario: &OrbitScenario, c: &Conjunction) -> bool {
    scenario.catalog_object(c.a as usize).is_some()
        && scenario.catalog_object(c.b as usize).is_some()
}

/// Refines every conjunction of two catalogue objects of `scenario` in `found` on
/// SGP4 (see the module docs), for a run whose outputs span `0..=t_end_s`, screened at
/// `d_km`. Order is not kept.
pub fn on_sgp4(scenario: &OrbitScenario, found: &mut Vec<Conjunction>, d_km: f64, t_end_s: f64) {
    let step = scenario.output_step_s();
    let mut refined = false;
    found.retain_mut(|c| {
        let (Some(a), Some(b)) = (
            scenario.catalog_object(c.a as usize),
            scenario.catalog_object(c.b as usize),
        ) else {
            return true;
        };
        let state = |t: f64| -> Option<(OrbitState, OrbitState)> {
            let at = |o: &crate::scenario::CatalogObject| {
                let y = o.sgp4.teme(o.offset_min + t / 60.0).ok()?;
                Some(OrbitState {
                    t,
                    r: [y[0], y[1], y[2]],
                    v: [y[3], y[4], y[5]],
                })
            };
            Some((at(a)?, at(b)?))
        };
        match refine(c, state, step, t_end_s) {
            Ok(better) => {
                *c = better;
                refined = true;
                c.miss_km < d_km
            }
            Err(Unrefined::NoMinimum) => false,
            Err(Unrefined::NoState) => true,
        }
    });
    if !refined {
        return;
    }
    // One minimum of SGP4 reached from two of the interpolant's: kept once.
    found.sort_by(|x, y| {
        (x.a, x.b)
            .cmp(&(y.a, y.b))
            .then(x.tca_s.total_cmp(&y.tca_s))
    });
    found.dedup_by(|later, earlier| {
        later.a == earlier.a
            && later.b == earlier.b
            && (later.tca_s - earlier.tca_s).abs() <= 2.0 * TCA_TOLERANCE_S
    });
}

/// `g(t) = dr . dv` of the pair's states at `t`.
fn closing(pair: &(OrbitState, OrbitState)) -> f64 {
    let (a, b) = pair;
    (0..3).map(|i| (b.r[i] - a.r[i]) * (b.v[i] - a.v[i])).sum()
}

/// Why a conjunction was not found again on the true states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unrefined {
    /// The states have no minimum within a step of its time, inside the run.
    NoMinimum,
    /// The states could not be had near its time.
    NoState,
}

/// The conjunction `c` found again on the pair's true states (`state(t)`, `None` where
/// they cannot be had), within `step` each way of its time and inside `0..=t_end_s`.
fn refine(
    c: &Conjunction,
    state: impl Fn(f64) -> Option<(OrbitState, OrbitState)>,
    step: f64,
    t_end_s: f64,
) -> Result<Conjunction, Unrefined> {
    let g = |t: f64| {
        state(t)
            .map(|pair| closing(&pair))
            .ok_or(Unrefined::NoState)
    };
    // The bracket: `g < 0` (closing) at its start, `g > 0` (opening) at its end.
    let mut half = (step * 1e-3).max(TCA_TOLERANCE_S);
    let (mut lo, mut hi, mut g_lo, mut g_hi);
    loop {
        lo = (c.tca_s - half).max(0.0);
        hi = (c.tca_s + half).min(t_end_s);
        g_lo = g(lo)?;
        g_hi = g(hi)?;
        if g_lo < 0.0 && g_hi > 0.0 {
            break;
        }
        if half >= MAX_BRACKET_STEPS * step {
            return Err(Unrefined::NoMinimum);
        }
        half = (2.0 * half).min(MAX_BRACKET_STEPS * step);
    }
    // False position, Illinois: the end that stays has its value halved.
    let mut side = 0i8;
    for _ in 0..MAX_ITERATIONS {
        if hi - lo <= TCA_TOLERANCE_S {
            break;
        }
        let t = (lo * g_hi - hi * g_lo) / (g_hi - g_lo);
        let t = if t > lo && t < hi { t } else { 0.5 * (lo + hi) };
        let gt = g(t)?;
        if gt == 0.0 {
            (lo, hi) = (t, t);
            break;
        }
        if gt < 0.0 {
            (lo, g_lo) = (t, gt);
            if side == -1 {
                g_hi *= 0.5;
            }
            side = -1;
        } else {
            (hi, g_hi) = (t, gt);
            if side == 1 {
                g_lo *= 0.5;
            }
            side = 1;
        }
    }
    let tca = 0.5 * (lo + hi);
    let (pa, pb) = state(tca).ok_or(Unrefined::NoState)?;
    let miss = (0..3)
        .map(|i| (pb.r[i] - pa.r[i]).powi(2))
        .sum::<f64>()
        .sqrt();
    let (rel_speed_kms, ric_km) = encounter(&pa, &pb);
    Ok(Conjunction {
        tca_s: tca,
        miss_km: miss,
        rel_speed_kms,
        ric_km,
        ..*c
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two straight lines crossing: `a` at rest at the origin, `b` passing at 1 km
    /// at 7 km/s, closest at t = 10.3 s.
    fn lines(t: f64) -> Option<(OrbitState, OrbitState)> {
        let a = OrbitState {
            t,
            r: [0.0; 3],
            v: [0.0; 3],
        };
        let b = OrbitState {
            t,
            r: [7.0 * (t - 10.3), 1.0, 0.0],
            v: [7.0, 0.0, 0.0],
        };
        Some((a, b))
    }

    fn guess(tca_s: f64) -> Conjunction {
        Conjunction {
            a: 0,
            b: 1,
            tca_s,
            miss_km: 2.0,
            rel_speed_kms: f64::NAN,
            ric_km: [f64::NAN; 3],
        }
    }

    #[test]
    fn the_minimum_is_found_again_from_a_guess_within_a_step() {
        for start in [10.3, 10.0, 4.0, 16.0] {
            let c = refine(&guess(start), lines, 10.0, 100.0).unwrap();
            assert!((c.tca_s - 10.3).abs() < TCA_TOLERANCE_S, "{start}: {c:?}");
            assert!((c.miss_km - 1.0).abs() < 1e-9, "{start}: {c:?}");
            assert!((c.rel_speed_kms - 7.0).abs() < 1e-12, "{c:?}");
        }
    }

    #[test]
    fn no_minimum_within_a_step_or_no_state_is_told_apart() {
        // More than a step away, or past the run's end: no minimum there.
        assert_eq!(
            refine(&guess(30.0), lines, 10.0, 100.0).unwrap_err(),
            Unrefined::NoMinimum
        );
        assert_eq!(
            refine(&guess(9.0), lines, 10.0, 10.0).unwrap_err(),
            Unrefined::NoMinimum
        );
        // The states not to be had.
        assert_eq!(
            refine(&guess(10.0), |_| None, 10.0, 100.0).unwrap_err(),
            Unrefined::NoState
        );
    }
}
