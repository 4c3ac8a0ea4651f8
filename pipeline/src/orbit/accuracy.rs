//! The accuracy report: every integrator against the exact Kepler solution.
//!
//! For each integrator (`dop853` at tolerance 1e-12, `yoshida4` and `rk4` at a step of
//! a thousandth of the period) and each eccentricity 0, 0.1 and 0.7 (perigee 7,000 km
//! for all three, so that none passes inside the Earth), one body is propagated over
//! `orbits` periods with the point-mass force through [`BodyPropagator`], the path a
//! run takes, with an output every hundredth of a period. Its outputs are compared
//! with the conserved quantities of the initial state (energy, angular momentum) and
//! its last output with [`Kepler`]'s state at the same time.
//!
//! The errors are those of what a run returns: for `dop853` the outputs come from the
//! dense output, so its interpolation error is included. The run is read in chunks,
//! so memory does not grow with the number of orbits; [`write_table`] and
//! [`write_json`] print the report (`sedaro-nano accuracy`).

use std::io::{self, Write};
use std::time::Instant;

use super::kepler::{self, Kepler};
use super::BodyPropagator;
use crate::scenario::{Scenario, ScenarioLimits, EARTH_MU};

/// Outputs per orbit.
pub const SAMPLES_PER_ORBIT: u64 = 100;
/// Fixed steps per orbit.
pub const STEPS_PER_ORBIT: u64 = 1000;
/// The `dop853` tolerance of the report.
pub const TOLERANCE: f64 = 1e-12;
/// The perigee radius of every case (km).
pub const PERIGEE_KM: f64 = 7000.0;
/// The eccentricities of the report.
pub const ECCENTRICITIES: [f64; 3] = [0.0, 0.1, 0.7];
/// The integrators of the report, by method name.
pub const METHODS: [&str; 3] = ["dop853", "yoshida4", "rk4"];
/// The most orbits a report may ask for (100,000 take a few minutes).
pub const MAX_ORBITS: u64 = 100_000;
/// Points in each decimated energy-error series.
pub const SERIES_POINTS: usize = 500;

/// One integrator on one orbit.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct AccuracyRow {
    /// `dop853`, `yoshida4` or `rk4`.
    pub integrator: String,
    /// The integrator's parameter as a scenario gives it: `tolerance=1e-12`,
    /// `step_s=5.8`.
    pub setting: String,
    pub e: f64,
    pub a_km: f64,
    pub period_s: f64,
    pub orbits: u64,
    /// max |E(t) - E0| / |E0| over the outputs.
    pub max_rel_energy_err: f64,
    /// The same, over the first and the last tenth of the run (a symplectic method's
    /// error stays bounded: the two are alike).
    pub max_rel_energy_err_first_tenth: f64,
    pub max_rel_energy_err_last_tenth: f64,
    /// max |h(t) - h0| / |h0| over the outputs (h the angular-momentum vector).
    pub max_rel_h_err: f64,
    /// |r - r_kepler| at the last output, in metres.
    pub final_position_err_m: f64,
    /// Accepted integrator steps, rejected attempts, force evaluations.
    pub steps: u64,
    pub rejected: u64,
    pub evaluations: u64,
    /// Wall-clock seconds of the propagation alone (not the comparisons).
    pub seconds: f64,
    /// `(t in orbits, rel energy error)`, at most [`SERIES_POINTS`] points: the
    /// largest error of each stretch of the run, for a log-scale plot.
    pub energy_series: Vec<(f64, f64)>,
}

/// The report over `orbits` orbits: every integrator of [`METHODS`] on every
/// eccentricity of [`ECCENTRICITIES`], in that order.
pub fn report(orbits: u64) -> Result<Vec<AccuracyRow>, super::Stopped> {
    METHODS
        .iter()
        .flat_map(|m| ECCENTRICITIES.iter().map(move |&e| run(m, e, orbits)))
        .collect()
}

