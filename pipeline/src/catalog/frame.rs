//! TEME (SGP4's output frame) to EME2000 (the scenario's), by the IAU-1976/1980
//! theory that defines both.
//!
//! TEME is the true equator of date with the *mean* equinox of date: it differs from
//! the true-of-date frame by a rotation about the pole through the equation of the
//! equinoxes. So, with `t` the TT centuries since J2000,
//!
//! ```text
//! r_EME2000 = P(t)^T N(t)^T R3(-Eq(t)) r_TEME
//! ```
//!
//! - `P`: the IAU-1976 precession (Lieske's zeta, z, theta), EME2000 to mean of date;
//! - `N`: the IAU-1980 nutation (the 106-term series of Wahr's theory as adopted, with
//!   the IAU-1980 fundamental arguments and the IAU-1976 mean obliquity), mean to true
//!   of date, no celestial-pole corrections (no dpsi/deps from Earth-orientation data);
//! - `Eq`: the equation of the equinoxes, `dpsi cos(eps0)`, with the two kinematic terms
//!   (0.00264" sin(Om) + 0.000063" sin(2 Om)) from 1997-02-27 on, as the IAU adopted in
//!   1994 and as modern sidereal time (GAST) carries them. They are below 3
//!   milliarcseconds; Vallado's `teme2eci` leaves them out, and an independent
//!   implementation based on GAST (skyfield's TEME) keeps them.
//!
//! No Earth rotation enters, so neither UT1 nor polar motion is needed. Time: the UTC
//! instant's TT is UTC + (TAI - UTC) + 32.184 s, TAI - UTC from the leap-second table
//! below (10 s before 1972). Velocities are rotated by the same matrix (the frames'
//! own rotation, below 1e-9 rad/s relative, is ignored as Vallado's does).

/// A rotation matrix, row-major: `rotate(m, s)` is `m * s`.
pub type Rotation = [[f64; 3]; 3];

/// Arcseconds to radians.
const ARCSEC: f64 = std::f64::consts::PI / (180.0 * 3600.0);

/// TAI - UTC from each date on (Unix seconds at 00:00 UTC of that day, seconds).
const LEAP_SECONDS: [(i64, f64); 28] = [
    (63_072_000, 10.0),    // 1972-01-01
    (78_796_800, 11.0),    // 1972-07-01
    (94_694_400, 12.0),    // 1973-01-01
    (126_230_400, 13.0),   // 1974-01-01
    (157_766_400, 14.0),   // 1975-01-01
    (189_302_400, 15.0),   // 1976-01-01
    (220_924_800, 16.0),   // 1977-01-01
    (252_460_800, 17.0),   // 1978-01-01
    (283_996_800, 18.0),   // 1979-01-01
    (315_532_800, 19.0),   // 1980-01-01
    (362_793_600, 20.0),   // 1981-07-01
    (394_329_600, 21.0),   // 1982-07-01
    (425_865_600, 22.0),   // 1983-07-01
    (489_024_000, 23.0),   // 1985-07-01
    (567_993_600, 24.0),   // 1988-01-01
    (631_152_000, 25.0),   // 1990-01-01
    (662_688_000, 26.0),   // 1991-01-01
    (709_948_800, 27.0),   // 1992-07-01
    (741_484_800, 28.0),   // 1993-07-01
    (773_020_800, 29.0),   // 1994-07-01
    (820_454_400, 30.0),   // 1996-01-01
    (867_715_200, 31.0),   // 1997-07-01
    (915_148_800, 32.0),   // 1999-01-01
    (1_136_073_600, 33.0), // 2006-01-01
    (1_230_768_000, 34.0), // 2009-01-01
    (1_341_100_800, 35.0), // 2012-07-01
    (1_435_708_800, 36.0), // 2015-07-01
    (1_483_228_800, 37.0), // 2017-01-01
];

/// TAI - UTC at a UTC instant (Unix seconds), in seconds.
pub fn tai_minus_utc(unix_s: f64) -> f64 {
    LEAP_SECONDS
        .iter()
        .rev()
        .find(|(from, _)| unix_s >= *from as f64)
        .map_or(10.0, |(_, dt)| *dt)
}

/// TT centuries since J2000 (2000-01-01T12:00:00 TT) of a UTC instant.
pub fn tt_centuries(unix_s: f64) -> f64 {
    // J2000 is 946_728_000 Unix seconds of TT read as if it were UTC.
    let tt_s = unix_s + tai_minus_utc(unix_s) + 32.184;
    (tt_s - 946_728_000.0) / (86_400.0 * 36_525.0)
}

