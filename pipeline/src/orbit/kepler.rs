//! The exact two-body solution: the test oracle for the integrators.
//!
//! Independent of them by construction: it integrates nothing. From a state it takes
//! the conic (semi-major axis from the energy, the perifocal frame from the
//! eccentricity and angular-momentum vectors, the mean anomaly at epoch), and the state
//! at any `t` comes from the mean anomaly `M0 + n t` through Kepler's equation
//! `E - e sin E = M`, solved by Newton's method to machine precision.

use super::OrbitState;

fn dot(a: [f64; 3], b: [f64; 3]) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

fn cross(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

fn norm(a: [f64; 3]) -> f64 {
    dot(a, a).sqrt()
}

/// Specific orbital energy `v²/2 - mu/r` (km²/s²).
pub fn energy(s: &OrbitState, mu: f64) -> f64 {
    dot(s.v, s.v) / 2.0 - mu / norm(s.r)
}

/// Specific angular momentum `r x v` (km²/s).
pub fn angular_momentum(s: &OrbitState) -> [f64; 3] {
    cross(s.r, s.v)
}

/// The osculating right ascension of the ascending node (radians, in `(-pi, pi]`): the
/// direction of `z x h`.
pub fn raan(s: &OrbitState) -> f64 {
    let h = angular_momentum(s);
    h[0].atan2(-h[1])
}

/// An elliptic two-body orbit, fixed by one state.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Kepler {
    t0: f64,
    a: f64,
    e: f64,
    /// Mean motion (rad/s).
    n: f64,
    /// Mean anomaly at `t0`.
    m0: f64,
    /// Unit vectors towards the periapsis and 90 degrees ahead of it, in the plane.
    p: [f64; 3],
    q: [f64; 3],
}

impl Kepler {
    /// The orbit through `s`; `None` unless it is elliptic (negative energy, nonzero
    /// angular momentum).
    pub fn new(s: &OrbitState, mu: f64) -> Option<Kepler> {
        let (r, v) = (s.r, s.v);
        let rn = norm(r);
        let energy = energy(s, mu);
        let h = cross(r, v);
        let hn = norm(h);
        if !(energy < 0.0 && hn > 0.0 && rn > 0.0) {
            return None;
        }
        let a = -mu / (2.0 * energy);
        let w = [h[0] / hn, h[1] / hn, h[2] / hn];
        let vxh = cross(v, h);
        let ev: [f64; 3] = std::array::from_fn(|k| vxh[k] / mu - r[k] / rn);
        // The eccentricity vector lies in the plane; rounding can tilt it out, so its
        // in-plane part is taken. Near a circle its direction is noise, and any
        // direction in the plane serves: the position's own.
        let along = dot(ev, w);
        let ev: [f64; 3] = std::array::from_fn(|k| ev[k] - along * w[k]);
        let e = norm(ev);
        let p = if e > 1e-11 {
            [ev[0] / e, ev[1] / e, ev[2] / e]
        } else {
            [r[0] / rn, r[1] / rn, r[2] / rn]
        };
        let q = cross(w, p);
        let b = a * (1.0 - e * e).sqrt();
        let ecc_anomaly = (dot(r, q) / b).atan2(dot(r, p) / a + e);
        Some(Kepler {
            t0: s.t,
            a,
            e,
            n: (mu / (a * a * a)).sqrt(),
            m0: ecc_anomaly - e * ecc_anomaly.sin(),
            p,
            q,
        })
    }

    /// Semi-major axis (km).
    pub fn a(&self) -> f64 {
        self.a
    }

    /// Eccentricity.
    pub fn e(&self) -> f64 {
        self.e
    }

    /// The orbital period (s).
    pub fn period(&self) -> f64 {
        std::f64::consts::TAU / self.n
    }

    /// The state at time `t`.
    pub fn at(&self, t: f64) -> OrbitState {
        let m = (self.m0 + self.n * (t - self.t0)).rem_euclid(std::f64::consts::TAU);
        let ea = solve_kepler(m, self.e);
        let (sin_e, cos_e) = ea.sin_cos();
        let root = (1.0 - self.e * self.e).sqrt();
        let x = self.a * (cos_e - self.e);
        let y = self.a * root * sin_e;
        let rate = self.n / (1.0 - self.e * cos_e);
        let vx = -self.a * sin_e * rate;
        let vy = self.a * root * cos_e * rate;
        OrbitState {
            t,
            r: std::array::from_fn(|k| x * self.p[k] + y * self.q[k]),
            v: std::array::from_fn(|k| vx * self.p[k] + vy * self.q[k]),
        }
    }
}

