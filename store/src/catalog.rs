//! The run catalog: for each run in the log, how far it got and how to continue it.

use crate::run::{Checkpoint, RunKey};

/// What the log knows of one run. It is written in the same atomic batch as the block
/// it describes, so it never disagrees with the records.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CatalogEntry {
    pub run: RunKey,
    /// The most iterations anyone asked of this run.
    pub target: u64,
    /// Iterations logged: the records of iterations `0..iterations` are all in the log.
    pub iterations: u64,
    /// Records logged.
    pub records: u64,
    /// When the run's first block was logged, in milliseconds since the Unix epoch.
    pub created_ms: u64,
    /// When its latest block was logged, likewise.
    pub updated_ms: u64,
    /// The state after iteration `iterations - 1`, to continue from.
    pub checkpoint: Checkpoint,
}

impl CatalogEntry {
    /// Whether the run reached the most iterations asked of it.
    pub fn complete(&self) -> bool {
        self.iterations >= self.target
    }
}