/// The IAU-1980 nutation series: multiples of the arguments (l, l', F, D, Om) and the
/// coefficients of dpsi (sine: A + A' t) and deps (cosine: B + B' t), in 0.1
/// milliarcseconds (Seidelmann 1982; the Explanatory Supplement's table 3.222.1).
#[rustfmt::skip]
const NUTATION: [([i8; 5], [f64; 4]); 106] = [
    ([ 0, 0, 0, 0, 1], [-171996.0, -174.2, 92025.0, 8.9]),
    ([ 0, 0, 0, 0, 2], [2062.0, 0.2, -895.0, 0.5]),
    ([-2, 0, 2, 0, 1], [46.0, 0.0, -24.0, 0.0]),
    ([ 2, 0,-2, 0, 0], [11.0, 0.0, 0.0, 0.0]),
    ([-2, 0, 2, 0, 2], [-3.0, 0.0, 1.0, 0.0]),
    ([ 1,-1, 0,-1, 0], [-3.0, 0.0, 0.0, 0.0]),
    ([ 0,-2, 2,-2, 1], [-2.0, 0.0, 1.0, 0.0]),
    ([ 2, 0,-2, 0, 1], [1.0, 0.0, 0.0, 0.0]),
    ([ 0, 0, 2,-2, 2], [-13187.0, -1.6, 5736.0, -3.1]),
    ([ 0, 1, 0, 0, 0], [1426.0, -3.4, 54.0, -0.1]),
    ([ 0, 1, 2,-2, 2], [-517.0, 1.2, 224.0, -0.6]),
    ([ 0,-1, 2,-2, 2], [217.0, -0.5, -95.0, 0.3]),
    ([ 0, 0, 2,-2, 1], [129.0, 0.1, -70.0, 0.0]),
    ([ 2, 0, 0,-2, 0], [48.0, 0.0, 1.0, 0.0]),
    ([ 0, 0, 2,-2, 0], [-22.0, 0.0, 0.0, 0.0]),
    ([ 0, 2, 0, 0, 0], [17.0, -0.1, 0.0, 0.0]),
    ([ 0, 1, 0, 0, 1], [-15.0, 0.0, 9.0, 0.0]),
    ([ 0, 2, 2,-2, 2], [-16.0, 0.1, 7.0, 0.0]),
    ([ 0,-1, 0, 0, 1], [-12.0, 0.0, 6.0, 0.0]),
    ([-2, 0, 0, 2, 1], [-6.0, 0.0, 3.0, 0.0]),
    ([ 0,-1, 2,-2, 1], [-5.0, 0.0, 3.0, 0.0]),
    ([ 2, 0, 0,-2, 1], [4.0, 0.0, -2.0, 0.0]),
    ([ 0, 1, 2,-2, 1], [4.0, 0.0, -2.0, 0.0]),
    ([ 1, 0, 0,-1, 0], [-4.0, 0.0, 0.0, 0.0]),
    ([ 2, 1, 0,-2, 0], [1.0, 0.0, 0.0, 0.0]),
    ([ 0, 0,-2, 2, 1], [1.0, 0.0, 0.0, 0.0]),
    ([ 0, 1,-2, 2, 0], [-1.0, 0.0, 0.0, 0.0]),
    ([ 0, 1, 0, 0, 2], [1.0, 0.0, 0.0, 0.0]),
    ([-1, 0, 0, 1, 1], [1.0, 0.0, 0.0, 0.0]),
    ([ 0, 1, 2,-2, 0], [-1.0, 0.0, 0.0, 0.0]),
    ([ 0, 0, 2, 0, 2], [-2274.0, -0.2, 977.0, -0.5]),
    ([ 1, 0, 0, 0, 0], [712.0, 0.1, -7.0, 0.0]),
    ([ 0, 0, 2, 0, 1], [-386.0, -0.4, 200.0, 0.0]),
    ([ 1, 0, 2, 0, 2], [-301.0, 0.0, 129.0, -0.1]),
    ([ 1, 0, 0,-2, 0], [-158.0, 0.0, -1.0, 0.0]),
    ([-1, 0, 2, 0, 2], [123.0, 0.0, -53.0, 0.0]),
    ([ 0, 0, 0, 2, 0], [63.0, 0.0, -2.0, 0.0]),
    ([ 1, 0, 0, 0, 1], [63.0, 0.1, -33.0, 0.0]),
    ([-1, 0, 0, 0, 1], [-58.0, -0.1, 32.0, 0.0]),
    ([-1, 0, 2, 2, 2], [-59.0, 0.0, 26.0, 0.0]),
    ([ 1, 0, 2, 0, 1], [-51.0, 0.0, 27.0, 0.0]),
    ([ 0, 0, 2, 2, 2], [-38.0, 0.0, 16.0, 0.0]),
    ([ 2, 0, 0, 0, 0], [29.0, 0.0, -1.0, 0.0]),
    ([ 1, 0, 2,-2, 2], [29.0, 0.0, -12.0, 0.0]),
    ([ 2, 0, 2, 0, 2], [-31.0, 0.0, 13.0, 0.0]),
    ([ 0, 0, 2, 0, 0], [26.0, 0.0, -1.0, 0.0]),
    ([-1, 0, 2, 0, 1], [21.0, 0.0, -10.0, 0.0]),
    ([-1, 0, 0, 2, 1], [16.0, 0.0, -8.0, 0.0]),
    ([ 1, 0, 0,-2, 1], [-13.0, 0.0, 7.0, 0.0]),
    ([-1, 0, 2, 2, 1], [-10.0, 0.0, 5.0, 0.0]),
    ([ 1, 1, 0,-2, 0], [-7.0, 0.0, 0.0, 0.0]),
    ([ 0, 1, 2, 0, 2], [7.0, 0.0, -3.0, 0.0]),
    ([ 0,-1, 2, 0, 2], [-7.0, 0.0, 3.0, 0.0]),
    ([ 1, 0, 2, 2, 2], [-8.0, 0.0, 3.0, 0.0]),
    ([ 1, 0, 0, 2, 0], [6.0, 0.0, 0.0, 0.0]),
    ([ 2, 0, 2,-2, 2], [6.0, 0.0, -3.0, 0.0]),
    ([ 0, 0, 0, 2, 1], [-6.0, 0.0, 3.0, 0.0]),
    ([ 0, 0, 2, 2, 1], [-7.0, 0.0, 3.0, 0.0]),
    ([ 1, 0, 2,-2, 1], [6.0, 0.0, -3.0, 0.0]),
    ([ 0, 0, 0,-2, 1], [-5.0, 0.0, 3.0, 0.0]),
    ([ 1,-1, 0, 0, 0], [5.0, 0.0, 0.0, 0.0]),
    ([ 2, 0, 2, 0, 1], [-5.0, 0.0, 3.0, 0.0]),
    ([ 0, 1, 0,-2, 0], [-4.0, 0.0, 0.0, 0.0]),
    ([ 1, 0,-2, 0, 0], [4.0, 0.0, 0.0, 0.0]),
    ([ 0, 0, 0, 1, 0], [-4.0, 0.0, 0.0, 0.0]),
    ([ 1, 1, 0, 0, 0], [-3.0, 0.0, 0.0, 0.0]),
    ([ 1, 0, 2, 0, 0], [3.0, 0.0, 0.0, 0.0]),
    ([ 1,-1, 2, 0, 2], [-3.0, 0.0, 1.0, 0.0]),
    ([-1,-1, 2, 2, 2], [-3.0, 0.0, 1.0, 0.0]),
    ([-2, 0, 0, 0, 1], [-2.0, 0.0, 1.0, 0.0]),
    ([ 3, 0, 2, 0, 2], [-3.0, 0.0, 1.0, 0.0]),
    ([ 0,-1, 2, 2, 2], [-3.0, 0.0, 1.0, 0.0]),
    ([ 1, 1, 2, 0, 2], [2.0, 0.0, -1.0, 0.0]),
    ([-1, 0, 2,-2, 1], [-2.0, 0.0, 1.0, 0.0]),
    ([ 2, 0, 0, 0, 1], [2.0, 0.0, -1.0, 0.0]),
    ([ 1, 0, 0, 0, 2], [-2.0, 0.0, 1.0, 0.0]),
    ([ 3, 0, 0, 0, 0], [2.0, 0.0, 0.0, 0.0]),
    ([ 0, 0, 2, 1, 2], [2.0, 0.0, -1.0, 0.0]),
    ([-1, 0, 0, 0, 2], [1.0, 0.0, -1.0, 0.0]),
    ([ 1, 0, 0,-4, 0], [-1.0, 0.0, 0.0, 0.0]),
    ([-2, 0, 2, 2, 2], [1.0, 0.0, -1.0, 0.0]),
    ([-1, 0, 2, 4, 2], [-2.0, 0.0, 1.0, 0.0]),
    ([ 2, 0, 0,-4, 0], [-1.0, 0.0, 0.0, 0.0]),
    ([ 1, 1, 2,-2, 2], [1.0, 0.0, -1.0, 0.0]),
    ([ 1, 0, 2, 2, 1], [-1.0, 0.0, 1.0, 0.0]),
    ([-2, 0, 2, 4, 2], [-1.0, 0.0, 1.0, 0.0]),
    ([-1, 0, 4, 0, 2], [1.0, 0.0, 0.0, 0.0]),
    ([ 1,-1, 0,-2, 0], [1.0, 0.0, 0.0, 0.0]),
    ([ 2, 0, 2,-2, 1], [1.0, 0.0, -1.0, 0.0]),
    ([ 2, 0, 2, 2, 2], [-1.0, 0.0, 0.0, 0.0]),
    ([ 1, 0, 0, 2, 1], [-1.0, 0.0, 0.0, 0.0]),
    ([ 0, 0, 4,-2, 2], [1.0, 0.0, 0.0, 0.0]),
    ([ 3, 0, 2,-2, 2], [1.0, 0.0, 0.0, 0.0]),
    ([ 1, 0, 2,-2, 0], [-1.0, 0.0, 0.0, 0.0]),
    ([ 0, 1, 2, 0, 1], [1.0, 0.0, 0.0, 0.0]),
    ([-1,-1, 0, 2, 1], [1.0, 0.0, 0.0, 0.0]),
    ([ 0, 0,-2, 0, 1], [-1.0, 0.0, 0.0, 0.0]),
    ([ 0, 0, 2,-1, 2], [-1.0, 0.0, 0.0, 0.0]),
    ([ 0, 1, 0, 2, 0], [-1.0, 0.0, 0.0, 0.0]),
    ([ 1, 0,-2,-2, 0], [-1.0, 0.0, 0.0, 0.0]),
    ([ 0,-1, 2, 0, 1], [-1.0, 0.0, 0.0, 0.0]),
    ([ 1, 1, 0,-2, 1], [-1.0, 0.0, 0.0, 0.0]),
    ([ 1, 0,-2, 2, 0], [-1.0, 0.0, 0.0, 0.0]),
    ([ 2, 0, 0, 2, 0], [1.0, 0.0, 0.0, 0.0]),
    ([ 0, 0, 2, 4, 2], [-1.0, 0.0, 0.0, 0.0]),
    ([ 0, 1, 0, 1, 0], [1.0, 0.0, 0.0, 0.0]),
];

