//! Jobs: what enters the dataflow, what comes out of it, and how a requester follows
//! one.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SendError, Sender, TryRecvError};
use std::sync::Arc;
use std::thread::Thread;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

use crate::model::{Checkpoint, Record, RunKey};
use crate::propagator::Propagator;

/// A request for the dataflow: continue `run` from `start` to `target` iterations.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Job {
    pub id: u64,
    pub run: RunKey,
    pub target: u64,
    pub start: Checkpoint,
}

/// What worker 0 feeds the dataflow.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Order {
    /// Propagate a job (on the worker its job id routes to: the dataflow exchanges
    /// orders by job id).
    Run(Box<Job>),
    /// Drop every job (sent once to each worker, by index, when the engine stops;
    /// the log keeps what was committed and the jobs resume on the next start).
    Stop { worker: u64 },
}

/// One step range of one job: the records of iterations
/// `first_iteration..checkpoint.iterations`, and the state after them.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BlockOut {
    pub job: u64,
    pub run: RunKey,
    pub target: u64,
    pub first_iteration: u64,
    pub records: Vec<Record>,
    pub checkpoint: Checkpoint,
}

/// A job being propagated by one worker.
pub(crate) struct ActiveJob {
    job: Box<Job>,
    propagator: Propagator,
}

impl ActiveJob {
    pub(crate) fn new(job: Box<Job>) -> Self {
        ActiveJob {
            propagator: Propagator::resume(job.start, job.target),
            job,
        }
    }

    /// Computes the job's next block of `block` iterations.
    pub(crate) fn next_block(&mut self, block: u64) -> BlockOut {
        let first_iteration = self.propagator.iterations_done();
        let until = first_iteration.saturating_add(block).min(self.job.target);
        // A block has about 1.6 records per iteration; one allocation per block.
        let mut records = Vec::with_capacity(((until - first_iteration) as usize * 13) / 8 + 2);
        self.propagator.run_until(until, |r| records.push(r));
        BlockOut {
            job: self.job.id,
            run: self.job.run,
            target: self.job.target,
            first_iteration,
            records,
            checkpoint: self
                .propagator
                .checkpoint()
                .expect("run_until stops between iterations"),
        }
    }

    pub(crate) fn done(&self) -> bool {
        self.propagator.iterations_done() >= self.job.target
    }
}

/// What a requester hears of its job, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum JobEvent {
    /// Iterations `0..iterations` are committed (durable, when there is a log).
    Progress { iterations: u64, target: u64 },
    /// The next records of the run, in order (only for requesters that asked).
    Records(Vec<Record>),
    /// The run reached the requested iterations.
    Complete { iterations: u64 },
    /// The job failed; the reason says why.
    Failed(String),
}

/// Counts the record blocks handed to requesters and not yet taken, so that the
/// dataflow can wait for a slow reader instead of queueing a whole run in memory.
#[derive(Debug, Default)]
pub(crate) struct Backlog {
    queued: AtomicUsize,
}

/// Record blocks that may wait for their readers before the dataflow stops starting
/// rounds (about 30 MB with the default block).
pub(crate) const MAX_QUEUED_BLOCKS: usize = 64;

impl Backlog {
    pub(crate) fn add(&self) {
        self.queued.fetch_add(1, Ordering::SeqCst);
    }

    /// Takes back a block that was counted but never handed over.
    pub(crate) fn taken(&self) -> usize {
        self.queued.fetch_sub(1, Ordering::SeqCst)
    }

    pub(crate) fn full(&self) -> bool {
        self.queued.load(Ordering::SeqCst) >= MAX_QUEUED_BLOCKS
    }
}

/// The engine's end of a requester's events: a plain channel that never blocks the
/// sender, plus a wake-up for a requester that waits asynchronously
/// ([`JobHandle::recv`]), so that following a job costs a web server no thread.
pub(crate) struct EventSender {
    events: Option<Sender<JobEvent>>,
    wake: Arc<Notify>,
}

impl EventSender {
    /// A connected pair: the sender for the engine, and the receiving half with its
    /// wake-up for the [`JobHandle`].
    pub(crate) fn channel() -> (EventSender, Receiver<JobEvent>, Arc<Notify>) {
        let (events, receiver) = std::sync::mpsc::channel();
        let wake = Arc::new(Notify::new());
        let sender = EventSender {
            events: Some(events),
            wake: Arc::clone(&wake),
        };
        (sender, receiver, wake)
    }

    /// Queues `event` and wakes the requester; an error once the requester is gone.
    pub(crate) fn send(&self, event: JobEvent) -> Result<(), SendError<JobEvent>> {
        let events = self.events.as_ref().expect("set until drop");
        events.send(event)?;
        self.wake.notify_one();
        Ok(())
    }
}

impl Clone for EventSender {
    fn clone(&self) -> Self {
        EventSender {
            events: self.events.clone(),
            wake: Arc::clone(&self.wake),
        }
    }
}

impl Drop for EventSender {
    fn drop(&mut self) {
        // Disconnect first, then wake: a waiting requester must see the channel closed.
        drop(self.events.take());
        self.wake.notify_one();
    }
}

/// A requester's view of one job.
pub struct JobHandle {
    pub(crate) events: Receiver<JobEvent>,
    pub(crate) wake: Arc<Notify>,
    /// Iterations the log already held when the request joined the job: their records
    /// come from the log, not as [`JobEvent::Records`].
    pub joined_at: u64,
    /// Whether this request started the job (rather than joining one in flight, or
    /// finding the run already logged).
    pub started: bool,
    pub(crate) backlog: Arc<Backlog>,
    pub(crate) driver: Thread,
}

impl JobHandle {
    /// The next event; `None` once the job has ended (after `Complete` or `Failed`).
    pub fn next(&self) -> Option<JobEvent> {
        self.take(self.events.recv().ok())
    }

    /// The next event, awaited without holding a thread (for async code); `None` once
    /// the job has ended. (`&mut`: the handle is not `Sync`, and a task that awaits
    /// this must be `Send`.)
    pub async fn recv(&mut self) -> Option<JobEvent> {
        loop {
            match self.events.try_recv() {
                Ok(event) => return self.take(Some(event)),
                Err(TryRecvError::Disconnected) => return None,
                // A send between `try_recv` and here leaves a permit: no wake-up is lost.
                Err(TryRecvError::Empty) => self.wake.notified().await,
            }
        }
    }

    /// The next event, waiting at most `timeout`; `Err(())` on time-out.
    #[allow(clippy::result_unit_err)]
    pub fn next_timeout(&self, timeout: Duration) -> Result<Option<JobEvent>, ()> {
        match self.events.recv_timeout(timeout) {
            Ok(event) => Ok(self.take(Some(event))),
            Err(RecvTimeoutError::Timeout) => Err(()),
            Err(RecvTimeoutError::Disconnected) => Ok(None),
        }
    }

    fn take(&self, event: Option<JobEvent>) -> Option<JobEvent> {
        if let Some(JobEvent::Records(_)) = event {
            let before = self.backlog.taken();
            if before == MAX_QUEUED_BLOCKS {
                // The dataflow may be waiting for this reader: wake its driver.
                self.driver.unpark();
            }
        }
        event
    }
}

impl Drop for JobHandle {
    fn drop(&mut self) {
        // Blocks still queued for this handle no longer hold the dataflow back.
        while let Ok(event) = self.events.try_recv() {
            self.take(Some(event));
        }
    }
}
