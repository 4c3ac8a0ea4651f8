//! Runs: how one is named ([`RunKey`]) and where one stands ([`Checkpoint`]).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::record::AgentState;

/// The model a run belongs to. There is one today; the key leaves room for more.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Model {
    Nano = 1,
}

impl Model {
    /// The model's name, as runs are exported under it.
    pub const fn name(self) -> &'static str {
        match self {
            Model::Nano => "nano",
        }
    }

    /// The model with tag `tag` (its discriminant), if there is one.
    pub const fn from_tag(tag: u8) -> Option<Model> {
        match tag {
            1 => Some(Model::Nano),
            _ => None,
        }
    }
}

/// Names one run: a model and a seed. A run's records for `n` iterations are the first
/// records of the same run for any longer `n`, so the log keeps one growing run per key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RunKey {
    pub model: Model,
    pub seed: u64,
}

impl RunKey {
    /// The nano run of seed `seed`.
    pub const fn nano(seed: u64) -> Self {
        RunKey {
            model: Model::Nano,
            seed,
        }
    }
}

impl fmt::Display for RunKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} seed {}", self.model.name(), self.seed)
    }
}

/// A record as a checkpoint keeps it: its range and the state at its end.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Segment {
    pub t0: f64,
    pub t1: f64,
    pub state: AgentState,
}

impl Segment {
    /// Whether `t` lies in `[t0, t1)`.
    pub fn contains(&self, t: f64) -> bool {
        self.t0 <= t && t < self.t1
    }
}

/// Where one agent stands: how many steps it took and its two latest records (before
/// the first step, the initial record `[-inf, 0)` alone).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AgentCursor {
    pub steps: u64,
    pub latest: Segment,
    pub previous: Option<Segment>,
}

impl AgentCursor {
    /// The agent's current time: where its latest record ends.
    pub fn time(&self) -> f64 {
        self.latest.t1
    }

    /// The agent's state in the record containing `t`, if the cursor holds one.
    pub fn state_at(&self, t: f64) -> Option<AgentState> {
        if self.latest.contains(t) {
            return Some(self.latest.state);
        }
        self.previous.filter(|s| s.contains(t)).map(|s| s.state)
    }
}

/// Everything needed to continue a run after a whole number of iterations.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub seed: u64,
    /// Iterations completed.
    pub iterations: u64,
    /// One cursor per agent, indexed by `Agent::index`.
    pub agents: [AgentCursor; 2],
}