/// The nutation in longitude and obliquity (radians) and the mean obliquity (IAU
/// 1976), at `t` TT centuries since J2000.
pub fn nutation(t: f64) -> (f64, f64, f64) {
    let turns = |arcsec: f64, revolutions: f64| {
        (arcsec * ARCSEC + (revolutions * t).rem_euclid(1.0) * std::f64::consts::TAU)
            .rem_euclid(std::f64::consts::TAU)
    };
    // The fundamental arguments (IAU 1980), arcseconds plus whole revolutions a century.
    let l = turns(
        485_866.733 + (715_922.633 + (31.310 + 0.064 * t) * t) * t,
        1325.0,
    );
    let lp = turns(
        1_287_099.804 + (1_292_581.224 + (-0.577 - 0.012 * t) * t) * t,
        99.0,
    );
    let f = turns(
        335_778.877 + (295_263.137 + (-13.257 + 0.011 * t) * t) * t,
        1342.0,
    );
    let d = turns(
        1_072_261.307 + (1_105_601.328 + (-6.891 + 0.019 * t) * t) * t,
        1236.0,
    );
    let om = turns(
        450_160.280 + (-482_890.539 + (7.455 + 0.008 * t) * t) * t,
        -5.0,
    );
    let (mut dpsi, mut deps) = (0.0, 0.0);
    // Smallest terms first, for the sum's rounding.
    for (k, c) in NUTATION.iter().rev() {
        let arg = k[0] as f64 * l
            + k[1] as f64 * lp
            + k[2] as f64 * f
            + k[3] as f64 * d
            + k[4] as f64 * om;
        dpsi += (c[0] + c[1] * t) * arg.sin();
        deps += (c[2] + c[3] * t) * arg.cos();
    }
    let eps0 = (84_381.448 + (-46.8150 + (-0.000_59 + 0.001_813 * t) * t) * t) * ARCSEC;
    (dpsi * 1e-4 * ARCSEC, deps * 1e-4 * ARCSEC, eps0)
}

