//! The screening as a differential-dataflow computation over a grid of cells.
//!
//! # Why no pair is lost
//!
//! A segment is a body's two consecutive samples, `k` and `k + 1`; its *home* is the
//! cell of its position `p` at `t_k`, and its *reach* `R` bounds how far it strays from
//! `p` before `t_{k+1}` ([`reach`]). Its *envelope* is the box around the convex hull
//! of its Hermite cubic's Bezier points, which holds the whole cubic. If two segments
//! of one interval come within `D` of each other, a point of `b`'s envelope lies
//! within `D` of a point of `a`'s path, which lies within `R_a` of `p_a`: so, with every
//! reach at most `max_reach`, `p_a` lies in `b`'s envelope grown by `D + max_reach` on
//! every side, and `b` *visits* every cell that grown box touches. `a` and `b` meet in
//! `a`'s home even when the closest approach straddles cells, and each pair meets once:
//! it is kept only where the home's body index is the lower (`a < b`), and `b` visits
//! each cell at most once.
//!
//! # What it costs, and the prefilter
//!
//! The cells are [`CELL_FACTOR`] times `2 max_reach + D` wide, so a segment visits
//! about two cells on each axis it moves along and one or two on the others. The
//! homes and the visitors carry only the body and the envelope (rounded outwards to
//! `f32`), each marked whether it is the segment's home; the cells are joined with
//! themselves, and where a home meets a visitor, two envelopes further apart than `D`
//! on some axis cannot hold a conjunction and are dropped before anything else is
//! looked up. Only the pairs left fetch their four samples (`by_id`, the one
//! arrangement of whole states, each state once) and are refined by
//! [`closest_approaches`].

use differential_dataflow::lattice::Lattice;
use differential_dataflow::VecCollection;
use serde::{Deserialize, Serialize};
use timely::progress::Timestamp;

use crate::orbit::OrbitState;

use super::approach::closest_approaches;
use super::{reach, Conjunction, Sample};

/// A body's samples at outputs `k` and `k + 1`.
pub type Segment = (Sample, Sample);

/// The cells' edge in units of `2 max_reach + D`: measured on Starlink shell 1
/// (BENCHMARKS.md), larger cells visit fewer cells and meet more neighbours.
pub const CELL_FACTOR: f64 = 4.0;

/// The screening distance and the cell size that follows from the segments' reach.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Grid {
    /// `D` (km).
    pub distance_km: f64,
    /// The largest reach any segment may have (km); [`super::screener`] refuses
    /// samples that exceed it.
    pub max_reach_km: f64,
}

/// A cell: the interval's index and the cell's coordinates.
pub type Cell = (u32, [i32; 3]);

/// A box holding a segment's whole path, its corners rounded outwards to `f32` (kept
/// as bits, so envelopes compare exactly and can be records).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Envelope {
    lo: [u32; 3],
    hi: [u32; 3],
}

impl Envelope {
    /// The box of the Bezier points of the segment's Hermite cubic.
    pub fn of((s0, s1): &Segment) -> Envelope {
        let (a, b) = (s0.state(), s1.state());
        let h = b.t - a.t;
        let points: [[f64; 3]; 4] = [
            a.r,
            std::array::from_fn(|i| a.r[i] + h * a.v[i] / 3.0),
            std::array::from_fn(|i| b.r[i] - h * b.v[i] / 3.0),
            b.r,
        ];
        let lo = std::array::from_fn(|i| points.iter().map(|p| p[i]).fold(f64::INFINITY, f64::min));
        let hi = std::array::from_fn(|i| {
            points
                .iter()
                .map(|p| p[i])
                .fold(f64::NEG_INFINITY, f64::max)
        });
        Envelope {
            lo: lo.map(|x| down(x).to_bits()),
            hi: hi.map(|x| up(x).to_bits()),
        }
    }

    /// Whether two paths in these boxes may come within `d` of each other (false
    /// only when some axis keeps them further apart).
    pub fn near(&self, other: &Envelope, d: f64) -> bool {
        let (lo, hi, other_lo, other_hi) = (self.lo(), self.hi(), other.lo(), other.hi());
        (0..3).all(|i| lo[i] - d <= other_hi[i] && other_lo[i] - d <= hi[i])
    }

    /// The lower corner (km).
    pub fn lo(&self) -> [f64; 3] {
        self.lo.map(|b| f64::from(f32::from_bits(b)))
    }

    /// The upper corner (km).
    pub fn hi(&self) -> [f64; 3] {
        self.hi.map(|b| f64::from(f32::from_bits(b)))
    }
}

/// The largest `f32` at most `x`.
fn down(x: f64) -> f32 {
    let f = x as f32;
    if f64::from(f) > x {
        f.next_down()
    } else {
        f
    }
}

/// The smallest `f32` at least `x`.
fn up(x: f64) -> f32 {
    let f = x as f32;
    if f64::from(f) < x {
        f.next_up()
    } else {
        f
    }
}

impl Grid {
    /// The grid for screening `bodies` (each body's states at the shared output
    /// times) at `distance_km`: its reach the largest any of their segments has, so
    /// that none is refused and the cells are no larger than the motion needs.
    pub fn for_states(bodies: &[Vec<OrbitState>], distance_km: f64) -> Grid {
        let max_reach_km = bodies
            .iter()
            .flat_map(|b| b.windows(2).map(|w| reach(&w[0], &w[1])))
            .fold(0.0, f64::max);
        Grid {
            distance_km,
            max_reach_km,
        }
    }

