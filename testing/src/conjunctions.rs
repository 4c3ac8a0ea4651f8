//! The screening tests' own answer to the definition of a conjunction in
//! `docs/orbits.md` ("Conjunctions"), sharing no code with the screening it checks: the
//! cubic Hermite interpolant written here (in its Bézier form, evaluated by de
//! Casteljau), the brute force over every pair and interval by dense sampling of the
//! rate of approach refined by bisection, with the encounter at each minimum (the
//! relative speed, and the miss in the primary's radial, in-track and cross-track
//! frame, built here by Gram-Schmidt); and the comparison of two conjunction sets
//! under the accuracy the definition allows two implementations (pairs equal, in the
//! same order; TCA within 1 ms; miss and its components within 1 m; relative speed
//! within 1 mm/s).

use nano_pipeline::orbit::OrbitState;
use nano_pipeline::screening::Conjunction;

/// Pairs equal (in the same order), TCA within 1 ms, miss and its radial, in-track
/// and cross-track components within 1 m, relative speed within 1 mm/s (where both
/// have them: a conjunction read back from JSON may not).
pub fn assert_same(got: &[Conjunction], want: &[Conjunction], what: &str) {
    let pairs = |c: &[Conjunction]| c.iter().map(|c| (c.a, c.b)).collect::<Vec<_>>();
    assert_eq!(pairs(got), pairs(want), "{what}: the pairs differ");
    for (g, w) in got.iter().zip(want) {
        assert!(
            (g.tca_s - w.tca_s).abs() < 1e-3,
            "{what}: TCA {g:?} against {w:?}"
        );
        assert!(
            (g.miss_km - w.miss_km).abs() < 1e-3,
            "{what}: miss {g:?} against {w:?}"
        );
        if !g.rel_speed_kms.is_nan() {
            assert!(
                (g.rel_speed_kms - w.rel_speed_kms).abs() < 1e-6,
                "{what}: relative speed {g:?} against {w:?}"
            );
            for i in 0..3 {
                assert!(
                    (g.ric_km[i] - w.ric_km[i]).abs() < 1e-3,
                    "{what}: RIC {g:?} against {w:?}"
                );
            }
        }
    }
}

/// The encounter of `p` (the primary) and `q` at the same time: `q`'s speed relative
/// to `p`, and `q - p` in `p`'s radial, in-track and cross-track directions, the
/// frame made by Gram-Schmidt from `p`'s position and velocity (radial along `r`,
/// in-track along the part of `v` normal to it, cross-track completing a right-handed
/// frame), which is the frame `R, C = r x v, I = C x R`.
pub fn encounter(p: &OrbitState, q: &OrbitState) -> (f64, [f64; 3]) {
    let norm = |x: [f64; 3]| dot(x, x).sqrt();
    let radial = p.r.map(|x| x / norm(p.r));
    let along: [f64; 3] = std::array::from_fn(|i| p.v[i] - dot(p.v, radial) * radial[i]);
    let in_track = along.map(|x| x / norm(along));
    let cross = [
        radial[1] * in_track[2] - radial[2] * in_track[1],
        radial[2] * in_track[0] - radial[0] * in_track[2],
        radial[0] * in_track[1] - radial[1] * in_track[0],
    ];
    let d: [f64; 3] = std::array::from_fn(|i| q.r[i] - p.r[i]);
    let dv: [f64; 3] = std::array::from_fn(|i| q.v[i] - p.v[i]);
    (norm(dv), [dot(d, radial), dot(d, in_track), dot(d, cross)])
}

/// Exactly the pairs of `want` (`(a, b, miss_km)`, in order), each within a centimetre
/// of its miss (a closed form's, which the cubics meet far closer) and a millisecond of
/// `tca_s`.
pub fn assert_misses(got: &[Conjunction], want: &[(u32, u32, f64)], tca_s: f64, what: &str) {
    let pairs: Vec<(u32, u32)> = got.iter().map(|c| (c.a, c.b)).collect();
    let wanted: Vec<(u32, u32)> = want.iter().map(|w| (w.0, w.1)).collect();
    assert_eq!(pairs, wanted, "{what}: {got:?}");
    for (c, w) in got.iter().zip(want) {
        assert!((c.miss_km - w.2).abs() < 1e-5, "{what}: {c:?}");
        assert!((c.tca_s - tca_s).abs() < 1e-3, "{what}: {c:?}");
    }
}

fn lerp(a: [f64; 3], b: [f64; 3], s: f64) -> [f64; 3] {
    std::array::from_fn(|i| a[i] + s * (b[i] - a[i]))
}

fn distance(a: [f64; 3], b: [f64; 3]) -> f64 {
    (0..3).map(|i| (a[i] - b[i]).powi(2)).sum::<f64>().sqrt()
}

/// The Bézier control points of the cubic through `s0` and `s1` whose derivatives at
/// the ends are their velocities: the Hermite cubic, `h = s1.t - s0.t`.
fn controls(s0: &OrbitState, s1: &OrbitState) -> [[f64; 3]; 4] {
    let h = s1.t - s0.t;
    [
        s0.r,
        std::array::from_fn(|i| s0.r[i] + h * s0.v[i] / 3.0),
        std::array::from_fn(|i| s1.r[i] - h * s1.v[i] / 3.0),
        s1.r,
    ]
}

