//! The screening as a differential-dataflow computation over a grid of cells.
//!
//! # Why no pair is lost
//!
//! A segment is a body's two consecutive samples, `k` and `k + 1`; its *home* is the
//! cell of its position `p` at `t_k`, and its *reach* `R` bounds how far it strays from
//! `p` before `t_{k+1}` ([`reach`]). If two segments of one interval come within `D`
//! of each other, `|p_a - p_b| <= R_a + R_b + D`. So with every reach at most
//! `max_reach`, `a`'s home lies in the box of half-width `R_b + D + max_reach` around
//! `p_b`, and `b` *visits* every cell that box touches: `a` and `b` meet in `a`'s home
//! even when the closest approach straddles cells. The cell is `2 (2 max_reach + D)`
//! wide, twice that half-width, so a box touches at most two cells per axis: a
//! segment visits at most 8 of its home's 27-cell neighbourhood, never 27.
//!
//! Each pair meets once: it is refined only where the home's body index is the lower
//! (`a < b`), and `b` visits each cell at most once.

use differential_dataflow::lattice::Lattice;
use differential_dataflow::VecCollection;
use timely::progress::Timestamp;

use crate::orbit::OrbitState;

use super::approach::closest_approaches;
use super::{reach, Conjunction, Sample};

/// A body's samples at outputs `k` and `k + 1`.
pub type Segment = (Sample, Sample);

/// The screening distance and the cell size that follows from the segments' reach.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Grid {
    /// `D` (km).
    pub distance_km: f64,
    /// The largest reach any segment may have (km); [`super::screener`] refuses
    /// samples that exceed it.
    pub max_reach_km: f64,
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
        2.0 * (2.0 * self.max_reach_km + self.distance_km)
    }

    fn cell(&self, x: f64) -> i64 {
        (x / self.cell_km()).floor() as i64
    }

    /// The segment's interval and home cell.
    pub fn home(&self, (s0, _): &Segment) -> (u32, [i64; 3]) {
        let r = s0.state().r;
        (s0.k, r.map(|x| self.cell(x)))
    }

    /// The interval and every cell the segment visits (its home among them).
    pub fn visits(&self, (s0, s1): &Segment) -> impl Iterator<Item = (u32, [i64; 3])> {
        let (a, b) = (s0.state(), s1.state());
        let w = reach(&a, &b) + self.distance_km + self.max_reach_km;
        let lo = a.r.map(|x| self.cell(x - w));
        let hi = a.r.map(|x| self.cell(x + w));
        let k = s0.k;
        (lo[0]..=hi[0]).flat_map(move |i| {
            (lo[1]..=hi[1]).flat_map(move |j| (lo[2]..=hi[2]).map(move |l| (k, [i, j, l])))
        })
    }
}

/// The conjunctions below `grid.distance_km` of the bodies whose samples are
/// `samples`, kept current by differential as samples come and go.
pub fn conjunctions<'scope, T>(
    samples: VecCollection<'scope, T, Sample>,
    grid: Grid,
) -> VecCollection<'scope, T, Conjunction>
where
    T: Timestamp + Lattice + Ord,
{
    let starts = samples
        .clone()
        .flat_map(|s| s.k.checked_add(1).map(|next| ((s.body, next), s)));
    let ends = samples.map(|s| ((s.body, s.k), s));
    let segments = starts.join_map(ends, |_, s0, s1| (*s0, *s1));
    let homes = segments.clone().map(move |seg| (grid.home(&seg), seg));
    let visitors = segments
        .flat_map(move |seg| grid.visits(&seg).map(move |cell| (cell, seg)))
        .arrange_by_key();
    homes.join_core(visitors, move |_cell, a: &Segment, b: &Segment| {
        let (a0, a1, b0, b1) = (a.0.state(), a.1.state(), b.0.state(), b.1.state());
        let lower = a.0.body < b.0.body;
        lower
            .then(|| {
                closest_approaches(a.0.body, (&a0, &a1), b.0.body, (&b0, &b1), grid.distance_km)
            })
            .into_iter()
            .flatten()
    })
}
