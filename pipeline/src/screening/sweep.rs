//! One interval screened at once, every body against every other, with no state kept
//! between intervals: the kernel of a screening made once ([`super::windows`]), where
//! nothing is retracted and differential's bookkeeping buys nothing.
//!
//! # How the pairs are found
//!
//! Each body's path over the interval lies in the hull of its Hermite cubic's Bezier
//! points ([`super::bezier`]). The interval is cut into [`PIECES`] pieces of time (the
//! cut of a cubic is the same cubic, its Bezier points found again), so that each
//! piece's boxes are short. Per piece, each body's box of those points is grown by
//! `D / 2` on every side (two boxes that do not overlap then hold no pair within `D`)
//! and listed in every cell of a grid of the piece's own that it touches; the cells are
//! as wide as almost every grown box (`FITTING`), so such a box touches at most two
//! cells an axis; the few wider ones (a body far out or far faster than the rest) are
//! compared with every box instead. The entries are grouped by a hash of their cell (a
//! counting sort) and the boxes sharing a cell compared; a pair whose grown boxes
//! overlap shares the cell of the overlap's lower corner, which lies in both, and is
//! kept there only. The pieces' pairs are deduplicated.
//!
//! Each pair's relative path (the difference of the two Bezier polygons, the Bezier
//! polygon of the difference) is then tested against the box `[-D, D]^3`, split in
//! halves while it spans more than `SETTLED` `D`: a pair whose every part is apart on
//! some axis cannot come within `D`. What is left is refined by
//! [`super::approach::closest_approaches`]. Every step is a filter that keeps every
//! pair that may come within `D`, so the minima are exactly the brute force's
//! ([`super::oracle`]).
//!
//! # What it costs
//!
//! Per piece: a box and up to eight cell entries a body (16 bytes each), one counting
//! sort, the pairs sharing a cell; then a few splits of the pairs' relative paths and
//! `closest_approaches` of the pairs that may meet. On the public catalogue at 60 s:
//! 25,300 bodies, some 77,000 entries and 41,000 comparisons a piece, 17,000 pairs an
//! interval and about 100 refined (BENCHMARKS.md).

use super::approach::closest_approaches;
use super::grid::Segment;
use super::{bezier, Conjunction};

/// Cell coordinates are kept in this many bits an axis (offset to be non-negative);
/// beyond, cells merge at the edges, which meets more pairs, never fewer.
const AXIS_BITS: u32 = 21;
const AXIS_MAX: i64 = (1 << (AXIS_BITS - 1)) - 1;
const AXIS_MIN: i64 = -(1 << (AXIS_BITS - 1));

/// What one interval's screening reuses from the one before (no allocation an
/// interval once warm).
#[derive(Debug, Default)]
pub struct Sweep {
    /// Each segment's Bezier points over the whole interval.
    points: Vec<[[f64; 3]; 4]>,
    /// Each segment's grown box over the piece at hand, lower and upper corners.
    boxes: Vec<([f64; 3], [f64; 3])>,
    /// Each grown box's largest width.
    widths: Vec<f64>,
    /// `(cell, segment)` for every cell a grown box touches, and the same grouped by
    /// the cell's bucket.
    entries: Vec<(u64, u32)>,
    grouped: Vec<(u64, u32)>,
    /// Where each bucket's entries start in `grouped`, and where its next one goes.
    starts: Vec<u32>,
    next: Vec<u32>,
    /// The pairs of segments whose grown boxes met in some piece.
    pairs: Vec<(u32, u32)>,
    /// The boxes too wide for the cells.
    wide: Vec<u32>,
}

/// The interval is cut into this many pieces of time, each screened for pairs on its
/// own grid: a piece's boxes are a quarter as long, its cells some sixty times
/// smaller, and far fewer bodies share one.
pub const PIECES: usize = 4;

/// The share of the boxes no wider than a cell (the rest touch more cells than two an
/// axis): one odd body (an eccentric orbit at perigee, a state far out) does not widen
/// every cell.
const FITTING: f64 = 0.99;

/// A box touching more cells than this on some axis is not listed in the cells: it
/// is compared with every other box instead (a few bodies far out, or moving
/// far faster than the rest).
const MOST_CELLS: i64 = 4;

