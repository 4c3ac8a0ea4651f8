//! Admission of jobs into the engine's memory: what the blocks in flight may hold
//! ([`crate::engine::EngineConfig::blocks_bytes`]), shared out between the jobs.
//!
//! **What a job holds.** A round holds one block of every job in flight; worker 0
//! opens `k` rounds ahead of the last committed one, and the round being committed is
//! held about three times over (its records, the merged form the log takes, their
//! encoding in the log's batch), so `k` rounds ahead hold about `k + 2` rounds. The
//! engine opens at least one round ahead, so each job holds up to [`HELD_ROUNDS`] of
//! its rounds at the floor: that is what it is charged.
//!
//! **The rule.** A job is admitted when its charge fits in what the jobs admitted
//! before it leave of the bound; the sum of the charges then never passes the bound,
//! so the floor of one round ahead (and every window the driver opens above it:
//! `Shared::rounds_ahead`) stays within it whatever the number of jobs or bodies.
//!
//! **An orbit job's epoch** (output steps of every body per round) is chosen when the
//! job is admitted ([`decide`]): the whole epoch ([`crate::job::epoch_steps`]) when it
//! fits, otherwise the longest that fits in what is left, down to an eighth of the
//! whole ([`MIN_EPOCH_DIVISOR`]); below that the job waits (first come, first served)
//! for jobs to end, so that jobs started in a crowd do not crawl at a step a round.
//! An epoch longer than the bound allows at all is cut to what it allows. Output
//! bytes do not depend on the epoch (each body's propagator stops at every output
//! step whatever the epoch), only the number of commits does. A nano job's block is
//! the engine's (`--block`): it starts whole or waits.
//!
//! **Never.** A job whose smallest round (one step of every body, one nano block)
//! charged [`HELD_ROUNDS`] times is over the whole bound could never start: it is
//! refused at submit ([`crate::Error::OverMemory`]) rather than queued for ever.

use crate::model::Record;

/// What one iteration of a nano block takes in memory while the block is in flight:
/// about 1.6 records (one agent steps more often than the other), each a [`Record`].
/// An orbit round is weighed by its records instead ([`crate::job::weight`]).
pub const BLOCK_BYTES_PER_ITERATION: u64 = (std::mem::size_of::<Record>() * 13 / 8) as u64;

/// The rounds of every job the engine holds at its floor of one round ahead.
pub const HELD_ROUNDS: u64 = 3;

/// An orbit job starts with an epoch down to this fraction of its whole epoch; a
/// shorter one waits for room instead.
pub const MIN_EPOCH_DIVISOR: u64 = 8;

/// What a job's rounds weigh: how long a round it would take, and what each of its
/// iterations holds in a round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Weight {
    /// Iterations (output steps) per round it would take with room enough: an orbit
    /// job's whole epoch, a nano job's block.
    pub whole: u64,
    /// Bytes one iteration of a round holds (every body's record of a step).
    pub bytes_per_iteration: u64,
    /// Rounds shorter than `whole` are cut down to a multiple of this (a chunk part
    /// of every body, so that no chunk is a short one) when they are longer than it;
    /// `None`: rounds are `whole` or nothing (a nano job).
    pub align: Option<u64>,
}

/// What admission makes of a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// It starts now, with rounds of `epoch` iterations, charged `charge` bytes.
    Start { epoch: u64, charge: u64 },
    /// It waits for jobs in flight to end.
    Wait,
    /// It could never start: its smallest charge, `needs` bytes, is over the bound.
    Never { needs: u64 },
}

impl Weight {
    /// The bytes a job with rounds of `epoch` iterations is charged.
    pub fn charge(&self, epoch: u64) -> u64 {
        HELD_ROUNDS
            .saturating_mul(epoch)
            .saturating_mul(self.bytes_per_iteration)
    }

    /// The longest round (iterations) whose charge fits in `bytes`, at most `whole`
    /// (0 when none does, or when a round must be whole and the whole does not fit).
    fn longest_within(&self, bytes: u64) -> u64 {
        let per = self.charge(1).max(1);
        let steps = (bytes / per).min(self.whole);
        match self.align {
            _ if steps == self.whole => steps,
            Some(part) if steps > part => steps / part * part,
            Some(_) => steps,
            None => 0,
        }
    }
}