/// One row of the report: `method` on the orbit of eccentricity `e` with perigee
/// [`PERIGEE_KM`], over `orbits` orbits.
///
/// An error if the integrator leaves the sane region on the way (an integrator with
/// too long a step over very many orbits could: [`super::Halt`]).
///
/// # Panics
/// If `method` is not one of [`METHODS`].
pub fn run(method: &str, e: f64, orbits: u64) -> Result<AccuracyRow, super::Stopped> {
    let a_km = PERIGEE_KM / (1.0 - e);
    let period_s = std::f64::consts::TAU * (a_km * a_km * a_km / EARTH_MU).sqrt();
    let setting = match method {
        "dop853" => format!("tolerance={TOLERANCE:e}"),
        "yoshida4" | "rk4" => format!("step_s={}", period_s / STEPS_PER_ORBIT as f64),
        other => panic!("no integrator {other}"),
    };
    let (key, value) = setting.split_once('=').expect("name=value");
    let doc = format!(
        r#"{{"model": "orbit", "epoch": "2026-01-01T00:00:00Z", "forces": ["point_mass"],
            "integrator": {{"method": "{method}", "{key}": {value}}},
            "output_step_s": {step},
            "bodies": [{{"name": "e {e}", "elements": {{"a_km": {a_km}, "e": {e}, "i_deg": 53,
                         "raan_deg": 30, "argp_deg": 40, "nu_deg": 0}}}}]}}"#,
        step = period_s / SAMPLES_PER_ORBIT as f64,
    );
    let Scenario::Orbit(scenario) = Scenario::parse(&doc, &ScenarioLimits::default())
        .expect("the report's scenarios are valid")
    else {
        unreachable!("an orbit document")
    };
    let s0 = scenario.body(0).expect("one body").state0;
    let outputs = orbits * SAMPLES_PER_ORBIT;

    let mu = EARTH_MU;
    let e0 = kepler::energy(&s0, mu);
    let h0 = kepler::angular_momentum(&s0);
    let h0n = norm(h0);
    let tenth = outputs / 10;
    // The run is read in chunks so that memory does not grow with `orbits`; each
    // stretch of the series keeps its largest error.
    let per_point = outputs.div_ceil(SERIES_POINTS as u64).max(1);
    let mut series: Vec<(f64, f64)> = Vec::with_capacity(SERIES_POINTS);
    let (mut max_e, mut first_e, mut last_e, mut max_h) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
    let mut last = s0;
    let mut seconds = 0.0;
    let mut propagator = BodyPropagator::new(&scenario, 0);
    let mut chunk = Vec::with_capacity(CHUNK as usize);
    while propagator.steps_done() < outputs {
        chunk.clear();
        let started = Instant::now();
        propagator.advance((propagator.steps_done() + CHUNK).min(outputs), &mut chunk)?;
        seconds += started.elapsed().as_secs_f64();
        let first_k = propagator.steps_done() - chunk.len() as u64;
        for (offset, s) in chunk.iter().enumerate() {
            let index = first_k + offset as u64; // 0-based among the outputs
            let err = ((kepler::energy(s, mu) - e0) / e0).abs();
            let h = kepler::angular_momentum(s);
            max_h = max_h.max(norm([h[0] - h0[0], h[1] - h0[1], h[2] - h0[2]]) / h0n);
            max_e = max_e.max(err);
            if index < tenth {
                first_e = first_e.max(err);
            }
            if index >= outputs - tenth {
                last_e = last_e.max(err);
            }
            let point = (index / per_point) as usize;
            match series.get_mut(point) {
                Some(p) if err > p.1 => *p = (s.t / period_s, err),
                Some(_) => {}
                None => series.push((s.t / period_s, err)),
            }
        }
        last = chunk.last().copied().unwrap_or(last);
    }
    let exact = Kepler::new(&s0, mu).expect("an elliptic orbit").at(last.t);
    let miss = [
        last.r[0] - exact.r[0],
        last.r[1] - exact.r[1],
        last.r[2] - exact.r[2],
    ];
    let stats = propagator.stats();
    Ok(AccuracyRow {
        integrator: method.to_string(),
        setting,
        e,
        a_km,
        period_s,
        orbits,
        max_rel_energy_err: max_e,
        max_rel_energy_err_first_tenth: first_e,
        max_rel_energy_err_last_tenth: last_e,
        max_rel_h_err: max_h,
        final_position_err_m: norm(miss) * 1000.0,
        steps: stats.steps,
        rejected: stats.rejected,
        evaluations: stats.evaluations,
        seconds,
        energy_series: series,
    })
}

