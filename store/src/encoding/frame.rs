//! Frames: the states of a group of bodies over some output steps of a run whose
//! records are arithmetic (see "Frames" in the format's documentation).

use super::{
    check, decode_key, seal, Invalid, Key, Reader, FRAME_HEADER, FRAME_STEPS, GROUP_BODIES,
};
use crate::record::{Record, State};
use crate::run::MAX_STATE_WORDS;

/// The iteration of a run written as frames whose record's range
/// `[k * step, (k + 1) * step)` contains `t`; `None` before `0` (and for NaN).
pub fn iteration_at(t: f64, step: f64) -> Option<u64> {
    if t.is_nan() || t < 0.0 || step.is_nan() || step <= 0.0 {
        return None;
    }
    let guess = (t / step).floor();
    if guess.is_nan() || guess >= 9.0e15 {
        return None;
    }
    // The division may round across an end: the ends are `k as f64 * step`, exactly as
    // written, so the guess is moved until its range holds `t`.
    let mut k = guess as u64;
    while k > 0 && k as f64 * step > t {
        k -= 1;
    }
    while (k + 1) as f64 * step <= t {
        k += 1;
    }
    Some(k)
}

/// Appends the frame for `key` (a frame key) to `out`: the states of `bodies` bodies
/// over some output steps of a block ending at `end`, of a run whose record of
/// iteration `k` spans `[k * step, (k + 1) * step)`. `rows` are the frame's records,
/// one slice of its `bodies` bodies per iteration; only their states are kept.
pub fn encode_frame<'r>(
    key: &[u8],
    words: usize,
    step: f64,
    end: u64,
    bodies: u32,
    rows: impl Iterator<Item = &'r [Record]>,
    out: &mut Vec<u8>,
) {
    let start = out.len();
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&step.to_le_bytes());
    out.extend_from_slice(&end.to_le_bytes());
    out.extend_from_slice(&bodies.to_le_bytes());
    for row in rows {
        out.reserve(row.len() * 8 * words);
        for r in row {
            for w in &r.state[..words] {
                out.extend_from_slice(&w.to_le_bytes());
            }
        }
    }
    seal(key, &mut out[start..]);
}

/// A frame whose checksum and shape were verified: the states of bodies
/// `first_body .. first_body + bodies` over iterations `first .. first + steps` of a
/// run written as frames; records decode from it on demand.
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    /// The block's first iteration (the key's).
    pub block: u64,
    /// The exclusive last iteration of the block.
    pub end: u64,
    pub part: u16,
    /// The output step: record `k` spans `[k * step, (k + 1) * step)`.
    pub step: f64,
    pub first_body: u32,
    pub bodies: u32,
    /// The frame's first iteration.
    pub first: u64,
    pub steps: u64,
    words: usize,
    states: &'a [u8],
}

impl<'a> Frame<'a> {
    /// Verifies and opens the frame stored under `key`.
    pub fn parse(key: &[u8], value: &'a [u8]) -> Result<Frame<'a>, Invalid> {
        let Ok(Key::Frame {
            run,
            first_iteration,
            body,
            part,
        }) = decode_key(key)
        else {
            return Err("not a frame key");
        };
        if value.len() < FRAME_HEADER {
            return Err("frame shorter than its header");
        }
        check(key, value)?;
        let words = run.model.state_words();
        let mut header = Reader(&value[4..FRAME_HEADER]);
        let step = header.f64();
        let end = header.u64();
        let bodies = header.u32();
        if !(step > 0.0 && step.is_finite()) {
            return Err("frame with an output step that is not a positive number");
        }
        if bodies == 0 || bodies > GROUP_BODIES || body % GROUP_BODIES != 0 {
            return Err("frame of a group of bodies that is not one");
        }
        let first = (part as u64)
            .checked_mul(FRAME_STEPS)
            .and_then(|offset| first_iteration.checked_add(offset))
            .filter(|&first| first < end && end < 1 << 53)
            .ok_or("frame outside its block")?;
        let steps = (end - first).min(FRAME_STEPS);
        let states = &value[FRAME_HEADER..];
        if states.len() as u64 != steps * bodies as u64 * 8 * words as u64 {
            return Err("frame length does not match its steps and bodies");
        }
        Ok(Frame {
            block: first_iteration,
            end,
            part,
            step,
            first_body: body,
            bodies,
            first,
            steps,
            words,
            states,
        })
    }

    /// The record of iteration `iteration` (in the frame) of the frame's `j`-th body.
    pub fn record(&self, iteration: u64, j: u32) -> Record {
        let at = ((iteration - self.first) as usize * self.bodies as usize + j as usize)
            * 8
            * self.words;
        let mut r = Reader(&self.states[at..at + 8 * self.words]);
        let mut state: State = [0.0; MAX_STATE_WORDS];
        for w in &mut state[..self.words] {
            *w = r.f64();
        }
        Record {
            t0: iteration as f64 * self.step,
            t1: (iteration + 1) as f64 * self.step,
            body: self.first_body + j,
            iteration,
            state,
        }
    }

    /// Every record, by iteration then body.
    pub fn records(&self) -> impl Iterator<Item = Record> + '_ {
        (self.first..self.first + self.steps)
            .flat_map(move |k| (0..self.bodies).map(move |j| self.record(k, j)))
    }

    /// How many records the frame holds.
    pub fn len(&self) -> usize {
        (self.steps * self.bodies as u64) as usize
    }

    /// Whether the frame holds no record (never, once parsed).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
