//! The exact closest approaches of two bodies between two consecutive output times:
//! the local minima of the distance between their Hermite interpolants.
//!
//! # How the minimum is found
//!
//! Over one interval both positions are cubics in `s = (t - t0) / h`, so their
//! difference `d(s)` is a cubic and `g(s) = d . d'` (half the derivative of the squared
//! distance) a polynomial of degree at most 5. A minimum is a root of `g` where it
//! turns from negative to non-negative. The roots are isolated without a guess: the
//! roots of `g'` (found the same way, down to degree 1) cut `[0, 1]` into pieces on
//! which `g` is monotonic, so each piece holds at most one root, found by bisection to
//! the last bit. Nothing is sampled, so no close approach shorter than a sampling step
//! can be missed, and the answer does not depend on a starting point.
//!
//! # Which interval owns a minimum
//!
//! The interval `(t0, t1]`: whether the pair is still closing at `t1` is read from the
//! samples themselves (`dr . dv` of the two states at `t1`), the same numbers the next
//! interval starts from. A minimum exactly at `t1` (the distance falling
//! before it and not after) belongs to the interval ending at `t1`; the next interval
//! starts at a non-negative `g` and does not report it again. A pair still closing at
//! the run's last output time, or already opening at its first, has no minimum there.

use crate::orbit::{hermite, OrbitState};

use super::Conjunction;

/// At most this many minima fit in one interval (`g` has degree 5: at most 5 roots, at
/// most 3 of them minima).
pub const MAX_MINIMA: usize = 3;

/// The minima of one pair over one interval, in time order.
#[derive(Debug, Clone, Copy, Default)]
pub struct Minima {
    found: [Option<Conjunction>; MAX_MINIMA],
}

impl IntoIterator for Minima {
    type Item = Conjunction;
    type IntoIter = std::iter::Flatten<std::array::IntoIter<Option<Conjunction>, MAX_MINIMA>>;
    fn into_iter(self) -> Self::IntoIter {
        self.found.into_iter().flatten()
    }
}

/// The cubic's coefficients (in `s`) of a body's position over `[s0.t, s1.t]`, per axis.
fn cubic(s0: &OrbitState, s1: &OrbitState, h: f64) -> [[f64; 4]; 3] {
    std::array::from_fn(|i| {
        let (r0, r1, m0, m1) = (s0.r[i], s1.r[i], h * s0.v[i], h * s1.v[i]);
        [
            r0,
            m0,
            3.0 * (r1 - r0) - 2.0 * m0 - m1,
            2.0 * (r0 - r1) + m0 + m1,
        ]
    })
}

fn eval(p: &[f64], s: f64) -> f64 {
    p.iter().rev().fold(0.0, |acc, c| acc * s + c)
}

/// The roots of the polynomial `p` (coefficients from the constant term up, degree at
/// most 5) strictly inside `(0, 1)`, ascending, written to `out`; returns their number.
fn roots(p: &[f64], out: &mut [f64; 5]) -> usize {
    let n = p.len() - 1;
    if n == 0 {
        return 0;
    }
    if n == 1 {
        if p[1] == 0.0 {
            return 0;
        }
        let s = -p[0] / p[1];
        if s > 0.0 && s < 1.0 {
            out[0] = s;
            return 1;
        }
        return 0;
    }
    let mut dp = [0.0; 5];
    for (k, c) in p.iter().enumerate().skip(1) {
        dp[k - 1] = k as f64 * c;
    }
    let mut crit = [0.0; 5];
    let m = roots(&dp[..n], &mut crit);
    let mut found = 0;
    let mut lo = 0.0;
    for hi in crit[..m].iter().copied().chain([1.0]) {
        if let Some(s) = bisect(p, lo, hi) {
            if s > 0.0 && s < 1.0 && (found == 0 || out[found - 1] != s) {
                out[found] = s;
                found += 1;
            }
        }
        lo = hi;
    }
    found
}

/// The root of `p` on `[lo, hi]`, where `p` is monotonic, if its ends differ in sign.
fn bisect(p: &[f64], lo: f64, hi: f64) -> Option<f64> {
    let (mut a, mut b) = (lo, hi);
    let (fa, fb) = (eval(p, a), eval(p, b));
    if fa == 0.0 {
        return Some(a);
    }
    if fb == 0.0 {
        return Some(b);
    }
    if (fa < 0.0) == (fb < 0.0) {
        return None;
    }
    let rising = fa < 0.0;
    for _ in 0..200 {
        let mid = 0.5 * (a + b);
        if mid <= a || mid >= b {
            break;
        }
        let fm = eval(p, mid);
        if fm == 0.0 {
            return Some(mid);
        }
        if (fm < 0.0) == rising {
            a = mid;
        } else {
            b = mid;
        }
    }
    Some(0.5 * (a + b))
}

