//! The worker loop: every worker builds the dataflow; worker 0 then drives it (takes
//! the engine's commands, opens rounds up to a window ahead of the last committed one,
//! and parks when there is nothing to do), the others let it run.

use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::thread::Thread;

use timely::dataflow::operators::{Input, Probe};
use timely::dataflow::{InputHandleVec, ProbeHandle};

use crate::commit::Shared;
use crate::dataflow::{self, Round};
use crate::job::{Command, Order};

/// Rounds worker 0 lets the propagation run ahead of the last committed round, at
/// most (fewer when the blocks in flight would pass their bound: `Shared::rounds_ahead`).
const WINDOW: Round = 4;

/// What worker 0 needs to drive: the engine's commands, where to announce its thread
/// (the engine unparks it), and process 0's shared state.
pub(crate) type Driver = (Receiver<Command>, Sender<Thread>, Arc<Shared>);

/// One worker: builds the dataflow; worker 0 then drives it, the others let it run.
pub(crate) fn run_worker(worker: &mut timely::worker::Worker, block: u64, driver: Option<Driver>) {
    let mut input = InputHandleVec::<Round, Order>::new();
    let probe = ProbeHandle::new();
    let committer = driver.as_ref().map(|(_, _, shared)| Arc::clone(shared));
    worker.dataflow::<Round, _, _>(|scope| {
        let orders = scope.input_from(&mut input).container::<Vec<Order>>();
        let blocks = dataflow::propagate(orders, block);
        dataflow::commit(blocks, committer).probe_with(&probe);
    });
    let Some((commands, driver_tx, shared)) = driver else {
        // Only worker 0 feeds jobs; closing the other inputs lets rounds advance.
        drop(input);
        return;
    };
    let _ = driver_tx.send(std::thread::current());
    let mut shutting_down = false;
    loop {
        loop {
            match commands.try_recv() {
                Ok(Command::Submit(job)) => {
                    for order in job.orders(worker.peers()) {
                        input.send(order);
                    }
                }
                Ok(Command::Cancel(job)) => {
                    for worker in 0..worker.peers() {
                        input.send(Order::Cancel {
                            worker: worker as u64,
                            job,
                        });
                    }
                }
                Ok(Command::Shutdown) | Err(mpsc::TryRecvError::Disconnected) => {
                    shutting_down = true;
                    break;
                }
                Err(mpsc::TryRecvError::Empty) => break,
            }
        }
        if shutting_down {
            for worker in 0..worker.peers() {
                input.send(Order::Stop {
                    worker: worker as u64,
                });
            }
            break;
        }
        if shared.in_flight() > 0 {
            // Let propagation run a few rounds ahead of the last committed round,
            // unless a reader is behind on the records already handed out.
            let committed = probe
                .with_frontier(|f| f.first().copied())
                .unwrap_or(*input.time());
            let ahead = committed + shared.rounds_ahead(WINDOW);
            if *input.time() < ahead && !shared.backlog.full() {
                input.advance_to(ahead);
            }
        }
        worker.step_or_park(None);
    }
}