    /// The cells' edge (km).
    pub fn cell_km(&self) -> f64 {
        CELL_FACTOR * (2.0 * self.max_reach_km + self.distance_km)
    }

    /// The cell coordinate of `x`; far outside any orbit, the last cell (which
    /// merges cells, so meets more pairs, never fewer).
    fn cell(&self, x: f64) -> i32 {
        let c = (x / self.cell_km()).floor();
        c.clamp(f64::from(i32::MIN), f64::from(i32::MAX)) as i32
    }

    /// The segment's interval and home cell.
    pub fn home(&self, (s0, _): &Segment) -> Cell {
        let r = s0.state().r;
        (s0.k, r.map(|x| self.cell(x)))
    }

    /// The interval and every cell the segment visits (its home among them), given
    /// its envelope.
    pub fn visits(&self, (s0, _): &Segment, envelope: &Envelope) -> impl Iterator<Item = Cell> {
        let w = self.distance_km + self.max_reach_km;
        let (elo, ehi) = (envelope.lo(), envelope.hi());
        let lo: [i32; 3] = std::array::from_fn(|i| self.cell(elo[i] - w));
        let hi: [i32; 3] = std::array::from_fn(|i| self.cell(ehi[i] + w));
        let k = s0.k;
        (lo[0]..=hi[0]).flat_map(move |i| {
            (lo[1]..=hi[1]).flat_map(move |j| (lo[2]..=hi[2]).map(move |l| (k, [i, j, l])))
        })
    }
}

/// The conjunctions below `grid.distance_km` of the bodies whose samples are
/// `samples` and whose segments (consecutive samples) are `segments`, kept current by
/// differential as both come and go.
///
/// Only the samples are kept whole (one arrangement by body and output); the
/// segments flow through to the cells, which keep each visit as a body and an
/// envelope. The cells are joined with themselves: a record marked as its segment's
/// home meets the other visitors of its cell.
pub fn conjunctions<'scope, T>(
    samples: VecCollection<'scope, T, Sample>,
    segments: VecCollection<'scope, T, Segment>,
    grid: Grid,
) -> VecCollection<'scope, T, Conjunction>
where
    T: Timestamp + Lattice + Ord,
{
    let d = grid.distance_km;
    let by_id = samples.map(|s| ((s.body, s.k), s)).arrange_by_key();
    let visitors = segments
        .flat_map(move |seg| {
            let envelope = Envelope::of(&seg);
            let (body, home) = (seg.0.body, grid.home(&seg));
            grid.visits(&seg, &envelope)
                .map(move |cell| (cell, (body, envelope, cell == home)))
        })
        .arrange_by_key();
    type Visit = (u32, Envelope, bool);
    let pairs = visitors.clone().join_core(
        visitors,
        move |&(k, _): &Cell, &(a, ea, home): &Visit, &(b, eb, _): &Visit| {
            (home && a < b && ea.near(&eb, d)).then_some(((a, k), b))
        },
    );
    // The four samples of the pair's two segments, one lookup each.
    let a0 = pairs.join_core(by_id.clone(), |&(a, k), &b: &u32, s: &Sample| {
        Some(((a, k + 1), (b, *s)))
    });
    let a1 = a0.join_core(
        by_id.clone(),
        |&(_, k1), &(b, a0): &(u32, Sample), s: &Sample| Some(((b, k1 - 1), (a0, *s))),
    );
    let b0 = a1.join_core(
        by_id.clone(),
        |&(b, k), a: &(Sample, Sample), s: &Sample| Some(((b, k + 1), (a.0, a.1, *s))),
    );
    b0.join_core(
        by_id,
        move |_, a: &(Sample, Sample, Sample), b1: &Sample| {
            let (a0, a1, b0) = *a;
            closest_approaches(
                a0.body,
                (&a0.state(), &a1.state()),
                b0.body,
                (&b0.state(), &b1.state()),
                d,
            )
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::orbit::hermite;

    #[test]
    fn the_envelope_holds_the_whole_path_and_near_is_conservative() {
        // The path bulges out in x and z: beyond the box of its two ends.
        let s0 = OrbitState {
            t: 10.0,
            r: [7000.123456789, -20.5, 3.25],
            v: [1.0, 7.4, -0.8],
        };
        let s1 = OrbitState {
            t: 20.0,
            r: [7000.123456789, 53.7, 3.25],
            v: [-1.0, 7.3, 0.9],
        };
        let seg = (Sample::new(0, 1, &s0), Sample::new(0, 2, &s1));
        let e = Envelope::of(&seg);
        let (lo, hi) = (e.lo(), e.hi());
        for j in 0..=1000 {
            let p = hermite(&s0, &s1, 10.0 + j as f64 / 100.0).r;
            assert!(
                (0..3).all(|i| lo[i] <= p[i] && p[i] <= hi[i]),
                "{p:?} outside {e:?}"
            );
        }
        // A box just over D away on x is not near; just under D it is.
        let shifted = |dx: f64| {
            let mut a = s0;
            let mut b = s1;
            a.r[0] += dx;
            b.r[0] += dx;
            Envelope::of(&(Sample::new(1, 1, &a), Sample::new(1, 2, &b)))
        };
        let width = hi[0] - lo[0];
        assert!(!e.near(&shifted(width + 5.01), 5.0));
        assert!(e.near(&shifted(width + 4.99), 5.0));
    }
}