/// The cells' edge for boxes of `widths` (reordered): the [`FITTING`] quantile.
fn cell_km(widths: &mut [f64]) -> f64 {
    let at = ((widths.len() - 1) as f64 * FITTING) as usize;
    let (_, quantile, _) = widths.select_nth_unstable_by(at, f64::total_cmp);
    quantile.max(f64::MIN_POSITIVE)
}

impl Sweep {
    /// Every conjunction below `distance_km` of the interval whose segments (each
    /// body's, all between the same two output times, one a body) are `segments`,
    /// appended to `out`.
    pub fn interval(&mut self, segments: &[Segment], distance_km: f64, out: &mut Vec<Conjunction>) {
        if segments.len() < 2 {
            return;
        }
        self.points.clear();
        self.points.extend(
            segments
                .iter()
                .map(|(s0, s1)| bezier(&s0.state(), &s1.state())),
        );
        self.pairs.clear();
        for piece in 0..PIECES {
            self.meet(piece, distance_km);
        }
        self.pairs.sort_unstable();
        self.pairs.dedup();
        for &(m, n) in &self.pairs {
            let (a, b) = (&segments[m as usize], &segments[n as usize]);
            let (pa, pb) = (&self.points[m as usize], &self.points[n as usize]);
            let ((a, pa), (b, pb)) = if a.0.body < b.0.body {
                ((a, pa), (b, pb))
            } else {
                ((b, pb), (a, pa))
            };
            let apart: [[f64; 3]; 4] =
                std::array::from_fn(|j| std::array::from_fn(|i| pb[j][i] - pa[j][i]));
            if !may_come_within(&apart, distance_km, SPLITS) {
                continue;
            }
            out.extend(closest_approaches(
                a.0.body,
                (&a.0.state(), &a.1.state()),
                b.0.body,
                (&b.0.state(), &b.1.state()),
                distance_km,
            ));
        }
    }

    /// Adds to `pairs` the segments whose boxes, grown by `distance_km / 2`, overlap
    /// over piece `piece` of the interval.
    fn meet(&mut self, piece: usize, distance_km: f64) {
        let half = distance_km / 2.0;
        let (u0, u1) = (
            piece as f64 / PIECES as f64,
            (piece + 1) as f64 / PIECES as f64,
        );
        self.boxes.clear();
        self.widths.clear();
        for p in &self.points {
            let q = cut(p, u0, u1);
            let lo: [f64; 3] = std::array::from_fn(|i| {
                q.iter().map(|x| x[i]).fold(f64::INFINITY, f64::min) - half
            });
            let hi: [f64; 3] = std::array::from_fn(|i| {
                q.iter().map(|x| x[i]).fold(f64::NEG_INFINITY, f64::max) + half
            });
            self.widths
                .push((0..3).map(|i| hi[i] - lo[i]).fold(0.0, f64::max));
            self.boxes.push((lo, hi));
        }
        let cell = cell_km(&mut self.widths);
        let coordinate = |x: f64| ((x / cell).floor() as i64).clamp(AXIS_MIN, AXIS_MAX);
        self.entries.clear();
        self.wide.clear();
        for (n, (lo, hi)) in self.boxes.iter().enumerate() {
            let lo = lo.map(coordinate);
            let hi = hi.map(coordinate);
            if (0..3).any(|i| hi[i] - lo[i] >= MOST_CELLS) {
                self.wide.push(n as u32);
                continue;
            }
            for i in lo[0]..=hi[0] {
                for j in lo[1]..=hi[1] {
                    for l in lo[2]..=hi[2] {
                        self.entries.push((key([i, j, l]), n as u32));
                    }
                }
            }
        }
        // Grouped by bucket (a counting sort): cells sharing a bucket are told apart
        // by their keys below.
        let bits = (self.entries.len().max(2) * 2)
            .next_power_of_two()
            .trailing_zeros();
        let bucket = |k: u64| (k.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - bits)) as usize;
        self.starts.clear();
        self.starts.resize((1 << bits) + 1, 0);
        for &(k, _) in &self.entries {
            self.starts[bucket(k) + 1] += 1;
        }
        for b in 1..self.starts.len() {
            self.starts[b] += self.starts[b - 1];
        }
        self.grouped.clear();
        self.grouped.resize(self.entries.len(), (0, 0));
        self.next.clear();
        self.next.extend_from_slice(&self.starts);
        for &(k, n) in &self.entries {
            let at = &mut self.next[bucket(k)];
            self.grouped[*at as usize] = (k, n);
            *at += 1;
        }
        for b in 0..self.starts.len() - 1 {
            let members = &self.grouped[self.starts[b] as usize..self.starts[b + 1] as usize];
            for (x, &(here, m)) in members.iter().enumerate() {
                let (mlo, mhi) = &self.boxes[m as usize];
                for &(there, n) in &members[x + 1..] {
                    if there != here {
                        continue;
                    }
                    let (nlo, nhi) = &self.boxes[n as usize];
                    let overlap = (0..3).all(|i| mlo[i] <= nhi[i] && nlo[i] <= mhi[i]);
                    // Kept in the cell of the overlap's lower corner only.
                    if overlap
                        && key(std::array::from_fn(|i| coordinate(mlo[i].max(nlo[i])))) == here
                    {
                        self.pairs.push((m.min(n), m.max(n)));
                    }
                }
            }
        }
        // The wide boxes against every box (two wide ones once).
        for (x, &m) in self.wide.iter().enumerate() {
            let (mlo, mhi) = &self.boxes[m as usize];
            for (n, (nlo, nhi)) in self.boxes.iter().enumerate() {
                let n = n as u32;
                // `wide` ascends: a wide box before this one has met it already.
                if n == m || self.wide[..x].binary_search(&n).is_ok() {
                    continue;
                }
                if (0..3).all(|i| mlo[i] <= nhi[i] && nlo[i] <= mhi[i]) {
                    self.pairs.push((m.min(n), m.max(n)));
                }
            }
        }
    }
}

