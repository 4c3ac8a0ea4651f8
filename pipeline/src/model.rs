//! The nano model's vocabulary: its agents, their states and records, where a run
//! stands ([`Checkpoint`]), and the initial conditions; and how they meet the log,
//! which knows bodies and fixed-width states, not agents.
//!
//! An agent is a body of the log (the Planet body 0, the Satellite body 1); its state
//! is the words `x, y, vx, vy, nextTimeStep` (the state's time is the record's `t1`),
//! and a checkpoint is one slot of [`CHECKPOINT_BYTES`] bytes, laid out as version 1
//! of the log kept it in its catalog, so that the log's conversion of a version-1 log
//! moves those bytes unread.

use std::ops::Range;

use nalgebra::Vector2;
use serde::{Deserialize, Serialize};

use nano_store::record::State;
use nano_store::run::MAX_STATE_WORDS;
use nano_store::Log;
pub use nano_store::RunKey;

use crate::Error;

/// One of the two bodies of the model. The discriminant is the agent's index, which
/// orders the agents within an iteration, feeds the generator and is the agent's body
/// index in the log.
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

impl Record {
    /// The record as the log keeps it.
    pub fn to_stored(&self) -> nano_store::Record {
        let s = &self.state;
        let mut state: State = [0.0; MAX_STATE_WORDS];
        state[..5].copy_from_slice(&[
            s.position.x,
            s.position.y,
            s.velocity.x,
            s.velocity.y,
            s.time_step,
        ]);
        nano_store::Record {
            t0: self.t0,
            t1: self.t1,
            body: self.agent.index() as u32,
            iteration: self.iteration,
            state,
        }
    }

    /// The nano record a logged record of a nano run holds; `None` for a body that is
    /// no agent.
    pub fn from_stored(r: &nano_store::Record) -> Option<Record> {
        let agent = Agent::from_index(r.body as usize)?;
        let [x, y, vx, vy, time_step, ..] = r.state;
        Some(Record {
            t0: r.t0,
            t1: r.t1,
            agent,
            state: AgentState {
                time: r.t1,
                time_step,
                position: Vector2::new(x, y),
                velocity: Vector2::new(vx, vy),
            },
            iteration: r.iteration,
        })
    }
}