/// Admits a job of `weight` while `in_use` of the `bound` is charged to others.
pub fn decide(weight: &Weight, in_use: u64, bound: u64) -> Decision {
    // The round it gets with the whole bound to itself.
    let capped = weight.longest_within(bound);
    if capped == 0 {
        return Decision::Never {
            needs: weight.charge(match weight.align {
                Some(_) => 1,
                None => weight.whole,
            }),
        };
    }
    let epoch = weight.longest_within(bound.saturating_sub(in_use));
    if epoch >= (capped / MIN_EPOCH_DIVISOR).max(1) {
        Decision::Start {
            epoch,
            charge: weight.charge(epoch),
        }
    } else {
        Decision::Wait
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MB: u64 = 1 << 20;

    /// 100 bodies at the default block: 1,232 steps of 8,000 bytes.
    const SHELL: Weight = Weight {
        whole: 1_232,
        bytes_per_iteration: 8_000,
        align: Some(112),
    };

    #[test]
    fn a_job_takes_its_whole_epoch_while_it_fits() {
        let charge = 3 * 1_232 * 8_000;
        assert_eq!(
            decide(&SHELL, 0, 64 * MB),
            Decision::Start {
                epoch: 1_232,
                charge
            }
        );
        assert_eq!(
            decide(&SHELL, 64 * MB - charge, 64 * MB),
            Decision::Start {
                epoch: 1_232,
                charge
            }
        );
    }

    #[test]
    fn a_job_takes_whole_parts_of_what_is_left_then_waits() {
        // 5 MB left: 218 steps fit, cut to one part of 112 steps... an eighth of the
        // whole epoch is 154, so it waits; 8 MB left: 349 steps, cut to 336.
        assert_eq!(decide(&SHELL, 59 * MB, 64 * MB), Decision::Wait);
        assert_eq!(
            decide(&SHELL, 56 * MB, 64 * MB),
            Decision::Start {
                epoch: 336,
                charge: 3 * 336 * 8_000
            }
        );
    }

    #[test]
    fn an_epoch_longer_than_the_bound_allows_is_cut_to_it() {
        // 16 MB (the share of a 128 MB budget) holds 3 x 699 steps: 672 in parts.
        assert_eq!(
            decide(&SHELL, 0, 16 * MB),
            Decision::Start {
                epoch: 672,
                charge: 3 * 672 * 8_000
            }
        );
        // Short epochs of few bodies are not cut to parts.
        let few = Weight {
            whole: 100,
            bytes_per_iteration: 80_000,
            align: Some(112),
        };
        assert_eq!(
            decide(&few, 0, 12 * MB),
            Decision::Start {
                epoch: 52,
                charge: 3 * 52 * 80_000
            }
        );
    }

    #[test]
    fn a_nano_block_starts_whole_or_waits() {
        let nano = Weight {
            whole: 4_096,
            bytes_per_iteration: 130,
            align: None,
        };
        let charge = 3 * 4_096 * 130;
        assert_eq!(
            decide(&nano, 0, 64 * MB),
            Decision::Start {
                epoch: 4_096,
                charge
            }
        );
        assert_eq!(decide(&nano, 64 * MB - charge + 1, 64 * MB), Decision::Wait);
        assert_eq!(
            decide(&nano, 0, charge - 1),
            Decision::Never { needs: charge }
        );
    }

    #[test]
    fn a_job_whose_one_step_is_over_the_bound_is_never_admitted() {
        // 100,000 bodies: one step of every body is 8 MB, three of them 24 MB.
        let huge = Weight {
            whole: 1,
            bytes_per_iteration: 8_000_000,
            align: Some(112),
        };
        assert_eq!(
            decide(&huge, 0, 16 * MB),
            Decision::Never { needs: 24_000_000 }
        );
        assert!(matches!(
            decide(&huge, 0, 64 * MB),
            Decision::Start { epoch: 1, .. }
        ));
    }
}