/// The Bezier points of the part of the cubic of Bezier points `p` from `u0` to `u1`
/// (fractions of its interval).
fn cut(p: &[[f64; 3]; 4], u0: f64, u1: f64) -> [[f64; 3]; 4] {
    // Position and derivative (in the interval's fraction) of the cubic at `u`.
    let at = |u: f64| -> ([f64; 3], [f64; 3]) {
        let v = 1.0 - u;
        let r = std::array::from_fn(|i| {
            v * v * v * p[0][i]
                + 3.0 * v * v * u * p[1][i]
                + 3.0 * v * u * u * p[2][i]
                + u * u * u * p[3][i]
        });
        let d = std::array::from_fn(|i| {
            3.0 * (v * v * (p[1][i] - p[0][i])
                + 2.0 * v * u * (p[2][i] - p[1][i])
                + u * u * (p[3][i] - p[2][i]))
        });
        (r, d)
    };
    let ((r0, d0), (r1, d1)) = (at(u0), at(u1));
    let w = (u1 - u0) / 3.0;
    [
        r0,
        std::array::from_fn(|i| r0[i] + w * d0[i]),
        std::array::from_fn(|i| r1[i] - w * d1[i]),
        r1,
    ]
}

/// The cell's coordinates packed in one integer.
fn key(c: [i64; 3]) -> u64 {
    c.iter()
        .fold(0u64, |k, &x| (k << AXIS_BITS) | (x - AXIS_MIN) as u64)
}

/// How many times a pair's relative path is halved, at most, before it is refined:
/// each half's Bezier points bound it more tightly than the whole's; a path whose
/// points span less than [`SETTLED`] distances is not halved further.
const SPLITS: u32 = 24;
const SETTLED: f64 = 4.0;