/// The encounter of `a` (the primary) and `b` at their closest approach: the speed of
/// `b` relative to `a` (km/s), and `b`'s position relative to `a` in `a`'s radial,
/// in-track and cross-track directions (km): R along `a`'s position, C along its
/// angular momentum `r x v`, I = C x R (along the velocity for a circular orbit), as
/// SOCRATES and conjunction data messages give the miss.
pub fn encounter(pa: &OrbitState, pb: &OrbitState) -> (f64, [f64; 3]) {
    let dv = sub(pb.v, pa.v);
    let speed = dot(dv, dv).sqrt();
    let unit = |x: [f64; 3]| {
        let n = dot(x, x).sqrt();
        x.map(|c| c / n)
    };
    let radial = unit(pa.r);
    let cross = unit(cross_product(pa.r, pa.v));
    let in_track = cross_product(cross, radial);
    let d = sub(pb.r, pa.r);
    (speed, [dot(d, radial), dot(d, in_track), dot(d, cross)])
}

fn cross_product(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

fn dot(a: [f64; 3], b: [f64; 3]) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

fn sub(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}

/// Every local minimum of the distance between bodies `a` (states `a0`, `a1`) and `b`
/// (`b0`, `b1`) over the interval `(a0.t, a1.t]` that is below `distance_km`, as
/// conjunctions of the pair `(a, b)` (the caller puts the lower index first). Both
/// bodies must have their states at the same two times.
pub fn closest_approaches(
    a: u32,
    (a0, a1): (&OrbitState, &OrbitState),
    b: u32,
    (b0, b1): (&OrbitState, &OrbitState),
    distance_km: f64,
) -> Minima {
    let mut minima = Minima::default();
    let h = a1.t - a0.t;
    if h.is_nan() || h <= 0.0 {
        return minima;
    }
    let (ca, cb) = (cubic(a0, a1, h), cubic(b0, b1, h));
    // g(s) = d(s) . d'(s), d the difference of the two cubics.
    let mut g = [0.0; 6];
    for i in 0..3 {
        let d: [f64; 4] = std::array::from_fn(|k| ca[i][k] - cb[i][k]);
        let dd = [d[1], 2.0 * d[2], 3.0 * d[3]];
        for (j, dj) in d.iter().enumerate() {
            for (k, ddk) in dd.iter().enumerate() {
                g[j + k] += dj * ddk;
            }
        }
    }
    // The signs at the ends from the samples themselves (see the module's docs).
    let mut inner = [0.0; 5];
    let n = roots(&g, &mut inner);
    let mut count = 0;
    let mut record = |s: f64, minima: &mut Minima| {
        let t = if s == 1.0 { a1.t } else { a0.t + s * h };
        let (pa, pb) = (hermite(a0, a1, t), hermite(b0, b1, t));
        let miss = dot(sub(pa.r, pb.r), sub(pa.r, pb.r)).sqrt();
        if miss < distance_km && count < MAX_MINIMA {
            let (rel_speed_kms, ric_km) = encounter(&pa, &pb);
            minima.found[count] = Some(Conjunction {
                a,
                b,
                tca_s: t,
                miss_km: miss,
                rel_speed_kms,
                ric_km,
            });
            count += 1;
        }
    };
    // Pieces between 0, the roots inside, and 1; g's sign on each from its middle.
    let mut x = [0.0; 7];
    x[1..=n].copy_from_slice(&inner[..n]);
    x[n + 1] = 1.0;
    let sign = |j: usize| eval(&g, 0.5 * (x[j] + x[j + 1]));
    let mut previous = sign(0);
    for (j, &root) in inner[..n].iter().enumerate() {
        let next = sign(j + 1);
        if previous < 0.0 && next >= 0.0 {
            record(root, &mut minima);
        }
        previous = next;
    }
    // At the interval's end: closing on the last piece, no longer closing at t1.
    if previous < 0.0 && dot(sub(a1.r, b1.r), sub(a1.v, b1.v)) >= 0.0 {
        record(1.0, &mut minima);
    }
    minima
}