/// The eccentric anomaly `E` with `E - e sin E = m`, for `m` in `[0, 2 pi)`: Newton's
/// method from `E = m + e sin m` (or `pi` for large `e`), to the last bit, with a
/// bisection bracket so that it converges for every `e < 1`.
pub fn solve_kepler(m: f64, e: f64) -> f64 {
    let f = |ea: f64| ea - e * ea.sin() - m;
    let (mut lo, mut hi) = (0.0, std::f64::consts::TAU);
    let mut ea = if e < 0.8 {
        m + e * m.sin()
    } else {
        std::f64::consts::PI
    };
    for _ in 0..100 {
        let fx = f(ea);
        if fx == 0.0 {
            return ea;
        }
        if fx < 0.0 {
            lo = ea;
        } else {
            hi = ea;
        }
        let next = ea - fx / (1.0 - e * ea.cos());
        let next = if next > lo && next < hi {
            next
        } else {
            (lo + hi) / 2.0
        };
        if (next - ea).abs() <= 4.0 * f64::EPSILON * ea.abs().max(1.0) {
            return next;
        }
        ea = next;
    }
    ea
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::{Elements, EARTH_MU};

    #[test]
    fn keplers_equation_is_solved_to_the_last_bits() {
        for e in [0.0, 1e-9, 0.1, 0.5, 0.7, 0.9, 0.99, 0.999_999] {
            for i in 0..1000 {
                let m = i as f64 * std::f64::consts::TAU / 1000.0;
                let ea = solve_kepler(m, e);
                let residual = ea - e * ea.sin() - m;
                assert!(residual.abs() < 1e-14, "e={e} m={m}: residual {residual}");
            }
        }
    }

    /// The oracle is built from the state alone; here it must give back the same
    /// state at `t0`, the same state after a whole period, and at a quarter period of
    /// a circle the position turned by 90 degrees.
    #[test]
    fn the_oracle_returns_its_state_and_closes_after_a_period() {
        for (a, e, nu) in [
            (7000.0, 0.0, 0.0),
            (7000.0, 0.1, 30.0),
            (23_333.0, 0.7, 200.0),
            (42_164.0, 0.99, 179.0),
        ] {
            let el = Elements {
                a_km: a,
                e,
                i_deg: 53.0,
                raan_deg: 10.0,
                argp_deg: 20.0,
                nu_deg: nu,
            };
            let (r, v) = el.to_state(EARTH_MU);
            let s0 = OrbitState { t: 0.0, r, v };
            let orbit = Kepler::new(&s0, EARTH_MU).unwrap();
            assert!((orbit.a() - a).abs() < 1e-9 * a && (orbit.e() - e).abs() < 1e-9);
            for t in [0.0, orbit.period(), 10.0 * orbit.period()] {
                let s = orbit.at(t);
                for k in 0..3 {
                    assert!(
                        (s.r[k] - r[k]).abs() < 1e-9 * a,
                        "a={a} e={e} t={t}: {s:?} vs {r:?}"
                    );
                    assert!((s.v[k] - v[k]).abs() < 1e-9 * norm(v).max(1.0) * 10.0);
                }
                let drift = (energy(&s, EARTH_MU) - energy(&s0, EARTH_MU)).abs();
                assert!(drift < 1e-13 * energy(&s0, EARTH_MU).abs());
            }
        }
        let circle = Kepler::new(
            &OrbitState {
                t: 0.0,
                r: [7000.0, 0.0, 0.0],
                v: [0.0, (EARTH_MU / 7000.0f64).sqrt(), 0.0],
            },
            EARTH_MU,
        )
        .unwrap();
        let quarter = circle.at(circle.period() / 4.0);
        assert!(
            quarter.r[0].abs() < 1e-8 && (quarter.r[1] - 7000.0).abs() < 1e-8,
            "{quarter:?}"
        );
    }
}
