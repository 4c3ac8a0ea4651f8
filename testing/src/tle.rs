//! Synthetic three-line element sets, valid by the format's rules (columns, checksums),
//! for tests that need a catalogue of some hundreds or thousands of objects: near-Earth
//! orbits (mean motion 11 to 15 revolutions a day, eccentricity below 0.01: perigees
//! above 340 km, which SGP4 propagates for months without decay), epochs spread over the 30 days
//! before 2026-01-01T12:00:00Z, catalogue numbers from 40000 on.
//!
//! ```
//! let text = nano_testing::tle::catalogue(3);
//! assert_eq!(text.lines().count(), 9);
//! assert_eq!(text.lines().nth(1).unwrap().len(), 69);
//! ```

use crate::lcg::Lcg;

/// The first catalogue number [`catalogue`] writes.
pub const FIRST_NUMBER: u32 = 40_000;

/// The TLE checksum of a line's first 68 columns: its digits summed, each minus sign
/// counting 1, modulo 10.
pub fn checksum(columns: &str) -> u32 {
    columns
        .chars()
        .map(|c| match c {
            '0'..='9' => c as u32 - '0' as u32,
            '-' => 1,
            _ => 0,
        })
        .sum::<u32>()
        % 10
}

/// One element set: `name`, catalogue number `number`, epoch `day` of 2026 (day 1.5
/// is 2026-01-01T12:00:00Z; before 1, the days of 2025), and the elements.
pub fn element_set(
    name: &str,
    number: u32,
    day: f64,
    [i_deg, raan_deg, e, argp_deg, m_deg, n_rev_day]: [f64; 6],
) -> String {
    let epoch = if day >= 1.0 {
        format!("26{day:012.8}")
    } else {
        format!("25{:012.8}", day + 365.0)
    };
    let line1 = format!("1 {number:05}U 24001A   {epoch}  .00001000  00000-0  10000-3 0  999");
    let ecc = format!("{:07}", (e * 1e7).round() as u64);
    let line2 = format!(
        "2 {number:05} {i_deg:8.4} {raan_deg:8.4} {ecc} {argp_deg:8.4} {m_deg:8.4} {n_rev_day:11.8}{:5}",
        100
    );
    assert_eq!((line1.len(), line2.len()), (68, 68), "{line1}\n{line2}");
    format!(
        "{name}\n{line1}{}\n{line2}{}\n",
        checksum(&line1),
        checksum(&line2)
    )
}

/// `n` element sets named `SAT-k`, numbered from [`FIRST_NUMBER`], the same on every
/// call.
pub fn catalogue(n: usize) -> String {
    let mut random = Lcg(24);
    (0..n)
        .map(|k| {
            let mut u = || random.uniform();
            let elements = [
                100.0 * u(),
                360.0 * u(),
                0.01 * u(),
                360.0 * u(),
                360.0 * u(),
                11.0 + 4.0 * u(),
            ];
            let day = 1.5 - 30.0 * u();
            element_set(&format!("SAT-{k}"), FIRST_NUMBER + k as u32, day, elements)
        })
        .collect()
}
