//! What a run writes: one record per step of one body.
//!
//! A record is plain data the store does not interpret beyond its range: body `body`
//! stepped over `[t0, t1)` during iteration `iteration` and reached `state`, whose
//! first [`crate::run::Model::state_words`] words the run's model defines (the words
//! past them are zero). The models (in `nano-pipeline`) turn their own states into
//! records and back.

use serde::{Deserialize, Serialize};

use crate::run::MAX_STATE_WORDS;

/// A body's state as the store keeps it: fixed-width words the model defines.
pub type State = [f64; MAX_STATE_WORDS];

/// One record of a run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub t0: f64,
    pub t1: f64,
    /// The body's index within its run (a nano run's Planet is 0, its Satellite 1).
    pub body: u32,
    pub iteration: u64,
    pub state: State,
}
