//! Our SGP4 against the verification set of Vallado et al. ("Revisiting Spacetrack
//! Report #3", 2006) as PyPI's `sgp4` 2.27 ships it: `SGP4-VER.TLE` (33 element sets,
//! each line 2 carrying a start, stop and step in minutes after column 69) and
//! `tcppver.out` (the reference C++ code's TEME states at those times, in improved
//! mode with WGS-72).
//!
//! Every state `tcppver.out` prints is matched within 1e-5 km and 1e-8 km/s. An object
//! whose output stops early there is one the reference code could not propagate
//! further: ours must fail at the first time it does not print, with the error code
//! python-sgp4's own test expects (its `tests.py`, `run_satellite_against_tcppver`).
//! The files are read from the installed package (`bash .ci/deps`), their SHA-256
//! checked first.

use nano_pipeline::catalog::{Catalog, CatalogFormat, ElementSet, Sgp4};
use nano_testing::packages;
use sha2::{Digest, Sha256};

const SGP4_VER_TLE_SHA256: &str =
    "d246d1d9d768ace445a38a965713fa9ba52d80fd8a41a0502ff83d7acffe2881";
const TCPPVER_OUT_SHA256: &str = "687bf28dbe52df86e8e60ab5cb4a08d1aa3dbcaf4e63b1f7ab95f044fbe3833b";

/// The error codes python-sgp4 2.27's `tests.py` expects, in the file's order
/// (`run_satellite_against_tcppver(..., [1,1,6,6,4,3,6])`).
const EXPECTED_ERRORS: [u8; 7] = [1, 1, 6, 6, 4, 3, 6];

/// The objects whose lines carry a wrong checksum, as python-sgp4's `test_tle_export`
/// lists them ("Checksum error as expected": 33333 on both lines, 33334 and 33335 on
/// line 1).
const BAD_CHECKSUMS: [u32; 3] = [33333, 33334, 33335];

const KM: f64 = 1e-5;
const KM_S: f64 = 1e-8;

fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// One object of `SGP4-VER.TLE`: its two lines cut to 69 columns and its times.
struct Case {
    line1: String,
    line2: String,
    start: f64,
    stop: f64,
    step: f64,
}

fn cases(text: &str) -> Vec<Case> {
    let lines: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
    lines
        .chunks(2)
        .map(|pair| {
            let (l1, l2) = (pair[0].trim_end(), pair[1]);
            assert!(l1.starts_with("1 ") && l2.starts_with("2 "), "{pair:?}");
            let times: Vec<f64> = l2[69..]
                .split_whitespace()
                .map(|t| t.parse().expect("a time in minutes"))
                .collect();
            Case {
                line1: l1[..69].to_string(),
                line2: l2[..69].to_string(),
                start: times[0],
                stop: times[1],
                step: times[2],
            }
        })
        .collect()
}

/// The times the reference program evaluates, as python-sgp4's test generates
/// them: 0, then start to stop by step (summed, as the C++ does), then stop itself
/// if the steps missed it.
fn times(c: &Case) -> Vec<f64> {
    let mut times = vec![0.0];
    let mut t = c.start;
    while t <= c.stop {
        if !(t == c.start && c.start == 0.0) {
            times.push(t);
        }
        t += c.step;
    }
    if t - c.stop < c.step - 1e-6 {
        times.push(c.stop);
    }
    times
}

/// `tcppver.out`'s blocks: the catalogue number, then `[t, x, y, z, vx, vy, vz]`.
fn reference(text: &str) -> Vec<(u32, Vec<[f64; 7]>)> {
    let mut blocks: Vec<(u32, Vec<[f64; 7]>)> = Vec::new();
    for line in text.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        match fields.as_slice() {
            [] => {}
            [n, "xx"] => blocks.push((n.parse().expect("a catalogue number"), Vec::new())),
            _ => {
                let mut row = [0.0; 7];
                for (v, f) in row.iter_mut().zip(&fields) {
                    *v = f.parse().expect("a number");
                }
                blocks
                    .last_mut()
                    .expect("a block's header first")
                    .1
                    .push(row);
            }
        }
    }
    blocks
}

/// The TLE checksum of columns 1-68 (digits, a minus counting 1, modulo 10).
fn with_checksum(line: &str) -> String {
    let sum: u32 = line[..68]
        .bytes()
        .map(|c| match c {
            b'0'..=b'9' => (c - b'0') as u32,
            b'-' => 1,
            _ => 0,
        })
        .sum();
    format!("{}{}", &line[..68], sum % 10)
}