impl Record {
    /// The nano record a record of the nano run `run` read from the log holds; a body
    /// that is no agent is damage.
    pub fn from_logged(run: RunKey, r: nano_store::Record) -> Result<Record, nano_store::Error> {
        Record::from_stored(&r).ok_or_else(|| nano_store::Error::Corrupt {
            position: format!("run {run}, iteration {}", r.iteration),
            detail: format!("a record of body {}, which is no agent", r.body),
        })
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

const SEGMENT_BYTES: usize = 7 * 8;
const CURSOR_BYTES: usize = 8 + SEGMENT_BYTES + 1 + SEGMENT_BYTES;

/// The bytes of a nano checkpoint in the log: per agent, `steps u64`, the latest
/// segment (`t0, t1, nextTimeStep, x, y, vx, vy` as `f64`), a flag byte (1: there is
/// a previous segment) and the previous segment (the latest again when there is
/// none), all little-endian. The seed and the iterations are the run's key and its
/// catalog entry's.
pub const CHECKPOINT_BYTES: usize = 2 * CURSOR_BYTES;

fn put_segment(out: &mut Vec<u8>, s: &Segment) {
    let st = &s.state;
    for v in [
        s.t0,
        s.t1,
        st.time_step,
        st.position.x,
        st.position.y,
        st.velocity.x,
        st.velocity.y,
    ] {
        out.extend_from_slice(&v.to_le_bytes());
    }
}

fn read_segment(bytes: &[u8]) -> Segment {
    let f = |i: usize| f64::from_le_bytes(bytes[8 * i..8 * i + 8].try_into().expect("eight bytes"));
    Segment {
        t0: f(0),
        t1: f(1),
        state: AgentState {
            time: f(1),
            time_step: f(2),
            position: Vector2::new(f(3), f(4)),
            velocity: Vector2::new(f(5), f(6)),
        },
    }
}

impl Checkpoint {
    /// The checkpoint's bytes in the log (see [`CHECKPOINT_BYTES`]).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(CHECKPOINT_BYTES);
        for cursor in &self.agents {
            out.extend_from_slice(&cursor.steps.to_le_bytes());
            put_segment(&mut out, &cursor.latest);
            out.push(cursor.previous.is_some() as u8);
            put_segment(&mut out, &cursor.previous.unwrap_or(cursor.latest));
        }
        out
    }

    /// The checkpoint of seed `seed` after `iterations`, from its bytes in the log.
    pub fn from_bytes(seed: u64, iterations: u64, bytes: &[u8]) -> Result<Checkpoint, String> {
        if bytes.len() != CHECKPOINT_BYTES {
            return Err(format!(
                "a nano checkpoint has {CHECKPOINT_BYTES} bytes, this one {}",
                bytes.len()
            ));
        }
        let cursor = |c: &[u8]| {
            let steps = u64::from_le_bytes(c[..8].try_into().expect("eight bytes"));
            let latest = read_segment(&c[8..8 + SEGMENT_BYTES]);
            let previous = read_segment(&c[9 + SEGMENT_BYTES..]);
            match c[8 + SEGMENT_BYTES] {
                0 => Ok(AgentCursor {
                    steps,
                    latest,
                    previous: None,
                }),
                1 => Ok(AgentCursor {
                    steps,
                    latest,
                    previous: Some(previous),
                }),
                flag => Err(format!("a nano checkpoint's flag is 0 or 1, not {flag}")),
            }
        };
        Ok(Checkpoint {
            seed,
            iterations,
            agents: [
                cursor(&bytes[..CURSOR_BYTES])?,
                cursor(&bytes[CURSOR_BYTES..])?,
            ],
        })
    }
}

/// A run of seed `seed` before its first iteration: each agent holds only its initial
/// record `[-inf, 0)`.
pub fn start(seed: u64) -> Checkpoint {
    Checkpoint {
        seed,
        iterations: 0,
        agents: Agent::ALL.map(|agent| AgentCursor {
            steps: 0,
            latest: Segment {
                t0: f64::NEG_INFINITY,
                t1: 0.0,
                state: initial_state(agent),
            },
            previous: None,
        }),
    }
}

/// The bodies of a nano run in the log.
pub const BODIES: u32 = Agent::ALL.len() as u32;

/// The canonical scenario document of the nano run of seed `seed`.
pub fn document(seed: u64) -> String {
    format!(r#"{{"model":"nano","seed":{seed}}}"#)
}

/// Where the nano run of `seed` stands in `log`: its checkpoint after the iterations
/// logged, or the start when the log holds none.
pub fn logged_checkpoint(log: &Log, seed: u64) -> Result<Checkpoint, Error> {
    let run = RunKey::nano(seed);
    let Some(entry) = log.entry(run)? else {
        return Ok(start(seed));
    };
    let slots = log.checkpoint(run)?;
    let bytes = slots.first().ok_or_else(|| Error::UnreadableCheckpoint {
        run,
        detail: "the log holds none".into(),
    })?;
    Checkpoint::from_bytes(seed, entry.iterations, bytes)
        .map_err(|detail| Error::UnreadableCheckpoint { run, detail })
}

/// The logged records of iterations `iterations` of the nano run of `seed`, in order.
pub fn replay(
    log: &Log,
    seed: u64,
    iterations: Range<u64>,
) -> Result<impl Iterator<Item = Result<Record, nano_store::Error>>, nano_store::Error> {
    let run = RunKey::nano(seed);
    Ok(log
        .replay(run, iterations)?
        .map(move |r| Record::from_logged(run, r?)))
}

/// The state agent `agent` starts every run in (`docs/model.md`, "Agents and initial
/// state").
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Propagator;

    #[test]
    fn records_and_checkpoints_survive_the_logs_form_bit_for_bit() {
        let mut run = Propagator::new(17, 3000);
        let mut records = Vec::new();
        run.run_until(1234, |r| records.push(r));
        for r in &records {
            let back = Record::from_stored(&r.to_stored()).unwrap();
            assert_eq!(format!("{back:?}"), format!("{r:?}"));
        }
        let checkpoint = run.checkpoint().unwrap();
        let bytes = checkpoint.to_bytes();
        assert_eq!(bytes.len(), CHECKPOINT_BYTES);
        let back = Checkpoint::from_bytes(17, 1234, &bytes).unwrap();
        assert_eq!(format!("{back:?}"), format!("{checkpoint:?}"));
        // The start has no previous segment, and says so.
        let start = super::start(3);
        assert_eq!(Checkpoint::from_bytes(3, 0, &start.to_bytes()), Ok(start));
        let mut bad = bytes.clone();
        bad[8 + SEGMENT_BYTES] = 2;
        assert!(Checkpoint::from_bytes(17, 1234, &bad).is_err());
        assert!(Checkpoint::from_bytes(17, 1234, &bytes[1..]).is_err());
        let mut other = records[0].to_stored();
        other.body = 2;
        assert_eq!(Record::from_stored(&other), None);
    }
}
