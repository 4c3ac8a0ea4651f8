//! `propagate --scenario` in its formats, as a user runs it: the CCSDS OEM that
//! `--format oem` writes parsed line by line (header, one metadata block per body, data
//! lines) and every state of the CSV found in it; the JSON holding the same states; and
//! a table of broken scenario documents, each refused with exit 2 naming its field,
//! before any log is opened.

use std::collections::BTreeMap;
use std::path::Path;

use nano_testing::process;
use nano_testing::process::{run, scenario_args, stdout_of};

const SCENARIO: &str = r#"{
  "model": "orbit", "epoch": "2026-12-31T23:50:00Z", "forces": ["point_mass", "j2"],
  "integrator": {"method": "dop853", "tolerance": 1e-12}, "output_step_s": 7.5,
  "bodies": [
    {"name": "sat-1", "elements": {"a_km": 7200.0, "e": 0.1, "i_deg": 53.0,
                                   "raan_deg": 10.0, "argp_deg": 20.0, "nu_deg": 30.0}},
    {"name": "sat 2", "state": [7000.0, 0.0, 0.0, 0.0, 7.546, 0.0]}
  ]
}"#;

/// Seconds from 1970-01-01T00:00:00 of `YYYY-MM-DDTHH:MM:SS[.fff]` (no zone letter),
/// written here from the calendar's rules, not the service's code.
fn unix_seconds(text: &str) -> f64 {
    let (date, time) = text
        .split_once('T')
        .unwrap_or_else(|| panic!("no T in {text}"));
    let d: Vec<i64> = date.split('-').map(|p| p.parse().unwrap()).collect();
    let (year, month, day) = (d[0], d[1], d[2]);
    let leap = |y: i64| (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let mut days = (1970..year)
        .map(|y| if leap(y) { 366 } else { 365 })
        .sum::<i64>();
    let lengths = [
        31,
        if leap(year) { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    days += lengths[..(month - 1) as usize].iter().sum::<i64>() + day - 1;
    let t: Vec<f64> = time.split(':').map(|p| p.parse().unwrap()).collect();
    days as f64 * 86_400.0 + t[0] * 3600.0 + t[1] * 60.0 + t[2]
}

fn propagate(scenario: &Path, steps: &str, format: &str) -> String {
    let args = scenario_args("propagate", scenario.to_str().unwrap(), steps, format);
    String::from_utf8(stdout_of(&args)).unwrap()
}

/// One segment of an OEM: its metadata and its data lines (epoch text, six numbers).
struct Segment {
    meta: BTreeMap<String, String>,
    data: Vec<(String, [f64; 6])>,
}

/// Reads an OEM in KVN form as 502.0-B-3 lays it out, refusing anything else.
fn parse_oem(text: &str) -> (BTreeMap<String, String>, Vec<Segment>) {
    let kv = |line: &str| {
        let (k, v) = line
            .split_once(" = ")
            .unwrap_or_else(|| panic!("not KEY = VALUE: {line:?}"));
        (k.trim().to_owned(), v.trim().to_owned())
    };
    let mut lines = text.lines().filter(|l| !l.trim().is_empty()).peekable();
    let mut header = BTreeMap::new();
    assert_eq!(lines.next(), Some("CCSDS_OEM_VERS = 3.0"), "the first line");
    while let Some(line) = lines.next_if(|l| *l != "META_START") {
        if !line.starts_with("COMMENT") {
            let (k, v) = kv(line);
            header.insert(k, v);
        }
    }
    let mut segments = Vec::new();
    while let Some(line) = lines.next() {
        assert_eq!(line, "META_START");
        let mut meta = BTreeMap::new();
        for line in lines.by_ref() {
            if line == "META_STOP" {
                break;
            }
            let (k, v) = kv(line);
            meta.insert(k, v);
        }
        let mut data = Vec::new();
        while let Some(line) = lines.next_if(|l| *l != "META_START") {
            let fields: Vec<&str> = line.split_whitespace().collect();
            assert_eq!(
                fields.len(),
                7,
                "a data line is an epoch and six numbers: {line:?}"
            );
            let values: Vec<f64> = fields[1..].iter().map(|f| f.parse().unwrap()).collect();
            data.push((fields[0].to_owned(), values.try_into().unwrap()));
        }
        segments.push(Segment { meta, data });
    }
    (header, segments)
}

#[test]
fn oem_holds_every_state_of_the_csv_under_a_header_and_a_segment_per_body() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("two.json");
    std::fs::write(&file, SCENARIO).unwrap();
    let steps = 400; // 50 minutes: the run crosses midnight into a new year.
    let csv = propagate(&file, &steps.to_string(), "csv");
    let oem = propagate(&file, &steps.to_string(), "oem");

    let (header, segments) = parse_oem(&oem);
    assert_eq!(header["ORIGINATOR"], "SEDARO-NANO");
    let created = unix_seconds(&header["CREATION_DATE"]);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!(
        (created - now).abs() < 600.0,
        "CREATION_DATE {}",
        header["CREATION_DATE"]
    );

    let epoch = unix_seconds("2026-12-31T23:50:00");
    assert_eq!(segments.len(), 2);
    for (body, segment) in segments.iter().enumerate() {
        let m = &segment.meta;
        assert_eq!(m["OBJECT_NAME"], ["sat-1", "sat 2"][body]);
        assert_eq!(m["OBJECT_ID"], body.to_string());
        assert_eq!(m["CENTER_NAME"], "EARTH");
        assert_eq!(m["REF_FRAME"], "EME2000");
        assert_eq!(m["TIME_SYSTEM"], "UTC");
        assert_eq!(unix_seconds(&m["START_TIME"]), epoch);
        assert_eq!(unix_seconds(&m["STOP_TIME"]), epoch + steps as f64 * 7.5);
        assert_eq!(segment.data.len(), steps + 1);
        assert_eq!(segment.data[0].0, m["START_TIME"]);
        assert_eq!(segment.data[steps].0, m["STOP_TIME"]);
        assert!(segment.data[steps].0.starts_with("2027-01-01T00:"));
    }

    // Every state of the CSV, at its time, in its body's segment, to the bit.
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("t,body,x,y,z,vx,vy,vz"));
    let mut found = 0;
    for (i, line) in lines.enumerate() {
        let f: Vec<f64> = line.split(',').map(|v| v.parse().unwrap()).collect();
        let (t, body) = (f[0], f[1] as usize);
        assert_eq!(
            (t, body),
            ((i / 2) as f64 * 7.5, i % 2),
            "rows by time, then body"
        );
        let (text, values) = segment_state(&segments[body], epoch + t);
        assert_eq!(values[..], f[2..], "body {body} at t = {t} ({text})");
        found += 1;
    }
    assert_eq!(found, 2 * (steps + 1));
}

/// The lines of an OEM but its `CREATION_DATE`, which says when it was written.
fn without_creation_date(oem: &str) -> Vec<&str> {
    oem.lines()
        .filter(|l| !l.starts_with("CREATION_DATE = "))
        .collect()
}

#[test]
fn the_oem_read_from_the_log_is_the_computed_one_but_for_its_creation_date() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("two.json");
    std::fs::write(&file, SCENARIO).unwrap();
    let data = dir.path().join("data");
    let (file, data) = (file.to_str().unwrap(), data.to_str().unwrap());
    // Blocks of 100 steps: each body's track crosses blocks.
    let steps = "1000";
    let reference = propagate(Path::new(file), steps, "oem");
    // `command` over the log as OEM, for `steps` steps, with the `extra` flags.
    let oem_of = |command: &str, steps: &str, extra: &[&str]| {
        let flags = [
            "--scenario",
            file,
            "--steps",
            steps,
            "--format",
            "oem",
            "--data",
            data,
        ];
        String::from_utf8(stdout_of(&[&[command][..], &flags, extra].concat())).unwrap()
    };
    let logged = oem_of("propagate", steps, &["--block", "100", "--workers", "2"]);
    let replayed = oem_of("replay", steps, &[]);
    // Logged already: propagate reads it back again without computing.
    let again = oem_of("propagate", "600", &[]);
    let want = without_creation_date(&reference);
    // Three header lines (less CREATION_DATE), eleven a segment, a data line a state.
    assert_eq!(
        want.len(),
        3 + 2 * 11 + 2 * 1001,
        "the reference's own lines"
    );
    for (what, oem) in [("propagate --data", &logged), ("replay", &replayed)] {
        let got = without_creation_date(oem);
        assert_eq!(got.len(), want.len(), "{what}");
        if let Some(i) = (0..want.len()).find(|&i| got[i] != want[i]) {
            panic!(
                "{what}: line {i} is {:?}, the reference's {:?}",
                got[i], want[i]
            );
        }
        let (header, segments) = parse_oem(oem);
        assert!(header.contains_key("CREATION_DATE"), "{what}");
        assert_eq!(segments.len(), 2, "{what}");
    }
    let (_, segments) = parse_oem(&again);
    assert!(segments.iter().all(|s| s.data.len() == 601));
    let shorter = propagate(Path::new(file), "600", "oem");
    assert_eq!(
        without_creation_date(&again),
        without_creation_date(&shorter)
    );
    // Through the dataflow without a log there is nothing to read back body by body.
    let out = run(&[
        "propagate",
        "--scenario",
        file,
        "--steps",
        "10",
        "--format",
        "oem",
        "--workers",
        "2",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--data"), "{stderr}");
}

fn segment_state(segment: &Segment, at: f64) -> &(String, [f64; 6]) {
    segment
        .data
        .iter()
        .find(|(text, _)| (unix_seconds(text) - at).abs() < 1e-6)
        .unwrap_or_else(|| panic!("no data line at {at}"))
}

#[test]
fn json_holds_the_same_states_as_the_csv() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("two.json");
    std::fs::write(&file, SCENARIO).unwrap();
    let csv = propagate(&file, "60", "csv");
    let doc: serde_json::Value = serde_json::from_str(&propagate(&file, "60", "json")).unwrap();
    assert_eq!(doc["model"], "orbit");
    assert_eq!(doc["n"], 60);
    let id = doc["id"].as_str().unwrap();
    assert!(
        id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()),
        "{id}"
    );
    assert_eq!(doc["bodies"], serde_json::json!(["sat-1", "sat 2"]));
    assert_eq!(doc["scenario"]["output_step_s"], 7.5);
    let records = doc["records"].as_array().unwrap();
    let rows: Vec<&str> = csv.lines().skip(1).collect();
    assert_eq!(records.len(), rows.len());
    for (record, row) in records.iter().zip(rows) {
        let from_json: Vec<f64> = record
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        let from_csv: Vec<f64> = row.split(',').map(|v| v.parse().unwrap()).collect();
        assert_eq!(from_json, from_csv);
    }
}

