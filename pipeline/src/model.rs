//! The nano model's vocabulary (defined in `nano-store`, which logs it) and its initial
//! conditions.

use nalgebra::Vector2;
pub use nano_store::record::{Agent, AgentState, Record};
pub use nano_store::run::{AgentCursor, Checkpoint, RunKey, Segment};

/// The state agent `agent` starts every run in (MODEL.md, "Agents and initial state").
pub fn initial_state(agent: Agent) -> AgentState {
    let (position, velocity) = match agent {
        Agent::Planet => (Vector2::new(0.0, 0.1), Vector2::new(0.1, 0.0)),
        Agent::Satellite => (Vector2::new(0.0, 1.0), Vector2::new(1.0, 0.0)),
    };
    AgentState {
        time: 0.0,
        time_step: 0.01,
        position,
        velocity,
    }
}
