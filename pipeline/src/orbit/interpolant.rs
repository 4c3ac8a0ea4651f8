//! A body's state between two output times: the cubic Hermite interpolant of
//! `docs/orbits.md` ("Conjunctions"), the one curve through both ends' positions with
//! both ends' velocities.
//!
//! Its error is `|r''''| h^4 / 384` at most (`h` the interval): a 10 s output step of a
//! low orbit (`|r''''|` about `n^4 a`, near 1e-8 km/s^4) gives a fraction of a
//! millimetre, which is why screening and the states-at-`t` query may read between
//! output times without integrating again.

use super::OrbitState;

/// The state at `t` on the cubic Hermite interpolant of `s0` and `s1` (`s0.t <= t <=
/// s1.t`; outside it the same cubic extrapolates, with no bound on its error). The
/// velocity is the cubic's derivative, so position and velocity agree with each other.
/// At `t = s0.t` and `t = s1.t` it returns those states exactly; when both ends are at
/// one time, `s0`.
pub fn hermite(s0: &OrbitState, s1: &OrbitState, t: f64) -> OrbitState {
    let h = s1.t - s0.t;
    if h == 0.0 || t == s0.t {
        return OrbitState { t, ..*s0 };
    }
    if t == s1.t {
        return *s1;
    }
    let s = (t - s0.t) / h;
    let [p, d] = basis(s);
    let mut r = [0.0; 3];
    let mut v = [0.0; 3];
    for i in 0..3 {
        let (a, b, c, e) = (s0.r[i], h * s0.v[i], s1.r[i], h * s1.v[i]);
        r[i] = p[0] * a + p[1] * b + p[2] * c + p[3] * e;
        v[i] = (d[0] * a + d[1] * b + d[2] * c + d[3] * e) / h;
    }
    OrbitState { t, r, v }
}

/// The Hermite basis at `s` in `[0, 1]` (`h00, h10, h01, h11`) and its derivatives in `s`.
#[inline]
pub(crate) fn basis(s: f64) -> [[f64; 4]; 2] {
    let s2 = s * s;
    let s3 = s2 * s;
    [
        [
            2.0 * s3 - 3.0 * s2 + 1.0,
            s3 - 2.0 * s2 + s,
            -2.0 * s3 + 3.0 * s2,
            s3 - s2,
        ],
        [
            6.0 * s2 - 6.0 * s,
            3.0 * s2 - 4.0 * s + 1.0,
            -6.0 * s2 + 6.0 * s,
            3.0 * s2 - 2.0 * s,
        ],
    ]
}
