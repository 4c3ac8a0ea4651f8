//! `sedaro-nano accuracy` as a user runs it: the table, the JSON report, and bad flags.

use nano_testing::process::run;

const METHODS: [&str; 3] = ["dop853", "yoshida4", "rk4"];
const ECCENTRICITIES: [f64; 3] = [0.0, 0.1, 0.7];

#[test]
fn json_report_holds_every_integrator_on_every_orbit() {
    let out = run(&["accuracy", "--orbits", "20", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("--json writes JSON");
    assert_eq!(doc["orbits"], 20);
    let rows = doc["rows"].as_array().expect("rows");
    assert_eq!(rows.len(), 9);
    for method in METHODS {
        for e in ECCENTRICITIES {
            let row = rows
                .iter()
                .find(|r| r["integrator"] == method && r["e"].as_f64() == Some(e))
                .unwrap_or_else(|| panic!("no row for {method} at e = {e}"));
            assert_eq!(row["orbits"], 20);
            let energy = row["max_rel_energy_err"].as_f64().unwrap();
            let h = row["max_rel_h_err"].as_f64().unwrap();
            let position = row["final_position_err_m"].as_f64().unwrap();
            assert!(energy >= 0.0 && h >= 0.0 && position >= 0.0, "{row}");
            assert!(row["steps"].as_u64().unwrap() > 0 && row["seconds"].as_f64().unwrap() >= 0.0);
            // The series, plotted on a log scale, reaches into the run's last stretch
            // (each point is the largest error of its stretch, where it occurred) and
            // holds the largest error.
            let series = row["energy_series"].as_array().unwrap();
            assert!(!series.is_empty() && series.len() <= 500);
            let last_t = series.last().unwrap()[0].as_f64().unwrap();
            assert!(
                last_t > 19.9 && last_t <= 20.0 + 1e-9,
                "{method} e={e}: series ends at {last_t}"
            );
            let top = series
                .iter()
                .map(|p| p[1].as_f64().unwrap())
                .fold(0.0, f64::max);
            assert_eq!(top, energy);
            if method == "dop853" {
                // Twenty orbits at 1e-12: the thousand-orbit bounds of
                // `pipeline/tests/orbit.rs` hold a fortiori.
                assert!(energy < 1e-8 && position < 5000.0, "{row}");
            }
        }
    }
}

#[test]
fn the_table_has_a_line_per_case() {
    let out = run(&["accuracy", "--orbits", "3"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 10, "{text}");
    assert!(
        lines[0].contains("max |dE/E|") && lines[0].contains("final pos (m)"),
        "{text}"
    );
    for (line, method) in lines[1..].iter().zip(METHODS.iter().flat_map(|m| [m; 3])) {
        assert!(line.starts_with(method), "{line}");
    }
}

#[test]
fn bad_orbits_are_named_and_exit_with_status_2() {
    for bad in ["0", "-3", "abc", "100001", "1.5"] {
        let out = run(&["accuracy", "--orbits", bad]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "--orbits {bad}: {stderr}");
        assert!(stderr.contains("--orbits"), "--orbits {bad}: {stderr}");
        assert!(out.stdout.is_empty());
    }
}
