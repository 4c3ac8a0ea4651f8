//! What the workspace's tests share, in one crate that only tests depend on.
//!
//! Oracles that share no code with what they check: [`kepler`] (the two-body orbit
//! by universal variables, docs/orbits.md's elements and Walker pattern),
//! [`conjunctions`] (the Hermite cubic and a brute-force screening), [`crossing`]
//! (orbits that meet, some in closed form) and [`series`] (a golden run decimated as
//! the API documents); the [`golden`] runs themselves; a [`tmpfs`] to fill; a
//! deterministic generator of synthetic data ([`lcg`]); catalogues of synthetic
//! element sets ([`tle`]); and the files of packages installed from public registries
//! by `.ci/deps` ([`packages`]).
//!
//! With the `process` feature, the whole-process tests' part: the built binary
//! ([`process`]), `serve` started and asked ([`server`], [`http`]), and clusters and
//! redis-servers ([`cluster`]). With `service`, the service in the test's own process,
//! asked without sockets ([`service`]).
//!
//! ```no_run
//! let csv = nano_testing::process::stdout_of(&["propagate", "--steps", "10", "--format", "csv"]);
//! assert!(!csv.is_empty());
//! ```

use std::path::Path;

pub mod conjunctions;
pub mod crossing;
pub mod golden;
pub mod kepler;
pub mod lcg;
pub mod packages;
pub mod series;
pub mod tle;
pub mod tmpfs;

#[cfg(feature = "process")]
pub mod cluster;
#[cfg(feature = "process")]
pub mod http;
#[cfg(feature = "process")]
pub mod process;
#[cfg(feature = "process")]
pub mod server;
#[cfg(feature = "service")]
pub mod service;

/// The workspace's root directory (where `testdata/` and `cluster/` are).
pub fn workspace() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the testing crate sits in the workspace")
}
