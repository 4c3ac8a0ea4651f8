//! The engine's commit path: what process 0 shares between its engine handle and
//! worker 0 ([`Shared`]), and the commit stage of the dataflow, which gathers each
//! round's blocks per job, appends them to the log in one batch, and hands their
//! records to the jobs' subscribers (or fails the jobs, when the log refuses them).

use std::sync::atomic::Ordering::SeqCst;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use nano_store::{Block, Log};

use crate::dataflow::{Committer, Round};
use crate::job::{Backlog, BlockOut, Command, Saved, Stored};
use crate::model::RunKey;
use crate::registry::Registry;

/// What process 0 shares between its engine handle and worker 0.
pub(crate) struct Shared {
    pub(crate) registry: Mutex<Registry>,
    /// Iterations committed by every job since start (for the service's metrics).
    pub(crate) committed: AtomicU64,
    /// Why the log could not be written, once it could not. sled keeps failing after a
    /// failed flush (its error is sticky), so the engine takes no new job from then on.
    pub(crate) log_failure: Mutex<Option<String>>,
    /// Set while the log's volume is too full to write (the store refused a block, or
    /// the log opened read-only): unfinished runs wait, and resume when space returns
    /// (see [`watch_space`]).
    pub(crate) waiting_for_space: std::sync::atomic::AtomicBool,
    pub(crate) backlog: Arc<Backlog>,
    pub(crate) log: Option<Log>,
    pub(crate) commands: Sender<Command>,
    /// The registry's job count, shared with it (see [`Shared::in_flight`]).
    pub(crate) in_flight: Arc<AtomicUsize>,
    /// The bytes the blocks in flight may take ([`EngineConfig::blocks_bytes`]).
    pub(crate) blocks_bytes: u64,
    /// What one round of every job admitted holds: the registry's sum of their rounds
    /// ([`job::weight`] at the epoch each was admitted with), read without its lock.
    pub(crate) round_bytes: Arc<AtomicU64>,
    /// Iterations per block (what a job's round holds depends on it).
    pub(crate) block: u64,
    /// The most bytes of records the commit stage has held at once, received and not
    /// yet in the log (see [`EngineHandle::peak_blocks_held`]).
    pub(crate) peak_held: AtomicU64,
    /// The latest runs whose jobs failed, with the reason (at most [`FAILURES_KEPT`]):
    /// a run that fails before its first block leaves nothing in the log to say why.
    pub(crate) failures: Mutex<std::collections::VecDeque<(RunKey, String)>>,
    /// When the engine started: [`Shared::progress_ms`] counts from it.
    pub(crate) started: Instant,
    /// The engine's heartbeat: milliseconds from `started` to the last round committed
    /// or job started (see [`EngineHandle::stalled`]).
    pub(crate) progress_ms: AtomicU64,
}

impl Shared {
    pub(crate) fn lock_registry(&self) -> std::sync::MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Beats the heartbeat: a round was committed, or a job started.
    pub(crate) fn progressed(&self) {
        let now = self.started.elapsed().as_millis() as u64;
        self.progress_ms.store(now, Ordering::Relaxed);
    }

    /// Jobs in flight, read without the registry's lock: worker 0's driver asks on
    /// every step.
    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::SeqCst)
    }

    /// Rounds worker 0 may open ahead of the last committed one, at most `window`: as
    /// many as keep the blocks in flight within their bound, and at least one.
    ///
    /// A round holds one block of every job admitted, each weighed by what it really
    /// holds ([`job::weight`]: an orbit round is some 20 times a nano block of the
    /// same `block`); the round being committed counts three times (its records, the
    /// form the log keeps them in, and their encoding in the log's batch). So `k`
    /// rounds ahead hold about `k + 2` rounds; admission keeps three rounds of every
    /// job within the bound ([`crate::admission`]), so one round ahead always fits.
    pub(crate) fn rounds_ahead(&self, window: u64) -> u64 {
        let round = self.round_bytes.load(Ordering::SeqCst).max(1);
        (self.blocks_bytes / round)
            .saturating_sub(2)
            .clamp(1, window)
    }
}

/// How many failed runs the engine remembers the reason of.
pub const FAILURES_KEPT: usize = 256;

/// Gathers one round's blocks into one per job: an orbit job's shares (one per worker)
/// become one block of every body, its records by iteration then body and its
/// checkpoints by body.
fn gather(blocks: Vec<BlockOut>) -> Vec<BlockOut> {
    let mut out: Vec<BlockOut> = Vec::with_capacity(blocks.len());
    // Per gathered block, the records of each share after the first (each share's
    // are already by iteration then body), merged below.
    let mut shares: Vec<Vec<Vec<Stored>>> = Vec::with_capacity(blocks.len());
    let mut by_job: std::collections::HashMap<(u64, u64), usize> = std::collections::HashMap::new();
    for b in blocks {
        let existing = by_job.get(&(b.job, b.first_iteration)).copied();
        match (existing, b.saved) {
            (Some(i), Saved::Bodies(saved)) => {
                // A share whose body stopped fails the whole block.
                if out[i].failure.is_none() {
                    out[i].failure = b.failure;
                }
                shares[i].push(b.records);
                if let Saved::Bodies(all) = &mut out[i].saved {
                    all.extend(saved);
                }
            }
            (_, saved) => {
                by_job.insert((b.job, b.first_iteration), out.len());
                out.push(BlockOut { saved, ..b });
                shares.push(Vec::new());
            }
        }
    }
    for (b, mut rest) in out.iter_mut().zip(shares) {
        if let Saved::Bodies(saved) = &mut b.saved {
            saved.sort_unstable_by_key(|(body, _)| *body);
            if !rest.is_empty() {
                rest.push(std::mem::take(&mut b.records));
                b.records = merge(rest);
            }
        }
    }
    out
}

