//! The brute force: every pair, every interval, no spatial index. Quadratic in the
//! bodies, so a reference for tests and small runs, not a service.

use crate::orbit::OrbitState;

use super::approach::closest_approaches;
use super::Conjunction;

/// Every conjunction below `distance_km` of the bodies whose states (at the shared
/// output times) are `bodies[i]`, sorted (by pair, then time).
pub fn screen(bodies: &[Vec<OrbitState>], distance_km: f64) -> Vec<Conjunction> {
    let mut found = Vec::new();
    for (a, sa) in bodies.iter().enumerate() {
        for (b, sb) in bodies.iter().enumerate().skip(a + 1) {
            for (wa, wb) in sa.windows(2).zip(sb.windows(2)) {
                found.extend(closest_approaches(
                    a as u32,
                    (&wa[0], &wa[1]),
                    b as u32,
                    (&wb[0], &wb[1]),
                    distance_km,
                ));
            }
        }
    }
    found.sort();
    found
}
