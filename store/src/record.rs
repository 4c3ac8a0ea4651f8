//! What a run writes: agents, their states and the records of their steps.
//!
//! These are plain data, shared by the model (in `nano-pipeline`, which gives them
//! their dynamics) and the log (which stores them).

use nalgebra::Vector2;
use serde::{Deserialize, Serialize};

/// One of the two bodies of the model. The discriminant is the agent's index, which
/// orders the agents within an iteration and feeds the generator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Agent {
    Planet = 0,
    Satellite = 1,
}

impl Agent {
    /// Every agent, in the order an iteration visits them.
    pub const ALL: [Agent; 2] = [Agent::Planet, Agent::Satellite];

    /// The agent's index: its position in [`Agent::ALL`].
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The agent's name as it appears in exported runs.
    pub const fn name(self) -> &'static str {
        match self {
            Agent::Planet => "Planet",
            Agent::Satellite => "Satellite",
        }
    }

    /// The agent with index `index`, if there is one.
    pub const fn from_index(index: usize) -> Option<Agent> {
        match index {
            0 => Some(Agent::Planet),
            1 => Some(Agent::Satellite),
            _ => None,
        }
    }
}

/// An agent's state at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AgentState {
    /// The instant this state describes.
    pub time: f64,
    /// The length of the agent's next step (drawn when the state was made).
    pub time_step: f64,
    pub position: Vector2<f64>,
    pub velocity: Vector2<f64>,
}

/// One record of a run: agent `agent` stepped over `[t0, t1)` during iteration
/// `iteration` and reached `state` (so `state.time == t1`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub t0: f64,
    pub t1: f64,
    pub agent: Agent,
    pub state: AgentState,
    pub iteration: u64,
}
