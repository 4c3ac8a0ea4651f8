//! One object's SGP4: the `sgp4` crate (a Rust port of Vallado's 2006 code, checked
//! against its verification set) behind our own types.
//!
//! Mode: Vallado's "improved" mode with WGS-72, which is what python's
//! `Satrec.twoline2rv` and `tcppver.out` use: the WGS-72 geopotential, the IAU
//! sidereal time at epoch (deep-space resonance), and no AFSPC shortcuts. The crate's
//! `Constants::from_elements` pairs the improved mode with WGS-84, so the constants
//! are built here from their parts.
//!
//! Errors are Vallado's codes: 1 the mean elements' eccentricity out of range (at
//! epoch or propagated), 2 a negative mean motion, 3 the perturbed eccentricity out
//! of range (deep space), 4 a negative semi-latus rectum, 6 the satellite below the
//! Earth's surface (decayed). (Code 5, sub-orbital epoch elements, was dropped from
//! Vallado's code in 2006; code 6 covers it.) The crate reports all but 6; the
//! decay test is Vallado's, on the radius it returns. Ours adds code 7: a position
//! past [`MAX_ORBIT_KM`], which SGP4 gives without complaint for element sets
//! propagated far past their object's decay (71 of the public catalogue's 25,975,
//! 1e13 km and more from the Earth a year on, python-sgp4 alike): not an orbit of the
//! Earth, and not a state a screening or a plot can take.

use std::f64::consts::PI;

use ::sgp4::{Constants, ElementsError, KozaiElementsError, MinutesSinceEpoch, Orbit, WGS72};

pub use ::sgp4::ResonanceState;

use super::ElementSet;

/// The farthest an SGP4 position may be from the Earth's centre (km): 26 times the
/// Moon's distance, far past any Earth orbit an element set describes.
pub const MAX_ORBIT_KM: f64 = 1e7;

/// One object's SGP4 propagator (improved mode, WGS-72), ready to evaluate at any
/// time; states in TEME, km and km/s.
#[derive(Debug, Clone)]
pub struct Sgp4 {
    constants: Constants,
}

/// SGP4 could not propagate an object: `code` is Vallado's (1 to 6), `message` says
/// what failed and when.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("SGP4 error {code}: {message}")]
pub struct Sgp4Error {
    pub code: u8,
    pub message: String,
}

/// Years since 2000-01-01T12:00:00 UTC (the crate's epoch; its sidereal time and
/// lunar-solar terms count from there), as the crate computes it from a date.
fn years_since_j2000(e: &ElementSet) -> f64 {
    let ns = e.epoch.unix_nanos();
    let day = ns.div_euclid(86_400_000_000_000);
    let in_day = ns.rem_euclid(86_400_000_000_000);
    let (seconds, nanos) = (in_day / 1_000_000_000, in_day % 1_000_000_000);
    (day - 10_957) as f64 / 365.25
        + (seconds as f64 - 43_200.0) / (86_400.0 * 365.25)
        + nanos as f64 / (86_400.0 * 1e9 * 365.25)
}

impl Sgp4 {
    /// Initialises SGP4 for an element set.
    pub fn new(e: &ElementSet) -> Result<Sgp4, Sgp4Error> {
        let deg = PI / 180.0;
        let orbit = Orbit::from_kozai_elements(
            &WGS72,
            e.inclination_deg * deg,
            e.raan_deg * deg,
            e.eccentricity,
            e.arg_perigee_deg * deg,
            e.mean_anomaly_deg * deg,
            e.mean_motion_rev_day * (PI / 720.0),
        )
        .map_err(|err| init_error(ElementsError::from(err)))?;
        let constants = Constants::new(
            WGS72,
            ::sgp4::iau_epoch_to_sidereal_time,
            years_since_j2000(e),
            e.bstar,
            orbit,
        )
        .map_err(|err| init_error(ElementsError::from(err)))?;
        Ok(Sgp4 { constants })
    }

    /// The state `[x, y, z, vx, vy, vz]` (km, km/s, TEME) `minutes_since_epoch`
    /// minutes after the element set's epoch (negative before it).
    pub fn teme(&self, minutes_since_epoch: f64) -> Result<[f64; 6], Sgp4Error> {
        self.teme_tracked(minutes_since_epoch, &mut self.resonance())
    }

    /// The deep-space resonance integrator's state at the epoch (`None` for every
    /// object but the resonant ones: twelve-hour and one-day orbits).
    pub fn resonance(&self) -> Option<ResonanceState> {
        self.constants.initial_state()
    }

