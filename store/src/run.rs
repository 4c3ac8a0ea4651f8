//! Runs: how one is named ([`RunKey`]: a model and a run id).
//!
//! The store does not know what a model computes: it knows each model's tag, its name
//! and how many `f64` words one state of one body takes ([`Model::state_words`]). What
//! a model needs to continue a run (its checkpoint) is bytes the model defines.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The model a run belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Model {
    /// The two-body nano model of `docs/model.md` (a run id is a seed).
    Nano = 1,
    /// Orbit scenarios of `docs/orbits.md` (a run id is a hash of the scenario).
    Orbit = 2,
}

/// The most `f64` words a state of any model takes.
pub const MAX_STATE_WORDS: usize = 6;

impl Model {
    /// The model's name, as runs are exported under it.
    pub const fn name(self) -> &'static str {
        match self {
            Model::Nano => "nano",
            Model::Orbit => "orbit",
        }
    }

    /// The model with tag `tag` (its discriminant), if there is one.
    pub const fn from_tag(tag: u8) -> Option<Model> {
        match tag {
            1 => Some(Model::Nano),
            2 => Some(Model::Orbit),
            _ => None,
        }
    }

    /// Whether the model's runs are kept as frames (every body's state at each output
    /// step, the times implied by the step) when their blocks are whole rounds at an
    /// output step; other runs are kept as chunks of records with a time index.
    pub const fn framed(self) -> bool {
        matches!(self, Model::Orbit)
    }

    /// Whether the model's checkpoints are kept in packs (many bodies' slots a value)
    /// rather than one value a slot.
    pub const fn packed_checkpoints(self) -> bool {
        matches!(self, Model::Orbit)
    }

    /// The `f64` words of one body's state in a record: nano `x, y, vx, vy,
    /// nextTimeStep`; orbit `x, y, z, vx, vy, vz` (the state's time is the record's `t1`).
    pub const fn state_words(self) -> usize {
        match self {
            Model::Nano => 5,
            Model::Orbit => 6,
        }
    }
}

/// A run's id within its model: 16 bytes. A nano run's id is its seed (big-endian, in
/// the last 8 bytes), so that nano runs sort by seed; an orbit run's is the first 16
/// bytes of the SHA-256 of its scenario's canonical form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RunId(pub [u8; 16]);

impl RunId {
    /// The id of the nano run of seed `seed`.
    pub const fn seed(seed: u64) -> RunId {
        let b = seed.to_be_bytes();
        RunId([
            0, 0, 0, 0, 0, 0, 0, 0, b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7],
        ])
    }

    /// The id as 32 lowercase hex digits.
    pub fn hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The id written as 32 hex digits (either case), if `text` is one.
    pub fn from_hex(text: &str) -> Option<RunId> {
        if text.len() != 32 || !text.is_ascii() {
            return None;
        }
        let mut id = [0u8; 16];
        for (i, byte) in id.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
        }
        Some(RunId(id))
    }
}

/// Names one run: a model and a run id. A run's records for `n` iterations are the
/// first records of the same run for any longer `n`, so the log keeps one growing run
/// per key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RunKey {
    pub model: Model,
    pub id: RunId,
}

impl RunKey {
    /// The nano run of seed `seed`.
    pub const fn nano(seed: u64) -> Self {
        RunKey {
            model: Model::Nano,
            id: RunId::seed(seed),
        }
    }

    /// The orbit run of id `id`.
    pub const fn orbit(id: RunId) -> Self {
        RunKey {
            model: Model::Orbit,
            id,
        }
    }

    /// The seed of a nano run (the last 8 bytes of its id); `None` for other models.
    pub fn seed(&self) -> Option<u64> {
        (self.model == Model::Nano)
            .then(|| u64::from_be_bytes(self.id.0[8..].try_into().expect("eight bytes")))
    }
}

impl fmt::Display for RunKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.seed() {
            Some(seed) => write!(f, "{} seed {seed}", self.model.name()),
            None => write!(f, "{} {}", self.model.name(), self.id.hex()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nano_keys_keep_their_seed_and_order() {
        for seed in [0, 1, 255, 256, u64::MAX] {
            assert_eq!(RunKey::nano(seed).seed(), Some(seed));
        }
        assert!(RunKey::nano(255) < RunKey::nano(256));
        assert_eq!(RunKey::nano(4).to_string(), "nano seed 4");
        let orbit = RunKey::orbit(RunId([0xab; 16]));
        assert_eq!(orbit.seed(), None);
        assert_eq!(orbit.to_string(), format!("orbit {}", "ab".repeat(16)));
        assert_eq!(RunId::from_hex(&orbit.id.hex()), Some(orbit.id));
        assert_eq!(RunId::from_hex("xyz"), None);
        assert_eq!(RunId::from_hex(&"g".repeat(32)), None);
    }
}
