//! The terms an orbit is described in: the central body it goes around, its classical
//! elements and the state they give, a body's [`OrbitState`] at a time, and the check
//! that a state is on an orbit the service integrates (`docs/orbits.md`).

/// Earth's gravitational parameter (km^3/s^2), `docs/orbits.md`.
pub const EARTH_MU: f64 = 398_600.441_8;

/// Earth's equatorial radius (km), `docs/orbits.md`.
pub const EARTH_RADIUS_KM: f64 = 6378.137;

/// Earth's J2 (dimensionless), `docs/orbits.md`.
pub const EARTH_J2: f64 = 1.082_626_68e-3;

/// The largest semi-major axis, in radii of the central body: the Moon orbits the
/// Earth at 60 and the Earth's sphere of influence ends near 145, so a thousand
/// leaves every orbit the two-body model describes and keeps positions (at most two
/// thousand radii from the centre) far from overflow.
pub const MAX_SEMI_MAJOR_RADII: f64 = 1000.0;

/// The body everything orbits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CentralBody {
    /// Gravitational parameter, km^3/s^2.
    pub mu: f64,
    /// Equatorial radius, km (J2's reference radius, and the Walker shell's base).
    pub radius_km: f64,
    /// Second zonal harmonic.
    pub j2: f64,
}

impl CentralBody {
    /// The Earth of `docs/orbits.md`.
    pub const EARTH: CentralBody = CentralBody {
        mu: EARTH_MU,
        radius_km: EARTH_RADIUS_KM,
        j2: EARTH_J2,
    };
}

/// Classical orbital elements (`docs/orbits.md`): `a` in km, angles in degrees, `nu`
/// the true anomaly.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Elements {
    pub a_km: f64,
    pub e: f64,
    pub i_deg: f64,
    pub raan_deg: f64,
    pub argp_deg: f64,
    pub nu_deg: f64,
}

impl Elements {
    /// Position (km) and velocity (km/s) in the inertial frame, as `docs/orbits.md`
    /// defines them: the perifocal state rotated by `R3(-raan) R1(-i) R3(-argp)`.
    pub fn to_state(&self, mu: f64) -> ([f64; 3], [f64; 3]) {
        let p = self.a_km * (1.0 - self.e * self.e);
        let (sin_nu, cos_nu) = self.nu_deg.to_radians().sin_cos();
        let r = p / (1.0 + self.e * cos_nu);
        let rp = [r * cos_nu, r * sin_nu];
        let speed = (mu / p).sqrt();
        let vp = [-speed * sin_nu, speed * (self.e + cos_nu)];

        let (so, co) = self.raan_deg.to_radians().sin_cos();
        let (si, ci) = self.i_deg.to_radians().sin_cos();
        let (sw, cw) = self.argp_deg.to_radians().sin_cos();
        // The first two columns of R3(-raan) R1(-i) R3(-argp): the perifocal x and y
        // axes seen from the inertial frame.
        let px = [co * cw - so * sw * ci, so * cw + co * sw * ci, sw * si];
        let qx = [-co * sw - so * cw * ci, -so * sw + co * cw * ci, cw * si];
        let rotate = |u: [f64; 2]| std::array::from_fn(|k| px[k] * u[0] + qx[k] * u[1]);
        (rotate(rp), rotate(vp))
    }
}