/// The longitude of the Moon's mean ascending node (IAU 1980), radians.
fn moon_node(t: f64) -> f64 {
    (450_160.280 + (-482_890.539 + (7.455 + 0.008 * t) * t) * t) * ARCSEC
        + (-5.0 * t).rem_euclid(1.0) * std::f64::consts::TAU
}

/// The frame rotation about axis `axis` (0 = x, 2 = z) by `angle`: the coordinates
/// of a fixed vector in axes turned by `angle`.
fn axis_rotation(axis: usize, angle: f64) -> Rotation {
    let (s, c) = angle.sin_cos();
    match axis {
        0 => [[1.0, 0.0, 0.0], [0.0, c, s], [0.0, -s, c]],
        1 => [[c, 0.0, -s], [0.0, 1.0, 0.0], [s, 0.0, c]],
        _ => [[c, s, 0.0], [-s, c, 0.0], [0.0, 0.0, 1.0]],
    }
}

fn product(a: &Rotation, b: &Rotation) -> Rotation {
    let mut m = [[0.0; 3]; 3];
    for (i, row) in m.iter_mut().enumerate() {
        for (j, v) in row.iter_mut().enumerate() {
            *v = (0..3).map(|k| a[i][k] * b[k][j]).sum();
        }
    }
    m
}