#[test]
fn a_broken_scenario_exits_2_naming_the_field_and_logs_nothing() {
    let good = r#""model": "orbit", "epoch": "2026-01-01T00:00:00Z", "output_step_s": 10"#;
    let one = r#"[{"elements": {"a_km": 7200, "e": 0.1}}]"#;
    let cases: Vec<(String, &str)> = vec![
        (format!(r#"{{{good}, "bodies": [{{"elements": {{"a_km": 7000, "e": 1.0}}}}]}}"#), "bodies[0].elements.e"),
        (format!(r#"{{{good}, "bodies": [{{"elements": {{"a_km": -7000, "e": 0.1}}}}]}}"#), "bodies[0].elements.a_km"),
        (format!(r#"{{{good}, "integrator": {{"method": "euler"}}, "bodies": {one}}}"#), "integrator.method"),
        (format!(r#"{{{good}, "integrator": {{"method": "rk4", "step_s": -1}}, "bodies": {one}}}"#), "integrator.step_s"),
        (format!(r#"{{{good}, "integrator": {{"method": "dop853", "tolerance": 2}}, "bodies": {one}}}"#), "integrator.tolerance"),
        (format!(r#"{{{good}, "forces": ["point_mass", "drag"], "bodies": {one}}}"#), "forces[1]"),
        (format!(r#"{{{good}, "bodies": []}}"#), "bodies"),
        (format!(r#"{{{good}, "bodies": {one}, "tolerence": 1e-9}}"#), "tolerence"),
        (format!(r#"{{{good}, "walker": {{"i_deg": 53, "total": 10, "planes": 3, "phasing": 1, "altitude_km": 550}}}}"#), "walker.total"),
        (r#"{"model": "orbit", "epoch": "2026-13-01T00:00:00Z", "output_step_s": 10, "bodies": [{"elements": {"a_km": 7200, "e": 0.1}}]}"#.into(), "epoch"),
        (format!(r#"{{"model": "orbit", "epoch": "2026-01-01T00:00:00Z", "output_step_s": -10, "bodies": {one}}}"#), "output_step_s"),
        // Three bodies against --max-bodies 2.
        (format!(r#"{{{good}, "bodies": [{{"state": [7000, 0, 0, 0, 7.5, 0]}}, {{"state": [7100, 0, 0, 0, 7.5, 0]}}, {{"state": [7200, 0, 0, 0, 7.4, 0]}}]}}"#), "bodies"),
        (r#"{"model": "planets"}"#.into(), "model"),
        ("{not json".into(), "scenario"),
    ];
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut failures = Vec::new();
    for (i, (doc, field)) in cases.iter().enumerate() {
        let file = dir.path().join(format!("broken-{i}.json"));
        std::fs::write(&file, doc).unwrap();
        let out = run(&[
            "propagate",
            "--scenario",
            file.to_str().unwrap(),
            "--steps",
            "10",
            "--max-bodies",
            "2",
            "--data",
            data.to_str().unwrap(),
        ]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let names_it = stderr.contains(&format!(": {field}:"));
        if out.status.code() != Some(2)
            || !names_it
            || !out.stdout.is_empty()
            || stderr.contains("panicked")
        {
            failures.push(format!(
                "{doc}\n  -> exit {:?}, wanted 2 naming {field}: {stderr}",
                out.status.code()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(!data.exists(), "a refused scenario opened the log");
}

#[test]
fn oem_is_refused_for_the_nano_model_by_name() {
    let out = run(&["propagate", "--steps", "10", "--format", "oem"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--format oem") && stderr.contains("--scenario"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
}

/// The peak resident size of process `pid` so far, in bytes (VmHWM); 0 once it is gone.
fn peak_rss(pid: u32) -> u64 {
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return 0;
    };
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |kb| kb << 10)
}

/// Runs `propagate` on `scenario`, reading its output as it comes and counting it, and
/// returns the lines written and the largest peak resident size seen meanwhile.
fn streamed(scenario: &Path, steps: &str, format: &str) -> (u64, u64) {
    use std::io::Read;
    let mut child = process::bin()
        .args(scenario_args(
            "propagate",
            scenario.to_str().unwrap(),
            steps,
            format,
        ))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let (mut lines, mut peak, mut buf, mut read) = (0u64, 0u64, vec![0u8; 1 << 16], 0u64);
    loop {
        let n = stdout.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        lines += buf[..n].iter().filter(|&&b| b == b'\n').count() as u64;
        read += n as u64;
        if read >= 1 << 20 {
            read = 0;
            peak = peak.max(peak_rss(child.id()));
        }
    }
    assert!(child.wait().unwrap().success(), "{format}");
    (lines, peak)
}

#[test]
fn a_long_run_streams_in_bounded_memory_in_either_order() {
    let dir = tempfile::tempdir().unwrap();
    // Two bodies, a million output steps: 2,000,002 states (112 MB held whole).
    let long = dir.path().join("long.json");
    std::fs::write(
        &long,
        SCENARIO.replace("\"output_step_s\": 7.5", "\"output_step_s\": 1"),
    )
    .unwrap();
    // 20,000 bodies (a Walker shell), 200 steps: 4,020,000 states (225 MB held whole).
    let wide = dir.path().join("wide.json");
    std::fs::write(
        &wide,
        r#"{"model": "orbit", "epoch": "2026-01-01T00:00:00Z", "output_step_s": 10,
            "integrator": {"method": "rk4", "step_s": 10},
            "walker": {"i_deg": 53, "total": 20000, "planes": 100, "phasing": 1, "altitude_km": 550}}"#,
    )
    .unwrap();
    for (file, steps, format, states, bound_mb) in [
        (&long, "1000000", "oem", 2_000_002u64, 24u64),
        (&long, "1000000", "csv", 2_000_002, 24),
        (&wide, "200", "csv", 4_020_000, 96),
    ] {
        let (lines, peak) = streamed(file, steps, format);
        assert!(
            lines >= states,
            "{format}: {lines} lines for {states} states"
        );
        assert!(peak > 0, "{format}: no sample of the peak");
        eprintln!("{format}, {states} states: peak RSS {} MB", peak >> 20);
        assert!(
            peak < bound_mb << 20,
            "{format} of {states} states peaked at {} MB (bound {bound_mb} MB)",
            peak >> 20
        );
    }
}
