//! Catalogue scenarios through the binary (`docs/orbits.md`, "Catalogues"): a Walker
//! shell with a catalogue of element sets gives the same bytes on one and two workers
//! and on a two-process cluster, and its OEM names each catalogue object by its
//! catalogue number; the objects follow python's `sgp4` (an independent SGP4), stop
//! where it fails with its error code, and one that fails at the epoch is dropped and
//! reported; the selection keeps what it says and reports the rest; bad input is a
//! clear error; `catalog check` lists what was refused and why; and the public catalogue
//! of crates.io's `satellite` 0.1.2 with a shell gives the same bytes everywhere too.

use std::path::Path;
use std::process::Command;

use nano_testing::cluster::{hostfile, spawn_worker};
use nano_testing::process::{assert_verified, run, stdout_of, write_file, Proc};
use serde_json::Value;

/// The TLE checksum: the digits of columns 1-68 summed, a minus sign counting 1,
/// modulo 10.
fn checksum(line: &str) -> u32 {
    line.chars()
        .map(|c| match c {
            '-' => 1,
            c => c.to_digit(10).unwrap_or(0),
        })
        .sum::<u32>()
        % 10
}

/// A TLE's exponent field (`bstar`): sign, five digits with the point before them,
/// the exponent's sign and digit.
fn exponent_field(x: f64) -> String {
    if x == 0.0 {
        return " 00000-0".into();
    }
    let sign = if x < 0.0 { '-' } else { ' ' };
    let mut e = x.abs().log10().floor() as i32 + 1;
    let mut m = (x.abs() / 10f64.powi(e) * 1e5).round() as u64;
    if m >= 100_000 {
        m /= 10;
        e += 1;
    }
    format!(
        "{sign}{m:05}{}{}",
        if e < 0 { '-' } else { '+' },
        e.unsigned_abs()
    )
}

/// One object of a catalogue, as the three lines of a TLE.
struct Tle<'a> {
    number: &'a str,
    name: &'a str,
    epoch: &'a str,
    i: f64,
    raan: f64,
    e: f64,
    argp: f64,
    m: f64,
    n: f64,
    bstar: f64,
}

impl Tle<'_> {
    fn lines(&self) -> [String; 3] {
        let l1 = format!(
            "1 {:>5}U 20001A   {}  .00000000  00000-0 {} 0  999",
            self.number,
            self.epoch,
            exponent_field(self.bstar)
        );
        let l2 = format!(
            "2 {:>5} {:8.4} {:8.4} {:07} {:8.4} {:8.4} {:11.8}{:5}",
            self.number,
            self.i,
            self.raan,
            (self.e * 1e7).round() as u64,
            self.argp,
            self.m,
            self.n,
            1
        );
        assert_eq!((l1.len(), l2.len()), (68, 68), "{l1}\n{l2}");
        let (c1, c2) = (checksum(&l1), checksum(&l2));
        [
            self.name.to_string(),
            format!("{l1}{c1}"),
            format!("{l2}{c2}"),
        ]
    }
}

/// A catalogue of 40 objects from 400 to 1,900 km in every inclination, one with an
/// Alpha-5 catalogue number (A0001 = 100001), one that decays a day into the run
/// (DECAYING) and one that has decayed before it starts (GONE), epochs 2020-07-12.
fn catalogue() -> String {
    let mut objects = Vec::new();
    let numbers: Vec<String> = (0..40)
        .map(|k| {
            if k == 7 {
                "A0001".to_string()
            } else {
                format!("{}", 80_000 + k)
            }
        })
        .collect();
    let names: Vec<String> = (0..40).map(|k| format!("OBJECT {k}")).collect();
    for k in 0..40 {
        let kf = k as f64;
        objects.push(
            Tle {
                number: &numbers[k],
                name: &names[k],
                epoch: "20194.25000000",
                i: (kf * 4.45) % 180.0,
                raan: (kf * 37.0) % 360.0,
                e: 0.0005 + 0.001 * (kf % 5.0),
                argp: (kf * 53.0) % 360.0,
                m: (kf * 71.0) % 360.0,
                // From 15.5 (about 400 km) down to 12.5 rev/day (about 1,900 km).
                n: 15.5 - 3.0 * kf / 39.0,
                bstar: 1e-5 * (kf % 3.0),
            }
            .lines(),
        );
    }
    for (number, name, epoch) in [
        ("90001", "DECAYING", "20194.50000000"),
        ("90002", "GONE", "20190.50000000"),
    ] {
        objects.push(
            Tle {
                number,
                name,
                epoch,
                i: 51.6,
                raan: 10.0,
                e: 0.0005,
                argp: 0.0,
                m: 0.0,
                n: 16.45,
                bstar: 0.0003,
            }
            .lines(),
        );
    }
    objects.concat().join("\n") + "\n"
}

