//! Orbits: the state of one body around a central body (ORBITS.md's units: km, km/s,
//! seconds since the scenario's epoch).

/// One body's state at time `t`: position `r` (km) and velocity `v` (km/s) in the
/// inertial frame centred on the central body.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OrbitState {
    pub t: f64,
    pub r: [f64; 3],
    pub v: [f64; 3],
}
