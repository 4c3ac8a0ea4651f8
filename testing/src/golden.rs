//! The golden runs of `testdata/golden`, made by an independent implementation of
//! `docs/model.md`, and the check that a run reproduces one.

use std::path::PathBuf;

use serde_json::Value;

use crate::workspace;

/// The tolerance `docs/model.md` grants every float of a golden record.
pub const TOLERANCE: f64 = 1e-9;

/// One golden run from `testdata/golden`: made by an independent implementation of
/// `docs/model.md`.
pub struct Golden {
    pub n: u64,
    pub seed: u64,
    pub path: PathBuf,
}

impl Golden {
    /// The golden document's bytes.
    pub fn bytes(&self) -> Vec<u8> {
        std::fs::read(&self.path).expect("golden files are readable")
    }

    /// The golden document, parsed.
    pub fn document(&self) -> Value {
        serde_json::from_slice(&self.bytes()).expect("golden files are JSON")
    }
}

/// Every golden run shipped with the project, smallest first.
pub fn golden_runs() -> Vec<Golden> {
    let dir = workspace().join("testdata/golden");
    let mut runs: Vec<Golden> = std::fs::read_dir(&dir)
        .expect("testdata/golden exists")
        .map(|entry| entry.expect("a readable directory entry").path())
        .filter_map(|path| {
            let name = path
                .file_stem()?
                .to_str()?
                .strip_prefix("nano-n")?
                .to_owned();
            let (n, seed) = name.split_once("-seed")?;
            Some(Golden {
                n: n.parse().ok()?,
                seed: seed.parse().ok()?,
                path,
            })
        })
        .collect();
    runs.sort_by_key(|g| g.n);
    assert!(runs.len() >= 3, "the golden runs are missing from {dir:?}");
    runs
}

/// Asserts that `actual` reproduces `golden` as `docs/model.md` demands: the same
/// header, the same record count and order, the same agent and iteration in each
/// record, and every float within [`TOLERANCE`].
pub fn assert_reproduces(actual: &Value, golden: &Value) {
    for field in ["model", "n", "seed", "columns"] {
        assert_eq!(actual[field], golden[field], "header field {field}");
    }
    let (got, want) = (records(actual), records(golden));
    assert_eq!(got.len(), want.len(), "record count");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let (g, w) = (g.as_array().unwrap(), w.as_array().unwrap());
        assert_eq!(g.len(), 9, "record {i} has nine values");
        assert_eq!(g[2], w[2], "agent of record {i}");
        assert_eq!(g[8], w[8], "iteration of record {i}");
        for c in [0, 1, 3, 4, 5, 6, 7] {
            let (a, b) = (g[c].as_f64().unwrap(), w[c].as_f64().unwrap());
            assert!(
                (a - b).abs() <= TOLERANCE,
                "record {i}, column {c}: {a} differs from the golden {b}"
            );
        }
    }
}

/// The records of a run document.
pub fn records(doc: &Value) -> &Vec<Value> {
    doc["records"]
        .as_array()
        .expect("a run document has a records array")
}

/// The bytes of the golden run `name` (a file of `testdata/golden`).
pub fn read(name: &str) -> Vec<u8> {
    std::fs::read(workspace().join("testdata/golden").join(name))
        .expect("golden files are readable")
}