/// A Walker shell of 12 at 700 km, starting 2020-07-13T00:00:00Z, states every 600 s.
const SHELL: &str = r#"{"model": "orbit", "epoch": "2020-07-13T00:00:00Z", "output_step_s": 600,
  "walker": {"i_deg": 60, "total": 12, "planes": 3, "phasing": 1, "altitude_km": 700}}"#;

fn propagate(args: &[&str]) -> Vec<u8> {
    stdout_of(&[&["propagate"], args].concat())
}

#[test]
fn a_shell_with_a_catalogue_writes_the_same_bytes_on_1_and_2_workers_and_2_processes() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = write_file(dir.path(), "shell.json", SHELL);
    let tle = write_file(dir.path(), "objects.tle", &catalogue());
    let common = [
        "--scenario",
        &scenario,
        "--catalog",
        &tle,
        "--steps",
        "288",
        "--format",
        "csv",
    ];
    let reference = propagate(&common);
    // 12 generated bodies and 41 objects (GONE dropped) at 289 output times, less the
    // states DECAYING does not have.
    let lines = reference.iter().filter(|&&b| b == b'\n').count();
    assert!(
        lines > 1 + 53 * 250 && lines < 1 + 53 * 289,
        "{lines} lines"
    );
    let one = propagate(&[&common[..], &["--workers", "1"]].concat());
    assert!(one == reference, "1 worker wrote other bytes");
    let two = propagate(&[&common[..], &["--workers", "2"]].concat());
    assert!(two == reference, "2 workers wrote other bytes");

    let hosts = hostfile(dir.path(), 2);
    let _peer: Proc = spawn_worker(&hosts, 1, 1);
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let cluster = propagate(
        &[
            &common[..],
            &[
                "--hostfile",
                hosts.to_str().unwrap(),
                "--workers",
                "1",
                "--block",
                "64",
                "--data",
                data,
            ],
        ]
        .concat(),
    );
    assert!(
        cluster == reference,
        "a 2-process cluster wrote other bytes"
    );
    assert_verified(Path::new(data));

    // The log keeps the catalogue: a scenario naming it by id replays without the file.
    let id = catalogue_id(&tle);
    let named = SHELL.replacen('{', &format!(r#"{{"catalog": {{"id": "{id}"}},"#), 1);
    let named = write_file(dir.path(), "named.json", &named);
    let replayed = stdout_of(&[
        "replay",
        "--scenario",
        &named,
        "--steps",
        "288",
        "--format",
        "csv",
        "--data",
        data,
    ]);
    assert!(replayed == reference, "the log replays other bytes");
    // And `replay --catalog` names it by the file.
    let replayed = stdout_of(&[
        "replay",
        "--scenario",
        &scenario,
        "--catalog",
        &tle,
        "--steps",
        "288",
        "--format",
        "csv",
        "--data",
        data,
    ]);
    assert!(replayed == reference, "replay --catalog gives other bytes");

    // The OEM, read back from the log: one segment a body, the shell's by index, the
    // catalogue's by catalogue number, in the file's order (GONE skipped).
    let oem = String::from_utf8(propagate(&[
        "--scenario",
        &scenario,
        "--catalog",
        &tle,
        "--steps",
        "288",
        "--format",
        "oem",
        "--data",
        data,
    ]))
    .unwrap();
    let ids: Vec<&str> = oem
        .lines()
        .filter_map(|l| l.strip_prefix("OBJECT_ID = "))
        .collect();
    let mut expected: Vec<String> = (0..12).map(|b| b.to_string()).collect();
    expected.extend((0..40).map(|k| if k == 7 { 100_001 } else { 80_000 + k }.to_string()));
    expected.push("90001".into());
    assert_eq!(ids, expected);
    assert!(oem.contains("OBJECT_NAME = OBJECT 7\n"));
    assert!(oem.lines().filter(|l| *l == "REF_FRAME = EME2000").count() == 53);
    // DECAYING's segment ends where its states do.
    let decaying = oem.split("OBJECT_NAME = DECAYING").nth(1).unwrap();
    let rows = decaying.lines().filter(|l| l.starts_with("2020-")).count();
    assert!(rows > 100 && rows < 289, "{rows} states of DECAYING");
}

/// The catalogue id `catalog check --json` reports.
fn catalogue_id(file: &str) -> String {
    let report: Value =
        serde_json::from_slice(&stdout_of(&["catalog", "check", file, "--json"])).unwrap();
    report["id"].as_str().unwrap().to_string()
}

/// Python's `sgp4` (Vallado's code, another implementation of it) for the TLEs in
/// `tle` at `minutes` after the scenario's epoch: per object, per time, `[error,
/// x, y, z, vx, vy, vz]` in TEME.
fn python_sgp4(tle: &str, scenario_epoch_jd: f64, minutes: &[f64]) -> Vec<Vec<Vec<f64>>> {
    let script = r#"
import json, sys
from sgp4.api import Satrec
request = json.load(sys.stdin)
lines = request["tle"].splitlines()
out = []
for k in range(0, len(lines), 3):
    sat = Satrec.twoline2rv(lines[k + 1], lines[k + 2])
    offset = (request["epoch_jd"] - (sat.jdsatepoch + sat.jdsatepochF)) * 1440.0
    rows = []
    for m in request["minutes"]:
        e, r, v = sat.sgp4_tsince(offset + m)
        rows.append([e] + (list(r) + list(v) if e == 0 else [0.0] * 6))
    out.append(rows)
json.dump(out, sys.stdout)
"#;
    let request =
        serde_json::json!({"tle": tle, "epoch_jd": scenario_epoch_jd, "minutes": minutes});
    let out = nano_testing::process::piped(
        Command::new("python3").args(["-c", script]),
        &request.to_string(),
    );
    assert!(
        out.status.success(),
        "python3 with sgp4 (bash .ci/deps installs it): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn catalogue_objects_follow_python_sgp4_in_teme_and_stop_where_it_fails() {
    let dir = tempfile::tempdir().unwrap();
    let text = catalogue();
    let tle = write_file(dir.path(), "objects.tle", &text);
    let scenario = write_file(dir.path(), "shell.json", SHELL);
    let out = run(&[
        "propagate",
        "--scenario",
        &scenario,
        "--catalog",
        &tle,
        "--steps",
        "288",
        "--format",
        "json",
        "--frame",
        "TEME",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    let run: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(run["frame"], "TEME");
    assert_eq!(run["scenario"]["frame"], "TEME");
    let names = run["bodies"].as_array().unwrap();
    let norad = run["norad_ids"].as_array().unwrap();
    assert_eq!(names.len(), 12 + 41);
    assert_eq!(
        (names[12].as_str(), norad[12].as_u64()),
        (Some("OBJECT 0"), Some(80_000))
    );
    assert_eq!(norad[19].as_u64(), Some(100_001), "the Alpha-5 number");
    assert!(
        norad[0].is_null(),
        "the shell's bodies have no catalogue number"
    );
    // GONE has decayed before the run starts: dropped, and said so.
    assert!(!names.iter().any(|n| n == "GONE"));
    assert!(
        stderr.contains("90002 (GONE) dropped: SGP4 error"),
        "{stderr}"
    );

    // 2020-07-13T00:00:00Z as a Julian date.
    let epoch_jd = 2_459_043.5;
    let minutes: Vec<f64> = (0..=288).map(|k| k as f64 * 10.0).collect();
    let oracle = python_sgp4(&text, epoch_jd, &minutes);
    let mut states = std::collections::HashMap::new();
    for row in run["records"].as_array().unwrap() {
        let row: Vec<f64> = row
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        states.insert(((row[0] / 600.0) as usize, row[1] as usize), row);
    }
    let mut worst = (0.0f64, 0.0f64);
    let mut decaying_stop = None;
    // Objects 0..40, then DECAYING; bodies 12.. in the file's order.
    for (object, expected) in oracle.iter().enumerate().take(41) {
        let body = 12 + object;
        for (k, want) in expected.iter().enumerate() {
            match states.get(&(k, body)) {
                Some(got) if want[0] == 0.0 => {
                    for axis in 0..3 {
                        worst.0 = worst.0.max((got[2 + axis] - want[1 + axis]).abs());
                        worst.1 = worst.1.max((got[5 + axis] - want[4 + axis]).abs());
                    }
                }
                None if want[0] != 0.0 => {
                    decaying_stop.get_or_insert((body, k, want[0] as u64));
                }
                got => {
                    panic!("body {body} at output {k}: wrote {got:?}, python's sgp4 gives {want:?}")
                }
            }
        }
    }
    assert!(
        worst.0 < 1e-6 && worst.1 < 1e-9,
        "largest differences {worst:?} (km, km/s)"
    );
    let (body, k, code) = decaying_stop.expect("DECAYING stops within the run");
    assert_eq!(body, 52);
    let stopped = &run["stopped"].as_array().unwrap()[..];
    assert_eq!(stopped.len(), 1, "{stopped:?}");
    assert_eq!(stopped[0]["body"], 52);
    assert_eq!(stopped[0]["norad_id"], 90001);
    assert_eq!(stopped[0]["t"].as_f64(), Some(k as f64 * 600.0));
    assert_eq!(stopped[0]["code"].as_u64(), Some(code));
    assert!(
        stderr.contains("catalogue object 90001 (DECAYING, body 52) has no states"),
        "{stderr}"
    );

    // In EME2000 (the default) every state differs from TEME's by a rotation (some
    // 0.29 degrees of precession from 2000 to 2020, about an axis near the poles):
    // lengths kept, directions turned by up to that angle.
    let eme: Value = serde_json::from_slice(&stdout_of(&[
        "propagate",
        "--scenario",
        &scenario,
        "--catalog",
        &tle,
        "--steps",
        "2",
        "--format",
        "json",
    ]))
    .unwrap();
    assert_eq!(eme["frame"], "EME2000");
    let mut largest = 0.0f64;
    for (a, b) in eme["records"]
        .as_array()
        .unwrap()
        .iter()
        .zip(run["records"].as_array().unwrap())
    {
        let a: Vec<f64> = a
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        let b: Vec<f64> = b
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        let norm = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>().sqrt();
        let angle = ((a[2] * b[2] + a[3] * b[3] + a[4] * b[4]) / norm(&a[2..5]) / norm(&b[2..5]))
            .clamp(-1.0, 1.0)
            .acos()
            .to_degrees();
        assert!(
            (norm(&a[2..5]) - norm(&b[2..5])).abs() < 1e-8,
            "{a:?} {b:?}"
        );
        assert!(angle < 0.3, "{angle} degrees between {a:?} and {b:?}");
        largest = largest.max(angle);
    }
    assert!(
        largest > 0.2,
        "the frames differ by {largest} degrees at most"
    );
}

#[test]
fn a_selection_keeps_what_it_names_and_reports_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let tle = write_file(dir.path(), "objects.tle", &catalogue());
    let select = |selection: &str| {
        let doc = format!(
            r#"{{"model": "orbit", "epoch": "2020-07-13T00:00:00Z", "output_step_s": 600,
                "catalog": {selection}}}"#
        );
        let scenario = write_file(dir.path(), "select.json", &doc);
        run(&[
            "propagate",
            "--scenario",
            &scenario,
            "--catalog",
            &tle,
            "--steps",
            "1",
            "--format",
            "json",
        ])
    };
    let names = |out: &std::process::Output| -> Vec<String> {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let run: Value = serde_json::from_slice(&out.stdout).unwrap();
        run["bodies"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n.as_str().unwrap().to_string())
            .collect()
    };
    // By catalogue number (the Alpha-5 one too), in the file's order.
    let out = select(r#"{"norad_ids": [100001, 80003, 80001, 99999]}"#);
    assert_eq!(names(&out), ["OBJECT 1", "OBJECT 3", "OBJECT 7"]);
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("3 objects kept (dropped: 39 not among norad_ids)"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // By perigee: the low half of the shells (object k at 15.5 - 3k/39 rev/day).
    let out = select(r#"{"max_perigee_km": 700, "norad_ids": [80000, 80020, 80039]}"#);
    assert_eq!(names(&out), ["OBJECT 0"]);
    let out = select(r#"{"min_apogee_km": 700, "norad_ids": [80000, 80020, 80039]}"#);
    assert_eq!(names(&out), ["OBJECT 20", "OBJECT 39"]);
    // By age: element sets of 2020-07-12T12:00 and later are at most 0.5 days old.
    let out = select(r#"{"max_age_days": 0.6}"#);
    assert_eq!(names(&out), ["DECAYING"]);

    // A selection that keeps nothing, a selection's unknown field, a file that is no
    // catalogue, and a scenario that names another catalogue than --catalog: usage
    // errors that name what is wrong.
    for (selection, says) in [
        (
            r#"{"norad_ids": [12345]}"#,
            "catalog: the selection keeps none of the catalogue's 42 objects",
        ),
        (
            r#"{"max_perigee_km": 10}"#,
            "catalog: the selection keeps none",
        ),
        (
            r#"{"min_perigee_km": 900, "max_perigee_km": 800}"#,
            "catalog.max_perigee_km: must be at least min_perigee_km",
        ),
        (r#"{"perigee": 5}"#, "catalog.perigee: unknown field"),
        (
            r#"{"id": "00000000000000000000000000000000"}"#,
            "catalog.id is 00000000000000000000000000000000, and --catalog",
        ),
        (r#"{"id": "XYZ"}"#, "catalog.id is XYZ, and --catalog"),
    ] {
        let out = select(selection);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{selection}: {stderr}");
        assert!(stderr.contains(says), "{selection}: {stderr}");
    }
    let scenario = write_file(dir.path(), "shell.json", SHELL);
    let not_tle = write_file(dir.path(), "notes.txt", "these are not element sets\n");
    let out = run(&[
        "propagate",
        "--scenario",
        &scenario,
        "--catalog",
        &not_tle,
        "--steps",
        "1",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--catalog") && stderr.contains("notes.txt: not a catalogue"),
        "{stderr}"
    );
    // A scenario naming a catalogue the log does not keep.
    let data = dir.path().join("empty-log");
    let named = SHELL.replacen(
        '{',
        r#"{"catalog": {"id": "0123456789abcdef0123456789abcdef"},"#,
        1,
    );
    let named = write_file(dir.path(), "named.json", &named);
    let out = run(&[
        "propagate",
        "--scenario",
        &named,
        "--steps",
        "1",
        "--data",
        data.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("no catalogue 0123456789abcdef0123456789abcdef is kept"),
        "{stderr}"
    );
}

#[test]
fn catalog_check_says_what_was_read_and_why_the_rest_was_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = catalogue();
    // Object 3's line 2 with a wrong checksum, object 5's line 1 cut short.
    let lines: Vec<String> = text.lines().map(str::to_string).collect();
    let mut broken = lines.clone();
    let l = &mut broken[3 * 3 + 2];
    let last = l.pop().unwrap().to_digit(10).unwrap();
    l.push(char::from_digit((last + 1) % 10, 10).unwrap());
    broken[5 * 3 + 1].truncate(60);
    text = broken.join("\n") + "\n";
    let file = write_file(dir.path(), "broken.tle", &text);
    let report = String::from_utf8(stdout_of(&["catalog", "check", &file])).unwrap();
    assert!(report.contains("format   tle"), "{report}");
    assert!(report.contains("read     40 objects"), "{report}");
    assert!(report.contains("refused  2 objects"), "{report}");
    let json: Value =
        serde_json::from_slice(&stdout_of(&["catalog", "check", &file, "--json"])).unwrap();
    let refused = json["refused"].as_array().unwrap();
    assert_eq!(refused.len(), 2, "{refused:?}");
    for r in refused {
        for key in ["object", "field", "rule"] {
            assert!(!r[key].as_str().unwrap().is_empty(), "{r}");
        }
    }
    assert!(
        refused[0]["object"].as_str().unwrap().contains("80003"),
        "{refused:?}"
    );
    assert!(
        refused[0]["field"].as_str().unwrap().contains("checksum"),
        "{refused:?}"
    );
    assert!(
        refused[1]["rule"]
            .as_str()
            .unwrap()
            .contains("69 characters"),
        "{refused:?}"
    );
    // --format names the format: TLE read as TLE, refused as another.
    let as_tle =
        String::from_utf8(stdout_of(&["catalog", "check", &file, "--format", "tle"])).unwrap();
    assert!(as_tle.contains("read     40 objects"), "{as_tle}");
    let out = run(&["catalog", "check", &file, "--format", "kvn"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("kvn"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(&["catalog", "check", &file, "--format", "tle2"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "an unknown format is a usage error"
    );
    // No catalogue at all: exit 1 and why.
    let none = write_file(dir.path(), "none.txt", "hello\n");
    let out = run(&["catalog", "check", &none]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a catalogue"));
}

#[test]
fn a_shell_with_the_public_catalogue_writes_the_same_bytes_everywhere_and_its_oem_names_every_object(
) {
    // crates.io's satellite 0.1.2 (tests/tle.txt: 25,975 TLEs of 2017-2022), read from
    // the package (`bash .ci/deps` fetches it): deep-space, resonant and decayed
    // objects among them.
    let dir = tempfile::tempdir().unwrap();
    let text = nano_testing::packages::satellite_tle_txt();
    let tle = dir.path().join("satellite.tle");
    std::fs::write(&tle, &text).unwrap();
    let tle = tle.to_str().unwrap();
    let shell = SHELL.replace("2020-07-13T00:00:00Z", "2022-08-10T00:00:00Z");
    let scenario = write_file(dir.path(), "shell.json", &shell);
    let common = [
        "--scenario",
        &scenario,
        "--catalog",
        tle,
        "--steps",
        "5",
        "--format",
        "csv",
    ];
    let one = propagate(&[&common[..], &["--workers", "1"]].concat());
    let two = propagate(&[&common[..], &["--workers", "2"]].concat());
    assert!(two == one, "2 workers wrote other bytes");
    let hosts = hostfile(dir.path(), 2);
    let _peer: Proc = spawn_worker(&hosts, 1, 1);
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let cluster = propagate(
        &[
            &common[..],
            &[
                "--hostfile",
                hosts.to_str().unwrap(),
                "--workers",
                "1",
                "--data",
                data,
            ],
        ]
        .concat(),
    );
    assert!(cluster == one, "a 2-process cluster wrote other bytes");

    // The OEM read back from the log: the shell's 12 bodies by index, then every
    // object of the file in its order but those SGP4 cannot start at the epoch (as
    // python's sgp4 finds them, or places past 1e7 km from the Earth, our code 7; the
    // file holds some catalogue numbers twice).
    let out = run(&[
        "propagate",
        "--scenario",
        &scenario,
        "--catalog",
        tle,
        "--steps",
        "5",
        "--format",
        "oem",
        "--data",
        data,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let script = r#"
import json, sys
from sgp4.api import Satrec
request = json.load(sys.stdin)
lines = [l.lstrip("\ufeff") for l in request["tle"].splitlines() if l.strip()]
kept = []
for k in range(0, len(lines), 2):
    sat = Satrec.twoline2rv(lines[k], lines[k + 1])
    offset = (request["epoch_jd"] - (sat.jdsatepoch + sat.jdsatepochF)) * 1440.0
    e, r, v = sat.sgp4_tsince(offset)
    if e == 0 and sum(x * x for x in r) ** 0.5 <= 1e7:
        kept.append(str(sat.satnum))
json.dump(kept, sys.stdout)
"#;
    // 2022-08-10T00:00:00Z as a Julian date.
    let request =
        serde_json::json!({"tle": String::from_utf8_lossy(&text), "epoch_jd": 2_459_801.5});
    let kept = nano_testing::packages::python_json(script, &request);
    let mut expected: Vec<String> = (0..12).map(|b| b.to_string()).collect();
    expected.extend(
        kept.as_array()
            .unwrap()
            .iter()
            .map(|n| n.as_str().unwrap().to_string()),
    );
    assert!(
        expected.len() > 24_000 && expected.len() < 25_975,
        "{} kept",
        expected.len()
    );
    let oem = String::from_utf8(out.stdout).unwrap();
    let ids: Vec<&str> = oem
        .lines()
        .filter_map(|l| l.strip_prefix("OBJECT_ID = "))
        .collect();
    assert_eq!(ids.len(), expected.len());
    if let Some(k) = (0..ids.len()).find(|&k| ids[k] != expected[k]) {
        panic!(
            "OBJECT_ID {k} is {}, the file's catalogue number {}",
            ids[k], expected[k]
        );
    }
}

#[test]
fn a_catalogue_run_with_an_object_sgp4_stops_is_screened_as_the_brute_force_screens_it() {
    use nano_pipeline::orbit::OrbitState;
    use nano_pipeline::screening::Conjunction;
    use nano_testing::conjunctions::{assert_same, screen_by_sampling};

    let dir = tempfile::tempdir().unwrap();
    let tle = write_file(dir.path(), "objects.tle", &catalogue());
    let scenario = write_file(dir.path(), "shell.json", SHELL);
    let args = ["--scenario", &scenario, "--catalog", &tle, "--steps", "288"];
    // The tracks as the export writes them: DECAYING's ends where SGP4 stops it.
    let csv = String::from_utf8(propagate(&[&args[..], &["--format", "csv"]].concat())).unwrap();
    let mut bodies: Vec<Vec<OrbitState>> = Vec::new();
    for line in csv.lines().skip(1) {
        let f: Vec<f64> = line.split(',').map(|x| x.parse().unwrap()).collect();
        let body = f[1] as usize;
        if bodies.len() <= body {
            bodies.resize(body + 1, Vec::new());
        }
        bodies[body].push(OrbitState {
            t: f[0],
            r: [f[2], f[3], f[4]],
            v: [f[5], f[6], f[7]],
        });
    }
    assert_eq!(bodies.len(), 53);
    assert!(bodies[52].len() < 289, "DECAYING stops within the run");
    let distance = 150.0;
    let mut want = screen_by_sampling(&bodies, distance);
    want.sort_by(|x, y| x.miss_km.total_cmp(&y.miss_km));
    assert!(want.len() >= 3, "too few conjunctions to test: {want:?}");

    let out = stdout_of(
        &[
            &["screen"][..],
            &args,
            &["--distance", "150", "--format", "json", "--workers", "2"],
        ]
        .concat(),
    );
    let doc: Value = serde_json::from_slice(&out).unwrap();
    let got: Vec<Conjunction> = serde_json::from_value(doc["conjunctions"].clone()).unwrap();
    // A pair with one of the shell's (integrated) bodies: the interpolants' minima.
    let shell = |c: &Conjunction| c.a < 12;
    let own = |all: &[Conjunction]| -> Vec<Conjunction> {
        all.iter().filter(|c| shell(c)).copied().collect()
    };
    assert!(!own(&want).is_empty());
    assert_same(
        &own(&got),
        &own(&want),
        "a catalogue run with a stopped object",
    );
    // Two catalogue objects: found again on SGP4 (tests/catalog_screening.rs checks
    // those minima), near the interpolants' at this coarse 600 s step: within a step
    // and 10 km. Those of DECAYING after it stops are the interpolants' own.
    let near = |c: &Conjunction, all: &[Conjunction]| {
        all.iter().any(|w| {
            (w.a, w.b) == (c.a, c.b)
                && (w.tca_s - c.tca_s).abs() < 600.0
                && (w.miss_km - c.miss_km).abs() < 10.0
        })
    };
    let catalogue_pairs: Vec<&Conjunction> = got.iter().filter(|c| !shell(c)).collect();
    assert!(!catalogue_pairs.is_empty());
    for c in catalogue_pairs {
        assert!(
            near(c, &want),
            "{c:?} is near no minimum of the brute force"
        );
    }
    for w in want
        .iter()
        .filter(|w| !shell(w) && w.miss_km < distance - 10.0)
    {
        assert!(near(w, &got), "the brute force's {w:?} was not screened");
    }
}