/// The records of several shares of one block in one vector by iteration, then body:
/// a merge of runs each already in that order (a worker computes its share so), each
/// record copied once, where sorting the concatenation moved each many times.
fn merge(runs: Vec<Vec<Stored>>) -> Vec<Stored> {
    let key = |r: &Stored| (r.iteration, r.body);
    let total = runs.iter().map(Vec::len).sum();
    let mut out = Vec::with_capacity(total);
    let mut heads = vec![0usize; runs.len()];
    while out.len() < total {
        let mut best: Option<usize> = None;
        for (i, run) in runs.iter().enumerate() {
            if let Some(r) = run.get(heads[i]) {
                if best.is_none_or(|b| key(r) < key(&runs[b][heads[b]])) {
                    best = Some(i);
                }
            }
        }
        let i = best.expect("a run has records left while out is short of the total");
        out.push(runs[i][heads[i]]);
        heads[i] += 1;
    }
    out
}

impl Committer for Arc<Shared> {
    fn holding(&mut self, bytes: u64) {
        self.peak_held.fetch_max(bytes, Ordering::Relaxed);
    }

    fn commit(&mut self, _round: Round, blocks: Vec<BlockOut>) {
        self.progressed();
        // Blocks of jobs that failed earlier are dropped, not logged. The lock is not
        // held across the append: only this stage (worker 0) ends jobs, so the jobs
        // seen here are still in flight after it; submitters that join meanwhile hear
        // of these blocks when they are delivered.
        let (blocks, documents): (Vec<BlockOut>, Vec<Option<String>>) = {
            let mut registry = self.lock_registry();
            let mut kept = Vec::with_capacity(blocks.len());
            for b in gather(blocks) {
                if !registry.contains(b.job) {
                    continue;
                }
                if let Some(reason) = &b.failure {
                    // What the job committed before stays in the log, correct; its
                    // other shares stop computing, and the other jobs go on.
                    registry.fail(b.job, reason);
                    let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
                    failures.retain(|(run, _)| *run != b.run);
                    if failures.len() == FAILURES_KEPT {
                        failures.pop_front();
                    }
                    failures.push_back((b.run, reason.clone()));
                    drop(failures);
                    let _ = self.commands.send(Command::Cancel(b.job));
                    continue;
                }
                if let Saved::Bodies(saved) = &b.saved {
                    // Every body of the run, once each: anything else is a bug in the
                    // dealing of bodies, and logging it would lose a body's states.
                    if saved.len() != b.bodies as usize
                        || saved
                            .iter()
                            .enumerate()
                            .any(|(i, (body, _))| *body as usize != i)
                    {
                        registry.fail(
                            b.job,
                            &format!(
                                "the block from step {} holds {} checkpoints, not one for each of the run's {} bodies in order",
                                b.first_iteration,
                                saved.len(),
                                b.bodies
                            ),
                        );
                        continue;
                    }
                }
                let document = (b.first_iteration == 0)
                    .then(|| match &b.saved {
                        Saved::Nano(checkpoint) => Some(crate::model::document(checkpoint.seed)),
                        Saved::Bodies(_) => registry.scenario(b.job).map(|s| s.to_string()),
                    })
                    .flatten();
                kept.push((b, document));
            }
            kept.into_iter().unzip()
        };
        if let Some(log) = &self.log {
            // The checkpoints as the log keeps them: one allocation per block and body.
            let checkpoints: Vec<Vec<Vec<u8>>> = blocks
                .iter()
                .map(|b| match &b.saved {
                    Saved::Nano(checkpoint) => vec![checkpoint.to_bytes()],
                    Saved::Bodies(saved) => saved.iter().map(|(_, bytes)| bytes.clone()).collect(),
                })
                .collect();
            let appended = log.append(
                &blocks
                    .iter()
                    .zip(&checkpoints)
                    .zip(&documents)
                    .map(|((b, checkpoint), document)| Block {
                        run: b.run,
                        bodies: b.bodies,
                        target: b.target,
                        first_iteration: b.first_iteration,
                        end: b.end,
                        records: &b.records,
                        checkpoint,
                        document: document.as_deref(),
                    })
                    .collect::<Vec<_>>(),
            );
            if let Err(e) = appended {
                let reason = e.to_string();
                if matches!(e, nano_store::Error::NoSpace { .. }) {
                    // Refused by the store before sled wrote anything: not sticky. The
                    // runs resume from their last block when space returns.
                    self.waiting_for_space.store(true, SeqCst);
                } else {
                    *self.log_failure.lock().unwrap_or_else(|e| e.into_inner()) =
                        Some(reason.clone());
                }
                let mut registry = self.lock_registry();
                for b in &blocks {
                    registry.fail(b.job, &reason);
                }
                for job in registry.admit_waiting() {
                    let _ = self.commands.send(Command::Submit(Box::new(job)));
                }
                return;
            }
        }
        let mut continued = Vec::new();
        {
            let mut registry = self.lock_registry();
            for b in blocks {
                let Some(delivery) = registry.deliver(b, &self.backlog) else {
                    continue;
                };
                self.committed
                    .fetch_add(delivery.iterations, Ordering::Relaxed);
                if let Some(job) = delivery.continued {
                    continued.push((job.run, job.target));
                    let _ = self.commands.send(Command::Submit(Box::new(job)));
                }
            }
            // The jobs that ended (and any that failed the checks above) made room.
            for job in registry.admit_waiting() {
                let _ = self.commands.send(Command::Submit(Box::new(job)));
            }
        }
        // A continued run's new target reaches the catalog before its first block
        // (committed by this stage, in a later round).
        if let Some(log) = &self.log {
            for (run, target) in continued {
                let _ = log.raise_target(run, target);
            }
        }
    }
}