/// The cubic Hermite interpolant of `s0` and `s1` (positions and velocities at both
/// ends) at `t`: its position and velocity.
pub fn cubic(s0: &OrbitState, s1: &OrbitState, t: f64) -> OrbitState {
    let h = s1.t - s0.t;
    let s = (t - s0.t) / h;
    let p = controls(s0, s1);
    // de Casteljau: the last level's two points give the position and the tangent.
    let q = [
        lerp(p[0], p[1], s),
        lerp(p[1], p[2], s),
        lerp(p[2], p[3], s),
    ];
    let (a, b) = (lerp(q[0], q[1], s), lerp(q[1], q[2], s));
    OrbitState {
        t,
        r: lerp(a, b, s),
        v: std::array::from_fn(|i| 3.0 * (b[i] - a[i]) / h),
    }
}

/// Samples per interval between output times.
const SAMPLES: usize = 200;

fn dot(a: [f64; 3], b: [f64; 3]) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

/// Whether the pair cannot come within `d` over interval `k`: a Bézier curve stays in
/// its control points' hull, so the difference of the two cubics stays within the
/// largest distance of its control points from its first.
fn apart(a: &[OrbitState], b: &[OrbitState], k: usize, d: f64) -> bool {
    let (pa, pb) = (controls(&a[k], &a[k + 1]), controls(&b[k], &b[k + 1]));
    let q: [[f64; 3]; 4] = std::array::from_fn(|j| std::array::from_fn(|i| pa[j][i] - pb[j][i]));
    let spread = (1..4).map(|j| distance(q[j], q[0])).fold(0.0, f64::max);
    distance(q[0], [0.0; 3]) - spread >= d
}

/// Every conjunction below `distance_km` of the bodies whose states at the shared
/// output times are `bodies[i]`, sorted by pair then time. Each pair's relative
/// position `d` and velocity `d'` on the cubics are sampled `SAMPLES` times an interval
/// (at an output time, the states themselves; intervals where the pair cannot come
/// that close skipped); a minimum of the distance lies where `d . d'` turns from
/// negative to non-negative between two samples, and is found there by bisection. So a
/// pair opening at the run's first output, or still closing at its last, has no
/// minimum there, and a minimum exactly at an output time is the interval's ending
/// there.
pub fn screen_by_sampling(bodies: &[Vec<OrbitState>], distance_km: f64) -> Vec<Conjunction> {
    let mut found = Vec::new();
    for (a, ta) in bodies.iter().enumerate() {
        for (b, tb) in bodies.iter().enumerate().skip(a + 1) {
            let outputs = ta.len().min(tb.len());
            for k in (0..outputs - 1).filter(|&k| !apart(ta, tb, k, distance_km)) {
                let (a0, a1, b0, b1) = (&ta[k], &ta[k + 1], &tb[k], &tb[k + 1]);
                let at = |s: f64| a0.t + s * (a1.t - a0.t);
                // (d . d', |d|) at `s` in the interval.
                let sample = |s: f64| {
                    let (p, q) = if s == 0.0 {
                        (*a0, *b0)
                    } else if s == 1.0 {
                        (*a1, *b1)
                    } else {
                        (cubic(a0, a1, at(s)), cubic(b0, b1, at(s)))
                    };
                    let d: [f64; 3] = std::array::from_fn(|i| p.r[i] - q.r[i]);
                    let dv: [f64; 3] = std::array::from_fn(|i| p.v[i] - q.v[i]);
                    (dot(d, dv), distance(p.r, q.r))
                };
                let mut before = sample(0.0).0;
                for j in 1..=SAMPLES {
                    let (lo, hi) = ((j - 1) as f64 / SAMPLES as f64, j as f64 / SAMPLES as f64);
                    let after = sample(hi).0;
                    if before < 0.0 && after >= 0.0 {
                        // The first point where the pair stops closing.
                        let (mut l, mut r) = (lo, hi);
                        while 0.5 * (l + r) > l && 0.5 * (l + r) < r {
                            let m = 0.5 * (l + r);
                            if sample(m).0 < 0.0 {
                                l = m;
                            } else {
                                r = m;
                            }
                        }
                        let miss = sample(r).1;
                        if miss < distance_km {
                            let tca_s = if r == 1.0 { a1.t } else { at(r) };
                            let (p, q) = if r == 1.0 {
                                (*a1, *b1)
                            } else {
                                (cubic(a0, a1, tca_s), cubic(b0, b1, tca_s))
                            };
                            let (rel_speed_kms, ric_km) = encounter(&p, &q);
                            found.push(Conjunction {
                                a: a as u32,
                                b: b as u32,
                                tca_s,
                                miss_km: miss,
                                rel_speed_kms,
                                ric_km,
                            });
                        }
                    }
                    before = after;
                }
            }
        }
    }
    found.sort();
    found
}
