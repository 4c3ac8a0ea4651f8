//! Orbits that cross: a circular orbit through a point a few km from `(7000, 0, 0)` at
//! a meeting time, from a direction of its own, so that bodies given other directions
//! come close to it there. Shared by the screening tests here and, included by path,
//! by the service's and the page's (`tests/support/crossing.rs`).

use nano_pipeline::orbit::OrbitState;
use nano_pipeline::scenario::EARTH_MU;

/// The state at `meet` of the circular orbit through `(7000, 0, 0) + offset` then, its
/// velocity at `angle` in the plane normal to the position.
pub fn at_meeting(meet: f64, offset: [f64; 3], angle: f64) -> OrbitState {
    let norm = |a: [f64; 3]| (a[0] * a[0] + a[1] * a[1] + a[2] * a[2]).sqrt();
    let r = [7000.0 + offset[0], offset[1], offset[2]];
    let rn = norm(r);
    let u = r.map(|x| x / rn);
    // Two unit vectors normal to u: e1 = u x z (normalised), e2 = u x e1.
    let e1 = {
        let c = [u[1], -u[0], 0.0];
        let n = norm(c);
        c.map(|x| x / n)
    };
    let e2 = [
        u[1] * e1[2] - u[2] * e1[1],
        u[2] * e1[0] - u[0] * e1[2],
        u[0] * e1[1] - u[1] * e1[0],
    ];
    let speed = (EARTH_MU / rn).sqrt();
    let v: [f64; 3] = std::array::from_fn(|i| speed * (angle.cos() * e1[i] + angle.sin() * e2[i]));
    OrbitState { t: meet, r, v }
}