/// Whether the state `(r, v)` is on a bound orbit that does not fall into the centre
/// (the rules a listed state always had); else the rule it breaks, with its figures.
/// For finite input every number is finite or an overflow to infinity, which reads as
/// unbound.
pub(crate) fn bound_orbit(r: &[f64; 3], v: &[f64; 3], mu: f64) -> Result<(), String> {
    let rn = (r[0] * r[0] + r[1] * r[1] + r[2] * r[2]).sqrt();
    let v2 = v[0] * v[0] + v[1] * v[1] + v[2] * v[2];
    if rn == 0.0 {
        return Err("the position must not be the central body's centre".into());
    }
    if v2 / 2.0 - mu / rn >= 0.0 {
        return Err(format!(
            "must be a bound (elliptic) orbit: speed {:.6} km/s is at or above the escape speed {:.6} km/s at r = {rn} km",
            v2.sqrt(),
            (2.0 * mu / rn).sqrt()
        ));
    }
    let h = cross(r, v);
    let h_norm = (h[0] * h[0] + h[1] * h[1] + h[2] * h[2]).sqrt();
    if h_norm <= 1e-12 * rn * v2.sqrt() {
        return Err(
            "must not be a radial orbit (position and velocity parallel: it falls into the centre)"
                .into(),
        );
    }
    Ok(())
}

fn cross(a: &[f64; 3], b: &[f64; 3]) -> [f64; 3] {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

/// Whether the state `(r, v)` is on an orbit the service integrates: bound, not
/// radial, not inside the central body, its semi-major axis at most
/// [`MAX_SEMI_MAJOR_RADII`] radii and its periapsis at or above the central body's
/// radius (the sane region of the README's "Orbits"); else the rule it breaks, with
/// its figures. The speed needs no bound of its own: a bound orbit whose periapsis is
/// above the surface is slower than the escape speed there.
pub fn check_orbit(r: &[f64; 3], v: &[f64; 3], central: &CentralBody) -> Result<(), String> {
    let (mu, radius) = (central.mu, central.radius_km);
    bound_orbit(r, v, mu)?;
    let rn = (r[0] * r[0] + r[1] * r[1] + r[2] * r[2]).sqrt();
    if rn < radius {
        return Err(format!(
            "the position is inside the central body: |r| = {rn} km is below its radius {radius} km"
        ));
    }
    let v2 = v[0] * v[0] + v[1] * v[1] + v[2] * v[2];
    let energy = v2 / 2.0 - mu / rn;
    let a = -mu / (2.0 * energy);
    let largest = MAX_SEMI_MAJOR_RADII * radius;
    if a > largest {
        return Err(format!(
            "its semi-major axis {a} km is above {largest} km ({MAX_SEMI_MAJOR_RADII} radii of the central body)"
        ));
    }
    // The periapsis as p / (1 + e), which keeps its precision when e is near 1.
    let h = cross(r, v);
    let h2 = h[0] * h[0] + h[1] * h[1] + h[2] * h[2];
    let e = (1.0 + 2.0 * energy * h2 / (mu * mu)).max(0.0).sqrt();
    let periapsis = h2 / mu / (1.0 + e);
    if periapsis < radius {
        return Err(format!(
            "its periapsis {periapsis} km is below the central body's radius {radius} km (the orbit meets it; e = {e})"
        ));
    }
    Ok(())
}

/// One body's state at time `t`: position `r` (km) and velocity `v` (km/s) in the
/// inertial frame centred on the central body.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OrbitState {
    pub t: f64,
    pub r: [f64; 3],
    pub v: [f64; 3],
}

impl OrbitState {
    pub(crate) fn from_y(t: f64, y: [f64; 6]) -> Self {
        OrbitState {
            t,
            r: [y[0], y[1], y[2]],
            v: [y[3], y[4], y[5]],
        }
    }

    /// Whether this output holds no state: a catalogue object after SGP4 stopped it
    /// ([`crate::orbit::NO_STATE`]).
    pub fn is_absent(&self) -> bool {
        self.r[0].is_nan()
    }

    /// The state rotated by `m` (position and velocity alike).
    pub fn rotated(&self, m: &crate::catalog::frame::Rotation) -> Self {
        let y = crate::catalog::frame::rotate(
            m,
            &[
                self.r[0], self.r[1], self.r[2], self.v[0], self.v[1], self.v[2],
            ],
        );
        OrbitState::from_y(self.t, y)
    }
}
