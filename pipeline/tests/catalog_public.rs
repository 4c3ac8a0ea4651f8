//! A real catalogue: crates.io's `satellite` 0.1.2 ships `tests/tle.txt`, 25,975
//! two-line element sets of the public catalogue (epochs 2017-2022, most on
//! 2022-08-09). Its licence is unstated, so it is read from the unpacked package at
//! test time (`bash .ci/deps` fetches it) and never copied here.
//!
//! Every object is read or refused with the reason; every one is propagated for a
//! day at 60 s (an SGP4 failure is counted by its code, not a panic); and a sample
//! equals python-sgp4 2.27's `Satrec` (Vallado's C++ code), which shares no code with
//! ours, within 1e-5 km, failures included.

use std::collections::BTreeMap;

use nano_pipeline::catalog::{Catalog, CatalogFormat, ElementSet, Sgp4, MAX_ORBIT_KM};
use nano_testing::packages;
use serde_json::{json, Value};

/// The day propagated: from 00:00 UTC of the day of the catalogue's latest epoch,
/// as a scenario starting with the catalogue would, in minutes since that instant.
fn day_start_unix_ns(c: &Catalog) -> i128 {
    let latest = c
        .objects
        .iter()
        .map(|e| e.epoch.unix_nanos())
        .max()
        .unwrap();
    latest - latest.rem_euclid(86_400_000_000_000)
}

/// Minutes from an element set's epoch to `minute` minutes after `start`.
fn tsince(e: &ElementSet, start_ns: i128, minute: f64) -> f64 {
    (start_ns - e.epoch.unix_nanos()) as f64 / 60e9 + minute
}

