//! The force model: the central body's point mass, and optionally its J2.

use super::elements::CentralBody;

/// The force model: the central body's point mass, and its J2 if `j2`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Forces {
    pub j2: bool,
}

/// The acceleration field of a scenario, as the integrators call it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ForceModel {
    mu: f64,
    /// The central body's radius (km): a body below it has struck it.
    radius_km: f64,
    /// `(3/2) J2 mu R^2`, or `None` without J2: the constant factor of the J2 term
    /// (`docs/orbits.md`, "What the physics must show"), computed once rather than per
    /// evaluation.
    j2_factor: Option<f64>,
}

impl ForceModel {
    pub fn new(central: &CentralBody, forces: Forces) -> Self {
        ForceModel {
            mu: central.mu,
            radius_km: central.radius_km,
            j2_factor: forces
                .j2
                .then_some(1.5 * central.j2 * central.mu * central.radius_km * central.radius_km),
        }
    }

    /// The central body's gravitational parameter.
    pub fn mu(&self) -> f64 {
        self.mu
    }

    /// The central body's radius (km).
    pub fn radius_km(&self) -> f64 {
        self.radius_km
    }

    /// The specific energy (km^2/s^2) of the state `y = (r, v)` in the whole field:
    /// `v^2/2 - mu/r`, plus J2's potential `mu J2 R^2 / (2 r^3) (3 z^2/r^2 - 1)` when
    /// it is on. Conserved along an orbit; at or above 0 the body is unbound.
    pub fn energy(&self, y: &[f64; 6]) -> f64 {
        let r2 = y[0] * y[0] + y[1] * y[1] + y[2] * y[2];
        let rn = r2.sqrt();
        let v2 = y[3] * y[3] + y[4] * y[4] + y[5] * y[5];
        let j2 = self.j2_factor.map_or(0.0, |c| {
            // (3/2) J2 mu R^2 / (3 r^3) (3 z²/r² - 1), as in the acceleration's factor.
            c / (3.0 * r2 * rn) * (3.0 * y[2] * y[2] / r2 - 1.0)
        });
        v2 / 2.0 - self.mu / rn + j2
    }

    /// Acceleration (km/s^2) at position `r` (km).
    #[inline]
    pub fn acceleration(&self, r: &[f64; 3]) -> [f64; 3] {
        let [x, y, z] = *r;
        let r2 = x * x + y * y + z * z;
        let rn = r2.sqrt();
        let k = -self.mu / (r2 * rn);
        let mut a = [k * x, k * y, k * z];
        if let Some(c) = self.j2_factor {
            // docs/orbits.md: -(3/2) J2 mu R^2 / r^5 * (x (1 - 5z²/r²), y (1 - 5z²/r²), z (3 - 5z²/r²)).
            let k2 = -c / (r2 * r2 * rn);
            let s = 5.0 * z * z / r2;
            a[0] += k2 * x * (1.0 - s);
            a[1] += k2 * y * (1.0 - s);
            a[2] += k2 * z * (3.0 - s);
        }
        a
    }

    /// The time derivative of the state `y = (r, v)`: `(v, a(r))`.
    #[inline]
    pub fn derivative(&self, y: &[f64; 6]) -> [f64; 6] {
        let a = self.acceleration(&[y[0], y[1], y[2]]);
        [y[3], y[4], y[5], a[0], a[1], a[2]]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each acceleration is minus the gradient of its potential, `-mu/r` and
    /// `mu J2 R^2 / (2 r^3) (3 z²/r² - 1)`, differentiated numerically here (J2's part
    /// apart, so that its smallness does not hide under the point mass's rounding).
    #[test]
    fn accelerations_are_gradients_of_the_potential() {
        let c = CentralBody::EARTH;
        let point = |r: [f64; 3]| -c.mu / (r[0] * r[0] + r[1] * r[1] + r[2] * r[2]).sqrt();
        let j2 = |r: [f64; 3]| {
            let rn = (r[0] * r[0] + r[1] * r[1] + r[2] * r[2]).sqrt();
            let s = r[2] * r[2] / (rn * rn);
            c.mu * c.j2 * c.radius_km.powi(2) / (2.0 * rn.powi(3)) * (3.0 * s - 1.0)
        };
        let gradient = |u: &dyn Fn([f64; 3]) -> f64, r: [f64; 3]| -> [f64; 3] {
            std::array::from_fn(|k| {
                let (mut up, mut down) = (r, r);
                up[k] += 1e-3;
                down[k] -= 1e-3;
                (u(up) - u(down)) / 2e-3
            })
        };
        let without = ForceModel::new(&c, Forces { j2: false });
        let with = ForceModel::new(&c, Forces { j2: true });
        for r in [
            [7000.0, 0.0, 0.0],
            [3000.0, -4000.0, 5000.0],
            [100.0, 200.0, -6900.0],
        ] {
            let (a0, a1) = (without.acceleration(&r), with.acceleration(&r));
            let (g0, g2) = (gradient(&point, r), gradient(&j2, r));
            let size0 = a0.iter().map(|x| x.abs()).fold(0.0, f64::max);
            let size2 = g2.iter().map(|x| x.abs()).fold(0.0, f64::max);
            assert!(
                size2 > 1e-3 * size0 * 0.1,
                "J2 is about 1e-3 of the point mass: {g2:?}"
            );
            for k in 0..3 {
                assert!(
                    (a0[k] + g0[k]).abs() < 1e-8 * size0,
                    "point mass r={r:?} k={k}: {a0:?} vs {g0:?}"
                );
                let a2 = a1[k] - a0[k];
                assert!(
                    (a2 + g2[k]).abs() < 1e-6 * size2,
                    "J2 r={r:?} k={k}: {a2} vs {}",
                    -g2[k]
                );
            }
        }
    }
}
