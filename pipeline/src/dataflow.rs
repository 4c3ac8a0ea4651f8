//! The dataflow: jobs in, blocks propagated per round, blocks committed per round.
//!
//! ```text
//! jobs (input on worker 0)
//!   -> exchange by job -> propagate: each round, one block of every active job
//!   -> exchange to worker 0 -> commit: when the frontier passes a round, append its
//!      blocks to the log (one commit), then report progress and completion
//!   -> probe (worker 0 paces the rounds by it)
//! ```
//!
//! Timestamps are rounds. Worker 0 advances its input a few rounds ahead of the probe
//! while any job is in flight, and not at all otherwise, so an idle cluster parks. A
//! round holds one block of every active job, so a long run never holds back a short
//! one: each completes in the round its last block is committed.

use std::collections::BTreeMap;

use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::{Capability, Operator};
use timely::dataflow::Stream;

use crate::job::{ActiveJob, BlockOut, Order, Stored};

/// A round of the dataflow.
pub type Round = u64;

/// Which worker an order goes to: a job by its id, so that jobs are dealt round-robin
/// over the workers (a run has one job in flight at a time: single flight keys jobs by
/// run), and a stop to the worker it names.
fn route(order: &Order) -> u64 {
    match order {
        Order::Run(job) => job.id,
        Order::Share(share) => share.worker,
        Order::Stop { worker } | Order::Cancel { worker, .. } => *worker,
    }
}

/// Propagates every job routed to this worker, one block of `block` iterations per
/// job per round, emitting each round's blocks at that round once no more jobs can
/// arrive for it.
pub fn propagate<'s>(
    orders: Stream<'s, Round, Vec<Order>>,
    block: u64,
) -> Stream<'s, Round, Vec<BlockOut>> {
    orders.unary_frontier::<CapacityContainerBuilder<Vec<BlockOut>>, _, _, _>(
        Exchange::new(route),
        "Propagate",
        move |_initial, _info| {
            // Each job with the round it entered: it computes its first block then, so
            // that every worker's share of an orbit job computes the same epoch in the
            // same round (a worker already busy would otherwise start it earlier).
            let mut active: Vec<(Round, ActiveJob)> = Vec::new();
            // Held while any job is active, at the next round to compute.
            let mut round: Option<Capability<Round>> = None;
            move |(input, frontier), output| {
                input.for_each(|stamp, orders| {
                    let from = stamp.least().copied().unwrap_or_default();
                    for order in orders.drain(..) {
                        match order {
                            Order::Run(job) => active.push((from, ActiveJob::new(job))),
                            Order::Share(share) => active.push((from, ActiveJob::share(*share))),
                            Order::Stop { .. } => active.clear(),
                            Order::Cancel { job, .. } => active.retain(|(_, j)| j.id() != job),
                        }
                    }
                    if active.is_empty() {
                        round = None;
                    } else if let Some(cap) = stamp.retain_least(output.output_index()) {
                        if round.as_ref().is_none_or(|held| cap.time() < held.time()) {
                            round = Some(cap);
                        }
                    }
                });
                while let Some(cap) = round.as_mut() {
                    let now = *cap.time();
                    if frontier.less_equal(&now) {
                        break; // jobs may still arrive for this round
                    }
                    let mut session = output.session(&*cap);
                    for (_, job) in active.iter_mut().filter(|(from, _)| *from <= now) {
                        session.give(job.next_block(block));
                    }
                    drop(session);
                    active.retain(|(_, job)| !job.done());
                    if active.is_empty() {
                        round = None;
                    } else {
                        cap.downgrade(&(now + 1));
                    }
                }
            }
        },
    )
}

/// What the commit stage does with one round's blocks (on worker 0).
pub trait Committer: 'static {
    /// Called once per round, in round order, with every block of the round.
    fn commit(&mut self, round: Round, blocks: Vec<BlockOut>);

    /// Told, once an activation, the bytes of records the stage holds (received, not
    /// yet committed): what the rounds opened ahead of the log really take.
    fn holding(&mut self, _bytes: u64) {}
}

/// Gathers every block on worker 0 and hands each round's blocks to `committer` once
/// the frontier has passed the round. Other workers receive nothing and never call it.
pub fn commit<'s, C: Committer>(
    blocks: Stream<'s, Round, Vec<BlockOut>>,
    mut committer: Option<C>,
) -> Stream<'s, Round, Vec<u64>> {
    blocks.unary_frontier::<CapacityContainerBuilder<Vec<u64>>, _, _, _>(
        Exchange::new(|_: &BlockOut| 0),
        "Commit",
        move |_initial, _info| {
            // Each pending round keeps its capability until committed, so the probe passes
            // a round only after its blocks are in the log.
            let mut pending: BTreeMap<Round, (Capability<Round>, Vec<BlockOut>)> = BTreeMap::new();
            move |(input, frontier), output| {
                input.for_each(|stamp, blocks| {
                    if let Some(cap) = stamp.retain_least(output.output_index()) {
                        let time = *cap.time();
                        pending
                            .entry(time)
                            .or_insert_with(|| (cap, Vec::new()))
                            .1
                            .append(blocks);
                    }
                });
                if let Some(committer) = committer.as_mut() {
                    // Once an activation, a sum over blocks (not records).
                    let records: usize = pending
                        .values()
                        .flat_map(|(_, blocks)| blocks)
                        .map(|b| b.records.len())
                        .sum();
                    committer.holding((records * std::mem::size_of::<Stored>()) as u64);
                }
                while let Some(entry) = pending.first_entry() {
                    if frontier.less_equal(entry.key()) {
                        break;
                    }
                    let (round, (_cap, blocks)) = entry.remove_entry();
                    if let Some(committer) = committer.as_mut() {
                        committer.commit(round, blocks);
                    }
                }
            }
        },
    )
}