/// The inverse of a rotation.
pub fn transpose(a: &Rotation) -> Rotation {
    let mut m = [[0.0; 3]; 3];
    for (i, row) in m.iter_mut().enumerate() {
        for (j, v) in row.iter_mut().enumerate() {
            *v = a[j][i];
        }
    }
    m
}

/// The rotation taking TEME coordinates at a UTC instant (Unix seconds) to EME2000.
/// It costs a few microseconds (the nutation series): compute it once per time.
pub fn teme_to_eme2000(unix_s: f64) -> Rotation {
    let t = tt_centuries(unix_s);
    // Precession (IAU 1976), EME2000 to mean of date: R3(-z) R2(theta) R3(-zeta).
    let zeta = (2306.2181 + (0.30188 + 0.017_998 * t) * t) * t * ARCSEC;
    let z = (2306.2181 + (1.09468 + 0.018_203 * t) * t) * t * ARCSEC;
    let theta = (2004.3109 + (-0.42665 - 0.041_833 * t) * t) * t * ARCSEC;
    let precession = product(
        &axis_rotation(2, -z),
        &product(&axis_rotation(1, theta), &axis_rotation(2, -zeta)),
    );
    // Nutation (IAU 1980), mean to true of date: R1(-eps) R3(-dpsi) R1(eps0).
    let (dpsi, deps, eps0) = nutation(t);
    let nutation = product(
        &axis_rotation(0, -(eps0 + deps)),
        &product(&axis_rotation(2, -dpsi), &axis_rotation(0, eps0)),
    );
    // The equation of the equinoxes: true of date to TEME is R3(Eq).
    let mut equinoxes = dpsi * eps0.cos();
    if unix_s >= 857_001_600.0 {
        // 1997-02-27: the kinematic terms.
        let om = moon_node(t);
        equinoxes += (0.002_64 * om.sin() + 0.000_063 * (2.0 * om).sin()) * ARCSEC;
    }
    let teme_to_tod = axis_rotation(2, -equinoxes);
    product(
        &transpose(&precession),
        &product(&transpose(&nutation), &teme_to_tod),
    )
}

/// A state `[x, y, z, vx, vy, vz]` rotated by `m` (position and velocity alike).
pub fn rotate(m: &Rotation, s: &[f64; 6]) -> [f64; 6] {
    let apply = |v: [f64; 3]| {
        [
            m[0][0] * v[0] + m[0][1] * v[1] + m[0][2] * v[2],
            m[1][0] * v[0] + m[1][1] * v[1] + m[1][2] * v[2],
            m[2][0] * v[0] + m[2][1] * v[1] + m[2][2] * v[2],
        ]
    };
    let [x, y, z] = apply([s[0], s[1], s[2]]);
    let [vx, vy, vz] = apply([s[3], s[4], s[5]]);
    [x, y, z, vx, vy, vz]
}