#[test]
fn the_verification_set_matches_tcppver_out_and_fails_with_its_error_codes() {
    let dir = packages::python_package("sgp4", "2.27");
    let tle = packages::read(&dir, "SGP4-VER.TLE");
    let out = packages::read(&dir, "tcppver.out");
    assert_eq!(sha256(&tle), SGP4_VER_TLE_SHA256, "SGP4-VER.TLE changed");
    assert_eq!(sha256(&out), TCPPVER_OUT_SHA256, "tcppver.out changed");
    let cases = cases(std::str::from_utf8(&tle).unwrap());
    let blocks = reference(&String::from_utf8(out).unwrap().replace('\r', ""));
    assert_eq!((cases.len(), blocks.len()), (33, 33));

    // Read through the TLE reader: the lines with a wrong checksum are refused for
    // it, and only those; once their checksums are right, all 33 are read.
    let text: String = cases
        .iter()
        .map(|c| format!("{}\n{}\n", c.line1, c.line2))
        .collect();
    let catalog = Catalog::read(text.as_bytes(), Some(CatalogFormat::Tle)).unwrap();
    let mut refused: Vec<u32> = catalog
        .refused
        .iter()
        .map(|r| {
            assert_eq!(r.field, "checksum (column 69)", "{r}");
            let n = r.object.rsplit("catalogue number ").next().unwrap();
            n.trim_end_matches(')')
                .parse()
                .expect("the refusal names the object")
        })
        .collect();
    refused.dedup();
    assert_eq!(refused, BAD_CHECKSUMS);
    let text: String = cases
        .iter()
        .map(|c| format!("{}\n{}\n", with_checksum(&c.line1), with_checksum(&c.line2)))
        .collect();
    let catalog = Catalog::read(text.as_bytes(), Some(CatalogFormat::Tle)).unwrap();
    assert!(catalog.refused.is_empty(), "{:?}", catalog.refused);
    assert_eq!(catalog.objects.len(), 33);

    let (mut compared, mut max_km, mut max_km_s) = (0, 0.0f64, 0.0f64);
    let mut errors = Vec::new();
    for ((case, e), (number, rows)) in cases.iter().zip(&catalog.objects).zip(&blocks) {
        assert_eq!(e.norad_id, *number, "the files' objects in the same order");
        let times = times(case);
        let (n, code) = propagate(e, &times, rows, &mut max_km, &mut max_km_s);
        compared += n;
        if let Some((at, code)) = code {
            // The reference printed every time before the failure and none after
            // (a failure at 0 prints one line there, copied from the object before).
            let printed = if at == 0 { 1 } else { at };
            assert_eq!(rows.len(), printed, "{number}: failed at {}", times[at]);
            errors.push(code);
        } else {
            assert_eq!(rows.len(), times.len(), "{number}: every time propagated");
        }
    }
    println!(
        "{compared} states compared; max |dr| {max_km:.3e} km, max |dv| {max_km_s:.3e} km/s; errors {errors:?}"
    );
    assert_eq!(errors, EXPECTED_ERRORS);
    assert!(compared > 500, "{compared}");
}

/// Propagates one object at `times`, comparing with the reference's rows: the
/// number of states compared and, if SGP4 failed, the index of the time and the code.
fn propagate(
    e: &ElementSet,
    times: &[f64],
    rows: &[[f64; 7]],
    max_km: &mut f64,
    max_km_s: &mut f64,
) -> (usize, Option<(usize, u8)>) {
    let sgp4 = match Sgp4::new(e) {
        Ok(sgp4) => sgp4,
        Err(err) => return (0, Some((0, err.code))),
    };
    let mut compared = 0;
    for (i, &t) in times.iter().enumerate() {
        let state = match sgp4.teme(t) {
            Ok(state) => state,
            Err(err) => return (compared, Some((i, err.code))),
        };
        let Some(row) = rows.get(i) else {
            panic!(
                "{}: propagated at {t} where the reference failed",
                e.norad_id
            );
        };
        assert!(
            (row[0] - t).abs() < 1e-6,
            "{}: time {t} vs {}",
            e.norad_id,
            row[0]
        );
        for k in 0..3 {
            let (dr, dv) = (
                (state[k] - row[1 + k]).abs(),
                (state[3 + k] - row[4 + k]).abs(),
            );
            *max_km = max_km.max(dr);
            *max_km_s = max_km_s.max(dv);
            assert!(
                dr < KM,
                "{} at {t}: r[{k}] {} vs {}",
                e.norad_id,
                state[k],
                row[1 + k]
            );
            assert!(
                dv < KM_S,
                "{} at {t}: v[{k}] {} vs {}",
                e.norad_id,
                state[3 + k],
                row[4 + k]
            );
        }
        compared += 1;
    }
    (compared, None)
}