#[test]
fn the_public_catalogue_reads_propagates_for_a_day_and_equals_python_sgp4() {
    let bytes = packages::satellite_tle_txt();
    let text = std::str::from_utf8(&bytes).unwrap();
    // Every TLE has one line 2: the file's objects, counted without our reader.
    let in_file = text.lines().filter(|l| l.starts_with("2 ")).count();
    assert_eq!(in_file, 25_975);

    let started = std::time::Instant::now();
    let catalog = Catalog::read(&bytes, None).unwrap();
    let read_s = started.elapsed().as_secs_f64();
    assert_eq!(catalog.format, CatalogFormat::Tle);
    let mut why: BTreeMap<String, usize> = BTreeMap::new();
    for r in &catalog.refused {
        assert!(r.object.starts_with("line "), "{r}");
        assert!(!r.field.is_empty() && !r.rule.is_empty(), "{r}");
        println!("refused: {r}");
        *why.entry(r.field.clone()).or_default() += 1;
    }
    println!(
        "read {} objects, refused {} {why:?}, in {read_s:.3} s",
        catalog.objects.len(),
        catalog.refused.len()
    );
    assert_eq!(catalog.objects.len() + catalog.refused.len(), in_file);

    // A day at 60 s, every object, on every core.
    let start = day_start_unix_ns(&catalog);
    let started = std::time::Instant::now();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = catalog.objects.len().div_ceil(threads);
    let outcomes: Vec<(usize, Vec<Failure>)> = std::thread::scope(|s| {
        let handles: Vec<_> = catalog
            .objects
            .chunks(chunk)
            .enumerate()
            .map(|(c, objects)| {
                s.spawn(move || {
                    let (mut states, mut failures) = (0usize, Vec::new());
                    for (i, e) in objects.iter().enumerate() {
                        let index = c * chunk + i;
                        let sgp4 = match Sgp4::new(e) {
                            Ok(sgp4) => sgp4,
                            Err(err) => {
                                failures.push(Failure {
                                    index,
                                    minute: 0,
                                    code: err.code,
                                });
                                continue;
                            }
                        };
                        for minute in 0..=1440 {
                            match sgp4.teme(tsince(e, start, minute as f64)) {
                                Ok(state) => {
                                    assert!(state.iter().all(|v| v.is_finite()), "{}", e.norad_id);
                                    states += 1;
                                }
                                Err(err) => {
                                    failures.push(Failure {
                                        index,
                                        minute,
                                        code: err.code,
                                    });
                                    break;
                                }
                            }
                        }
                    }
                    (states, failures)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let states: usize = outcomes.iter().map(|(n, _)| n).sum();
    let all_failures: Vec<&Failure> = outcomes.iter().flat_map(|(_, f)| f).collect();
    let mut failures: BTreeMap<u8, usize> = BTreeMap::new();
    for f in &all_failures {
        *failures.entry(f.code).or_default() += 1;
    }
    let failed = all_failures.len();
    println!(
        "{states} states in {:.2} s on {threads} threads; {failed} objects failed, by code {failures:?}",
        started.elapsed().as_secs_f64()
    );
    assert!(states >= (catalog.objects.len() - failed) * 1441);

    // Each object's lines, in the file's order, the refused ones left out: the
    // catalogue's objects one for one.
    let refused_lines: Vec<String> = catalog.refused.iter().map(|r| r.object.clone()).collect();
    let lines = tle_pairs(text);
    let read_pairs: Vec<(&str, &str)> = lines
        .iter()
        .filter(|(n, _, _)| {
            !refused_lines.iter().any(|r| {
                r.starts_with(&format!("line {n} "))
                    || r.starts_with(&format!("line {} ", n + 1))
                    || *r == format!("line {n}")
                    || *r == format!("line {}", n + 1)
            })
        })
        .map(|(_, l1, l2)| (*l1, *l2))
        .collect();
    assert_eq!(read_pairs.len(), catalog.objects.len());
    for (e, (l1, l2)) in catalog.objects.iter().zip(&read_pairs) {
        let alone = Catalog::read(format!("{l1}\n{l2}\n").as_bytes(), None).unwrap();
        assert_eq!(&alone.objects[0], e, "{l1}");
    }
    // Every failure is python's too: the same code at the same minute, and none the
    // minute before.
    let cases: Vec<(usize, Vec<f64>, Vec<u8>)> = all_failures
        .iter()
        .map(|f| {
            let e = &catalog.objects[f.index];
            let mut times = vec![tsince(e, start, f.minute as f64)];
            let mut codes = vec![f.code];
            if f.minute > 0 {
                times.insert(0, tsince(e, start, f.minute as f64 - 1.0));
                codes.insert(0, 0);
            }
            (f.index, times, codes)
        })
        .collect();
    let input: Vec<Value> = cases
        .iter()
        .map(|(i, times, _)| json!({"l1": read_pairs[*i].0, "l2": read_pairs[*i].1, "tsince": times}))
        .collect();
    let theirs = packages::python_json(PYTHON_SGP4, &Value::Array(input));
    for ((i, times, codes), theirs) in cases.iter().zip(theirs.as_array().unwrap()) {
        // Our code 7 is a position past MAX_ORBIT_KM, which python's SGP4 gives
        // without an error code: read from its position.
        let their_codes: Vec<u8> = theirs["states"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| match s[0].as_f64().unwrap() as u8 {
                0 if (1..4)
                    .map(|k| s[k].as_f64().unwrap().powi(2))
                    .sum::<f64>()
                    .sqrt()
                    > MAX_ORBIT_KM =>
                {
                    7
                }
                code => code,
            })
            .collect();
        assert_eq!(
            &their_codes, codes,
            "{} at {times:?} min",
            catalog.objects[*i].norad_id
        );
    }
    println!("python sgp4 fails the same {failed} objects at the same minutes with the same codes");

    compare_with_python(&read_pairs, &catalog.objects, start);
}

/// An object SGP4 stopped for: its index in the catalogue, the minute of the day
/// and the code.
struct Failure {
    index: usize,
    minute: usize,
    code: u8,
}

/// The file's TLEs as (line number of line 1, line 1, line 2).
fn tle_pairs(text: &str) -> Vec<(usize, &str, &str)> {
    let lines: Vec<&str> = text
        .lines()
        .map(|l| l.trim_start_matches('\u{feff}'))
        .collect();
    lines
        .windows(2)
        .enumerate()
        .filter(|(_, w)| w[0].starts_with("1 ") && w[1].starts_with("2 "))
        .map(|(i, w)| (i + 1, w[0], w[1]))
        .collect()
}

const PYTHON_SGP4: &str = r#"
import json, sys
from sgp4.api import Satrec
out = []
for case in json.load(sys.stdin):
    sat = Satrec.twoline2rv(case["l1"], case["l2"])
    states = []
    for t in case["tsince"]:
        e, r, v = sat.sgp4_tsince(t)
        states.append([e] + list(r) + list(v) if e == 0 else [e])
    out.append({"epoch_jd": sat.jdsatepoch, "epoch_fr": sat.jdsatepochF, "states": states})
json.dump(out, sys.stdout)
"#;

/// 200 objects spread over the file, each at a few times of the day: our states and
/// failure codes against python-sgp4's, and our epochs against its.
fn compare_with_python(pairs: &[(&str, &str)], objects: &[ElementSet], start: i128) {
    let stride = pairs.len() / 200;
    let minutes = [0.0, 361.0, 722.5, 1440.0];
    let sample: Vec<_> = pairs
        .iter()
        .zip(objects)
        .step_by(stride)
        .take(200)
        .map(|((l1, l2), e)| {
            let times: Vec<f64> = minutes.iter().map(|m| tsince(e, start, *m)).collect();
            (l1, l2, e, times)
        })
        .collect();
    assert_eq!(sample.len(), 200);
    let input: Vec<Value> = sample
        .iter()
        .map(|(l1, l2, _, times)| json!({"l1": l1, "l2": l2, "tsince": times}))
        .collect();
    let theirs = packages::python_json(PYTHON_SGP4, &Value::Array(input));
    let theirs = theirs.as_array().unwrap();
    assert_eq!(theirs.len(), sample.len());

    let (mut compared, mut failed, mut max_km, mut max_epoch_us) = (0, 0, 0.0f64, 0.0f64);
    for ((_, _, e, times), theirs) in sample.iter().zip(theirs) {
        // Python's epoch, a Julian date in two parts, against ours.
        let jd = theirs["epoch_jd"].as_f64().unwrap() - 2_440_587.5;
        let fr = theirs["epoch_fr"].as_f64().unwrap();
        let their_unix_s = jd * 86_400.0 + fr * 86_400.0;
        let ours_unix_s = e.epoch.unix_nanos() as f64 * 1e-9;
        max_epoch_us = max_epoch_us.max((their_unix_s - ours_unix_s).abs() * 1e6);
        let ours = Sgp4::new(e);
        for (t, state) in times.iter().zip(theirs["states"].as_array().unwrap()) {
            let state: Vec<f64> = state
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect();
            let mine = ours.as_ref().map_err(Clone::clone).and_then(|s| s.teme(*t));
            match (mine, state[0] as u8) {
                (Ok(r), 0) => {
                    for k in 0..3 {
                        let d = (r[k] - state[1 + k]).abs();
                        max_km = max_km.max(d);
                        assert!(
                            d < 1e-5,
                            "{} at {t} min: r[{k}] {} vs python's {}",
                            e.norad_id,
                            r[k],
                            state[1 + k]
                        );
                        let dv = (r[3 + k] - state[4 + k]).abs();
                        assert!(
                            dv < 1e-8,
                            "{} at {t} min: v[{k}] {} vs python's {}",
                            e.norad_id,
                            r[3 + k],
                            state[4 + k]
                        );
                    }
                    compared += 1;
                }
                (Err(err), code) if err.code == code => failed += 1,
                (mine, code) => panic!(
                    "{} at {t} min: ours {mine:?}, python's error code {code}",
                    e.norad_id
                ),
            }
        }
    }
    println!(
        "python sgp4: {compared} states equal (max |dr| {max_km:.2e} km), {failed} failures with the same code; epochs within {max_epoch_us:.1} us"
    );
    assert!(compared > 700, "{compared}");
    assert!(max_epoch_us < 100.0, "{max_epoch_us} us");
}