/// Outputs read from the propagator at a time.
const CHUNK: u64 = 10_000;

/// The report as a table, one row per line, for a terminal.
pub fn write_table(rows: &[AccuracyRow], out: &mut impl Write) -> io::Result<()> {
    writeln!(
        out,
        "{:<9} {:<26} {:>4} {:>7} {:>12} {:>12} {:>14} {:>9} {:>9} {:>8}",
        "method",
        "setting",
        "e",
        "orbits",
        "max |dE/E|",
        "max |dh/h|",
        "final pos (m)",
        "steps",
        "rejected",
        "time (s)"
    )?;
    for r in rows {
        writeln!(
            out,
            "{:<9} {:<26} {:>4} {:>7} {:>12.3e} {:>12.3e} {:>14.4} {:>9} {:>9} {:>8.3}",
            r.integrator,
            r.setting,
            r.e,
            r.orbits,
            r.max_rel_energy_err,
            r.max_rel_h_err,
            r.final_position_err_m,
            r.steps,
            r.rejected,
            r.seconds
        )?;
    }
    Ok(())
}

/// The report as one JSON document: `{"orbits", "samples_per_orbit", "rows": [...]}`,
/// each row with every field of [`AccuracyRow`] (its series as `[t_orbits, err]` pairs).
pub fn write_json(rows: &[AccuracyRow], orbits: u64, out: &mut impl Write) -> io::Result<()> {
    let doc = serde_json::json!({
        "orbits": orbits,
        "samples_per_orbit": SAMPLES_PER_ORBIT,
        "perigee_km": PERIGEE_KM,
        "rows": rows,
    });
    serde_json::to_writer(&mut *out, &doc)?;
    writeln!(out)
}

fn norm(a: [f64; 3]) -> f64 {
    (a[0] * a[0] + a[1] * a[1] + a[2] * a[2]).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_has_every_integrator_and_eccentricity() {
        let rows = report(3).unwrap();
        assert_eq!(rows.len(), 9);
        for (row, (m, e)) in rows
            .iter()
            .zip(METHODS.iter().flat_map(|m| ECCENTRICITIES.map(|e| (m, e))))
        {
            assert_eq!((row.integrator.as_str(), row.e), (*m, e));
            assert!((row.a_km * (1.0 - row.e) - PERIGEE_KM).abs() < 1e-9);
            assert!(row.energy_series.len() <= SERIES_POINTS && !row.energy_series.is_empty());
            assert!(row
                .energy_series
                .iter()
                .all(|&(t, err)| t > 0.0 && t <= 3.0 + 1e-9 && err >= 0.0));
            let top = row.energy_series.iter().map(|p| p.1).fold(0.0, f64::max);
            assert_eq!(
                top, row.max_rel_energy_err,
                "the series keeps the largest error"
            );
            assert!(row.steps > 0 && row.evaluations >= row.steps);
            // Three orbits at these settings are accurate far beyond any doubt.
            assert!(
                row.max_rel_energy_err < 1e-6 && row.final_position_err_m < 1000.0,
                "{row:?}"
            );
        }
        let fixed = &rows[3];
        assert_eq!(
            fixed.steps,
            3 * STEPS_PER_ORBIT,
            "a fixed step lands on the outputs without extra steps"
        );
    }
}
