//! The Hermite interpolant (`docs/orbits.md`, "Conjunctions") against the exact Kepler
//! solution: between two output states of a point-mass orbit, the interpolated position
//! and velocity stay within the asserted bounds, and at the output times they are the
//! states themselves.

use nano_pipeline::orbit::kepler::Kepler;
use nano_pipeline::orbit::{hermite, OrbitState};
use nano_pipeline::scenario::EARTH_MU;

/// The state at periapsis of an orbit with periapsis radius `rp` (km) and eccentricity `e`.
fn periapsis(rp: f64, e: f64) -> OrbitState {
    let v = (EARTH_MU * (1.0 + e) / rp).sqrt();
    // Inclined, so all three components move.
    let (si, ci) = 53f64.to_radians().sin_cos();
    OrbitState {
        t: 0.0,
        r: [rp, 0.0, 0.0],
        v: [0.0, v * ci, v * si],
    }
}

fn dist(a: [f64; 3], b: [f64; 3]) -> f64 {
    ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2) + (a[2] - b[2]).powi(2)).sqrt()
}

/// The largest position (km) and velocity (km/s) errors of the interpolant over one
/// period sampled every `step` seconds, checked at 19 points inside each interval.
fn worst(orbit: &Kepler, step: f64) -> (f64, f64) {
    let (mut dr, mut dv) = (0.0f64, 0.0f64);
    let intervals = (orbit.period() / step).ceil() as u64;
    for k in 0..intervals {
        let (s0, s1) = (orbit.at(k as f64 * step), orbit.at((k + 1) as f64 * step));
        for j in 1..20 {
            let t = s0.t + step * j as f64 / 20.0;
            let (exact, got) = (orbit.at(t), hermite(&s0, &s1, t));
            assert_eq!(got.t, t);
            dr = dr.max(dist(exact.r, got.r));
            dv = dv.max(dist(exact.v, got.v));
        }
    }
    (dr, dv)
}

#[test]
fn hermite_matches_kepler_between_ten_second_outputs() {
    // (periapsis km, e, position bound km, velocity bound km/s). The interpolant's error
    // is at most |r''''| h^4 / 384; on the circular orbit |r''''| = n^4 a = 1.0e-8 km/s^4,
    // so 2.6e-7 km (a quarter of a millimetre) at h = 10 s. The bounds leave half as much
    // again, and more on the eccentric orbits, whose periapsis is faster.
    for (rp, e, pos_km, vel_kms) in [
        (6928.0, 0.0, 4e-7, 1.5e-7),
        (7000.0, 0.1, 5e-7, 2e-7),
        (7000.0, 0.7, 1.5e-6, 5e-7),
    ] {
        let orbit = Kepler::new(&periapsis(rp, e), EARTH_MU).unwrap();
        let (dr, dv) = worst(&orbit, 10.0);
        eprintln!("e={e}: 10 s step: {:.3e} km, {:.3e} km/s", dr, dv);
        assert!(
            dr < pos_km,
            "e={e}: position error {dr:e} km is not below {pos_km:e} km"
        );
        assert!(
            dv < vel_kms,
            "e={e}: velocity error {dv:e} km/s is not below {vel_kms:e} km/s"
        );
    }
}

#[test]
fn hermite_error_grows_as_the_fourth_power_of_the_step() {
    // The interpolant is cubic: doubling the step multiplies the largest position
    // error by about 16 (a bound it would miss by far if it were, say, linear).
    let orbit = Kepler::new(&periapsis(7000.0, 0.1), EARTH_MU).unwrap();
    let (d60, _) = worst(&orbit, 60.0);
    let (d120, _) = worst(&orbit, 120.0);
    let ratio = d120 / d60;
    assert!(
        (12.0..20.0).contains(&ratio),
        "error ratio {ratio} (60 s: {d60:e} km, 120 s: {d120:e} km)"
    );
}

#[test]
fn hermite_is_exact_at_the_output_times() {
    let orbit = Kepler::new(&periapsis(7000.0, 0.1), EARTH_MU).unwrap();
    let (s0, s1) = (orbit.at(100.0), orbit.at(110.0));
    assert_eq!(hermite(&s0, &s1, 100.0), s0);
    assert_eq!(hermite(&s0, &s1, 110.0), s1);
    // Two states at one time: the first, not a division by zero.
    assert_eq!(hermite(&s0, &s0, 100.0), s0);
}
