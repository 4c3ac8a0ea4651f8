//! The fixed-step integrators, `rk4` and `yoshida4`, and the grid of times they step
//! on.
//!
//! A fixed-step method steps on `j * step_s`. When an output time `k * output_step_s`
//! falls between two grid points, the step that would cross it is cut short to land on
//! it, and the next step goes on to the grid point: the grid is the union of both, so
//! the output is the integrator's own solution (no interpolation) and every time is
//! computed as a product `j * step_s` or `k * output_step_s`, never accumulated. A grid
//! point within a billionth of a step of an output time is taken to be that output
//! time, so that rounding (`3 * 0.1` against `0.3`) makes no sliver of a step. The
//! grid depends only on the scenario, so it is the same however a run is cut into
//! pieces.

use super::force::ForceModel;

type Y = [f64; 6];

/// Which fixed-step method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Rk4,
    Yoshida4,
}

impl Method {
    /// Force evaluations per step.
    pub const fn evaluations(self) -> u64 {
        match self {
            Method::Rk4 => 4,
            Method::Yoshida4 => 3,
        }
    }

    /// The increment of `y` over a step of `dt` (computed relative to `y`, so that it
    /// keeps its own precision; [`FixedStep`] adds it with compensated summation).
    #[inline]
    pub fn increment(self, force: &ForceModel, y: &Y, dt: f64) -> Y {
        match self {
            Method::Rk4 => rk4(force, y, dt),
            Method::Yoshida4 => yoshida4(force, y, dt),
        }
    }
}

/// The classical fourth-order Runge-Kutta step, as an increment.
fn rk4(force: &ForceModel, y: &Y, dt: f64) -> Y {
    let add = |k: &Y, c: f64| -> Y { std::array::from_fn(|i| y[i] + c * k[i]) };
    let k1 = force.derivative(y);
    let k2 = force.derivative(&add(&k1, dt / 2.0));
    let k3 = force.derivative(&add(&k2, dt / 2.0));
    let k4 = force.derivative(&add(&k3, dt));
    std::array::from_fn(|i| dt / 6.0 * (k1[i] + 2.0 * k2[i] + 2.0 * k3[i] + k4[i]))
}

/// Yoshida's fourth-order composition (1990) of three leapfrog steps of sizes `w1 dt`,
/// `w0 dt`, `w1 dt` with `w1 = 1 / (2 - 2^(1/3))`, `w0 = 1 - 2 w1`, as drift-kick
/// pairs: four drifts, three kicks. Each drift and each kick is a symplectic map
/// (the kick follows a potential's gradient, J2's too), so the step is symplectic, and
/// each keeps `r x v` for a central force. Returned as an increment.
fn yoshida4(force: &ForceModel, y: &Y, dt: f64) -> Y {
    const CBRT2: f64 = 1.259_921_049_894_873_2;
    const W1: f64 = 1.0 / (2.0 - CBRT2);
    const W0: f64 = -CBRT2 / (2.0 - CBRT2);
    const C: [f64; 4] = [W1 / 2.0, (W0 + W1) / 2.0, (W0 + W1) / 2.0, W1 / 2.0];
    const D: [f64; 3] = [W1, W0, W1];
    let (mut dr, mut dv) = ([0.0; 3], [0.0; 3]);
    for s in 0..4 {
        let c = C[s] * dt;
        for i in 0..3 {
            dr[i] += c * (y[3 + i] + dv[i]);
        }
        if s < 3 {
            let a = force.acceleration(&[y[0] + dr[0], y[1] + dr[1], y[2] + dr[2]]);
            let d = D[s] * dt;
            for i in 0..3 {
                dv[i] += d * a[i];
            }
        }
    }
    [dr[0], dr[1], dr[2], dv[0], dv[1], dv[2]]
}

/// A fixed-step integrator between steps: at `t`, which is grid point `j` when
/// `on_grid`, else an output time between grid points `j` and `j + 1`.
#[derive(Debug, Clone, PartialEq)]
pub struct FixedStep {
    method: Method,
    step_s: f64,
    t: f64,
    /// The last grid point `j * step_s` reached or passed.
    j: u64,
    y: Y,
    /// What rounding took from `y` when the last increment was added (Kahan's
    /// compensated summation): without it the rounding of a million additions walks
    /// the energy away by about 1e-13 over a thousand orbits, which for `yoshida4`
    /// (whose own error stays near 1e-13 on a circle) would be the larger error, and
    /// growing. See Hairer, Lubich and Wanner, *Geometric Numerical Integration*,
    /// VIII.5.
    carry: Y,
    pub(super) steps: u64,
}

impl FixedStep {
    pub fn new(method: Method, step_s: f64, y0: Y) -> Self {
        FixedStep {
            method,
            step_s,
            t: 0.0,
            j: 0,
            y: y0,
            carry: [0.0; 6],
            steps: 0,
        }
    }

    pub fn method(&self) -> Method {
        self.method
    }

    pub fn step_s(&self) -> f64 {
        self.step_s
    }

    /// Integrates to `target` (after the current time) on the grid, and returns the
    /// state there.
    pub fn advance_to(&mut self, force: &ForceModel, target: f64) -> Y {
        let h = self.step_s;
        loop {
            let next = (self.j + 1) as f64 * h;
            if next < target - 1e-9 * h {
                self.step(force, next - self.t);
                self.t = next;
                self.j += 1;
                continue;
            }
            if next <= target + 1e-9 * h {
                // The grid point is the output time, up to rounding.
                self.j += 1;
            }
            self.step(force, target - self.t);
            self.t = target;
            return self.y;
        }
    }

    fn step(&mut self, force: &ForceModel, dt: f64) {
        let delta = self.method.increment(force, &self.y, dt);
        for ((y, carry), d) in self.y.iter_mut().zip(&mut self.carry).zip(delta) {
            let add = d + *carry;
            let sum = *y + add;
            *carry = (*y - sum) + add;
            *y = sum;
        }
        self.steps += 1;
    }

    /// The number of bytes [`FixedStep::write`] appends.
    pub const BYTES: usize = 8 * 16;

    /// Appends the whole state, fixed width, little-endian (the method and step are
    /// the scenario's and are not repeated).
    pub fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.t.to_le_bytes());
        out.extend_from_slice(&self.j.to_le_bytes());
        self.y
            .iter()
            .for_each(|x| out.extend_from_slice(&x.to_le_bytes()));
        out.extend_from_slice(&self.steps.to_le_bytes());
        out.extend_from_slice(&self.step_s.to_le_bytes());
        self.carry
            .iter()
            .for_each(|x| out.extend_from_slice(&x.to_le_bytes()));
    }

    /// Reads what [`FixedStep::write`] wrote for a run of `method`.
    pub fn read(method: Method, bytes: &[u8]) -> Option<Self> {
        if bytes.len() != Self::BYTES {
            return None;
        }
        let words: Vec<u64> = bytes
            .chunks_exact(8)
            .map(|w| u64::from_le_bytes(w.try_into().expect("chunks of 8")))
            .collect();
        let f = |i: usize| f64::from_bits(words[i]);
        let me = FixedStep {
            method,
            step_s: f(9),
            t: f(0),
            j: words[1],
            y: std::array::from_fn(|i| f(2 + i)),
            carry: std::array::from_fn(|i| f(10 + i)),
            steps: words[8],
        };
        let finite = me.y.iter().chain(&me.carry).all(|x| x.is_finite());
        (me.t.is_finite() && finite && me.step_s > 0.0).then_some(me)
    }
}