    /// [`Sgp4::teme`], the resonance integrator carried in `resonance` from one call to
    /// the next (from [`Sgp4::resonance`]; started again when the time goes back or
    /// crosses the epoch). A resonant object's SGP4 integrates in fixed 720-minute steps
    /// from its epoch; carried, each call takes only the steps since the last instead
    /// of all of them since the epoch (years of them, for an old element set), and
    /// lands on the same numbers: the steps are the same.
    pub fn teme_tracked(
        &self,
        minutes_since_epoch: f64,
        resonance: &mut Option<ResonanceState>,
    ) -> Result<[f64; 6], Sgp4Error> {
        if let Some(state) = resonance {
            let t = state.t();
            if (t != 0.0 && t.is_sign_positive() != minutes_since_epoch.is_sign_positive())
                || minutes_since_epoch.abs() < t.abs()
            {
                *resonance = self.constants.initial_state();
            }
        }
        let p = self
            .constants
            .propagate_from_state(
                MinutesSinceEpoch(minutes_since_epoch),
                resonance.as_mut(),
                false,
            )
            .map_err(|err| {
                let code = match err {
                    ::sgp4::Error::OutOfRangeEccentricity { .. } => 1,
                    ::sgp4::Error::OutOfRangePerturbedEccentricity { .. } => 3,
                    ::sgp4::Error::NegativeSemiLatusRectum { .. } => 4,
                };
                Sgp4Error {
                    code,
                    message: err.to_string(),
                }
            })?;
        let [x, y, z] = p.position;
        // Squared, so that the usual case takes no square root.
        let r2 = x * x + y * y + z * z;
        if r2 < WGS72.ae * WGS72.ae {
            let r = r2.sqrt();
            return Err(Sgp4Error {
                code: 6,
                message: format!(
                    "the satellite has decayed: {r:.3} km from the Earth's centre, below its radius, {minutes_since_epoch} minutes after epoch"
                ),
            });
        }
        if r2 > MAX_ORBIT_KM * MAX_ORBIT_KM {
            return Err(Sgp4Error {
                code: 7,
                message: format!(
                    "not an orbit of the Earth: {:.3e} km from its centre, past {MAX_ORBIT_KM:e} km, {minutes_since_epoch} minutes after epoch",
                    r2.sqrt()
                ),
            });
        }
        let [vx, vy, vz] = p.velocity;
        Ok([x, y, z, vx, vy, vz])
    }
}

fn init_error(err: ElementsError) -> Sgp4Error {
    let code = match &err {
        ElementsError::OutOfRangeEpochEccentricity(_) => 1,
        ElementsError::KozaiElementsError(KozaiElementsError::NegativeKozaiMeanMotion)
        | ElementsError::KozaiElementsError(KozaiElementsError::NegativeBrouwerMeanMotion) => 2,
    };
    Sgp4Error {
        code,
        message: format!("{err} (at initialisation)"),
    }
}

/// SGP4's semi-major axis in Earth radii (the Kozai mean motion un-Kozai'd as SGP4's
/// initialisation does, WGS-72), and the radius in km.
pub(super) fn semi_major_axis_er(e: &ElementSet) -> (f64, f64) {
    let no_kozai = e.mean_motion_rev_day * (PI / 720.0);
    let cosio = e.inclination_deg.to_radians().cos();
    let omeosq = 1.0 - e.eccentricity * e.eccentricity;
    let ak = (WGS72.ke / no_kozai).powf(2.0 / 3.0);
    let d1 = 0.75 * WGS72.j2 * (3.0 * cosio * cosio - 1.0) / (omeosq.sqrt() * omeosq);
    let del = d1 / (ak * ak);
    let adel = ak * (1.0 - del * del - del * (1.0 / 3.0 + 134.0 * del * del / 81.0));
    let del = d1 / (adel * adel);
    let no_unkozai = no_kozai / (1.0 + del);
    ((WGS72.ke / no_unkozai).powf(2.0 / 3.0), WGS72.ae)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Catalog;

    /// A Molniya orbit (twelve-hour resonance) of Vallado's verification set.
    const MOLNIYA: &str = "MOLNIYA 1-36
1 08195U 75081A   06176.33215444  .00000099  00000-0  11873-3 0   813
2 08195  64.1586 279.0717 6877146 264.7651  20.2257  2.00491383225656
";

    #[test]
    fn the_carried_resonance_integrator_gives_the_numbers_of_one_started_at_each_call() {
        let catalog = Catalog::read(MOLNIYA.as_bytes(), None).unwrap();
        let sgp4 = Sgp4::new(&catalog.objects[0]).unwrap();
        let mut carried = sgp4.resonance();
        assert!(carried.is_some(), "a resonant orbit");
        // Backwards from before the epoch, across it, forwards for a year, and back.
        let times = (-40..40)
            .map(|k| k as f64 * 500.0)
            .chain((0..100).map(|k| k as f64 * 5_000.0))
            .chain([100.0, -3_000.0, 7.5]);
        for minutes in times {
            let once = sgp4.teme(minutes);
            let tracked = sgp4.teme_tracked(minutes, &mut carried);
            match (once, tracked) {
                (Ok(a), Ok(b)) => {
                    assert_eq!(a.map(f64::to_bits), b.map(f64::to_bits), "at {minutes} min")
                }
                (a, b) => assert_eq!(a, b, "at {minutes} min"),
            }
        }
    }
}
