//! The decimated series the API promises (`&points=K`), computed here from a golden
//! run by the rule the API documents, independently of the service's code: each
//! agent's records in order, every `stride`-th of them from the first, with
//! `stride = ceil(n / K)` (an agent writes at most one record per iteration), and the
//! agent's last record when the stride skipped it. A point is the record's end time
//! `t1` and the position `x`, `y` there.
//!
//! `tests/browser.rs` and `web/tests/api.rs` both hold the service to this oracle.

use serde_json::Value;

/// One agent's decimated series.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Series {
    pub t: Vec<f64>,
    pub x: Vec<f64>,
    pub y: Vec<f64>,
}

/// The decimated series of every agent of the golden document `golden`, for `points`
/// points per agent, in the order agents first appear (Planet, then Satellite).
pub fn decimate(golden: &Value, points: u64) -> Vec<(String, Series)> {
    let n = golden["n"].as_u64().expect("a golden run has n");
    let stride = n.div_ceil(points).max(1) as usize;
    let mut agents: Vec<(String, Vec<&Vec<Value>>)> = Vec::new();
    for record in golden["records"].as_array().expect("records") {
        let record = record.as_array().expect("a record is an array");
        let agent = record[2].as_str().expect("the agent's name");
        match agents.iter_mut().find(|(name, _)| name == agent) {
            Some((_, records)) => records.push(record),
            None => agents.push((agent.to_owned(), vec![record])),
        }
    }
    agents
        .into_iter()
        .map(|(name, records)| {
            let mut kept: Vec<usize> = (0..records.len()).step_by(stride).collect();
            if kept.last() != Some(&(records.len() - 1)) {
                kept.push(records.len() - 1);
            }
            let column = |c: usize| -> Vec<f64> {
                kept.iter()
                    .map(|&i| records[i][c].as_f64().expect("a number"))
                    .collect()
            };
            let series = Series {
                t: column(1),
                x: column(3),
                y: column(4),
            };
            (name, series)
        })
        .collect()
}

/// Asserts that `got` holds the values of `want`, one for one, each within
/// `tolerance`.
pub fn assert_values(what: &str, got: &[f64], want: &[f64], tolerance: f64) {
    assert_eq!(got.len(), want.len(), "{what}: number of points");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= tolerance,
            "{what}: point {i} is {g}, the golden run's decimation has {w}"
        );
    }
}

/// The numbers of a JSON array.
pub fn floats(array: &Value) -> Vec<f64> {
    array
        .as_array()
        .expect("an array")
        .iter()
        .map(|v| v.as_f64().expect("a number"))
        .collect()
}