/// Whether the cubic of Bezier points `p` (one body's path relative to another's) may
/// pass within `d` of the origin: false only when, on some axis, every point of `p`
/// (whose hull holds the cubic) is further than `d` from it, for the whole cubic or
/// for each of its halves, split up to `splits` times (de Casteljau: the halves'
/// points are the same cubic's) while they span more than [`SETTLED`] `d`. A filter
/// only: what passes is refined exactly.
fn may_come_within(p: &[[f64; 3]; 4], d: f64, splits: u32) -> bool {
    let apart = (0..3).any(|i| p.iter().all(|q| q[i] > d) || p.iter().all(|q| q[i] < -d));
    if apart {
        return false;
    }
    let span = (0..3)
        .map(|i| {
            let (lo, hi) = p
                .iter()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), q| {
                    (lo.min(q[i]), hi.max(q[i]))
                });
            hi - lo
        })
        .fold(0.0, f64::max);
    if splits == 0 || span <= SETTLED * d {
        return true;
    }
    let mid =
        |x: [f64; 3], y: [f64; 3]| -> [f64; 3] { std::array::from_fn(|i| 0.5 * (x[i] + y[i])) };
    let (p01, p12, p23) = (mid(p[0], p[1]), mid(p[1], p[2]), mid(p[2], p[3]));
    let (p012, p123) = (mid(p01, p12), mid(p12, p23));
    let m = mid(p012, p123);
    may_come_within(&[p[0], p01, p012, m], d, splits - 1)
        || may_come_within(&[m, p123, p23, p[3]], d, splits - 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::orbit::OrbitState;
    use crate::screening::{oracle, Sample};

    /// A small generator of numbers in `[0, 1)` (a 64-bit LCG's top bits).
    struct Numbers(u64);
    impl Numbers {
        fn next(&mut self) -> f64 {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (self.0 >> 11) as f64 / (1u64 << 53) as f64
        }
        fn vector(&mut self, scale: f64) -> [f64; 3] {
            std::array::from_fn(|_| scale * (2.0 * self.next() - 1.0))
        }
    }

    /// Where the crowd is (km): in low orbit.
    const CENTRE: [f64; 3] = [7000.0, 0.0, 0.0];

    /// A body moving in a straight line through `CENTRE + p` at mid-run (its Hermite
    /// cubics are the line itself), at outputs `0, 10, ... 90` s.
    fn line(p: [f64; 3], v: [f64; 3]) -> Vec<OrbitState> {
        (0..10)
            .map(|k| {
                let t = 10.0 * k as f64 - 45.0;
                OrbitState {
                    t: t + 45.0,
                    r: std::array::from_fn(|i| CENTRE[i] + p[i] + t * v[i]),
                    v,
                }
            })
            .collect()
    }

    /// A crowd of bodies at LEO speeds in a 200 km box, and two at 200 km/s
    /// through it (boxes too wide for the cells, compared with every other and with
    /// each other): the sweep finds exactly the brute force's conjunctions, interval
    /// by interval.
    #[test]
    fn a_crowd_and_bodies_far_faster_than_it_are_screened_as_the_brute_force() {
        const D: f64 = 10.0;
        let mut numbers = Numbers(7);
        for case in 0..20 {
            let mut bodies: Vec<Vec<OrbitState>> = (0..150)
                .map(|_| line(numbers.vector(100.0), numbers.vector(7.5 / 3f64.sqrt())))
                .collect();
            // Through the crowd, and through each other's path at the same time.
            let p = numbers.vector(20.0);
            for _ in 0..2 {
                let v = numbers.vector(1.0);
                let speed = (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt();
                let v = v.map(|x| 200.0 * x / speed);
                bodies.push(line(p.map(|x| x + 3.0 * numbers.next()), v));
            }
            let mut want = oracle::screen(&bodies, D);
            assert!(!want.is_empty(), "case {case}: nothing to find");
            let mut sweep = Sweep::default();
            let mut found = Vec::new();
            let mut wide = 0;
            // Two wide ones meet.
            assert!(want.iter().any(|c| c.a == 150 && c.b == 151), "case {case}");
            for k in 0..9 {
                let segments: Vec<Segment> = bodies
                    .iter()
                    .enumerate()
                    .map(|(b, s)| {
                        (
                            Sample::new(b as u32, k, &s[k as usize]),
                            Sample::new(b as u32, k + 1, &s[k as usize + 1]),
                        )
                    })
                    .collect();
                sweep.interval(&segments, D, &mut found);
                wide = wide.max(sweep.wide.len());
            }
            assert_eq!(
                wide, 2,
                "case {case}: the fast boxes too wide for the cells"
            );
            found.sort();
            want.sort();
            assert_eq!(found, want, "case {case}");
        }
    }
}
