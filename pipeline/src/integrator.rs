//! One step of one agent: the dynamics of the nano model (`docs/model.md`), in
//! exactly its operation order.
//!
//! The order of floating-point operations is part of the model: the orbit magnifies a
//! one-ulp difference past 1e-9 within a few thousand iterations, so every expression
//! here is written as `docs/model.md` writes it (component by component, `powf(1.5)`,
//! no fused multiply-add).

use crate::model::{Agent, AgentState};

/// The states an agent sees when it steps, one per agent, indexed by [`Agent::index`].
pub type Universe = [AgentState; 2];

/// Advances `agent` by its own time step from its state in `universe`.
///
/// `time` is the new state's instant (the caller's `t + dt`, accumulated as
/// `docs/model.md` says) and `next_step` the length of the step after this one.
pub fn advance(agent: Agent, universe: &Universe, time: f64, next_step: f64) -> AgentState {
    let own = &universe[agent.index()];
    let dt = own.time_step;
    let (position, velocity) = match agent {
        Agent::Planet => (own.position + own.velocity * dt, own.velocity),
        Agent::Satellite => {
            let planet = &universe[Agent::Planet.index()];
            let d = planet.position - own.position;
            let r3 = (d.x * d.x + d.y * d.y).powf(1.5);
            let velocity = own.velocity + (d / r3) * dt;
            (own.position + velocity * dt, velocity)
        }
    };
    AgentState {
        time,
        time_step: next_step,
        position,
        velocity,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::initial_state;
    use nalgebra::Vector2;

    fn universe() -> Universe {
        [
            initial_state(Agent::Planet),
            initial_state(Agent::Satellite),
        ]
    }

    #[test]
    fn the_planet_drifts_at_constant_velocity() {
        let next = advance(Agent::Planet, &universe(), 0.01, 0.05);
        assert_eq!(next.velocity, Vector2::new(0.1, 0.0));
        assert_eq!(next.position, Vector2::new(0.1 * 0.01, 0.1));
        assert_eq!((next.time, next.time_step), (0.01, 0.05));
    }

    #[test]
    fn the_satellite_falls_toward_the_planet_then_moves() {
        // Written out in scalars, the way `docs/model.md` states it.
        let [p, s] = universe();
        let (dx, dy) = (p.position.x - s.position.x, p.position.y - s.position.y);
        let r3 = (dx * dx + dy * dy).powf(1.5);
        let vx = s.velocity.x + dx / r3 * s.time_step;
        let vy = s.velocity.y + dy / r3 * s.time_step;
        let next = advance(Agent::Satellite, &universe(), 0.01, 0.05);
        assert_eq!(next.velocity, Vector2::new(vx, vy));
        assert_eq!(
            next.position,
            Vector2::new(s.position.x + vx * 0.01, s.position.y + vy * 0.01)
        );
        assert!(next.velocity.y < 0.0, "pulled down toward the planet");
    }
}
