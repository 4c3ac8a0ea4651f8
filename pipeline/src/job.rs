//! Jobs: what enters the dataflow, what comes out of it, and how a requester follows
//! one.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SendError, Sender, TryRecvError};
use std::sync::Arc;
use std::thread::Thread;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

use nano_store::encoding::PART_RECORDS;

use crate::admission::{Weight, BLOCK_BYTES_PER_ITERATION};
use crate::catalog::ElementSet;
use crate::model::{Checkpoint, RunKey};
use crate::orbit::{BodyPropagator, OrbitState};
use crate::propagator::Propagator;
use crate::scenario::catalog::FrameRotations;
use crate::scenario::{OrbitScenario, Scenario};

/// A record as the log keeps it (one body's step, a fixed-width state).
pub type Stored = nano_store::Record;

/// Where a job starts.
// One per job: the nano variant's size costs nothing worth a box.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Start {
    /// A nano run, from its checkpoint.
    Nano(Checkpoint),
    /// An orbit run.
    Orbit(OrbitStart),
}

/// Where an orbit job starts: `iterations` output steps in, each body from its
/// propagator's checkpoint (none: from the scenario's initial states).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OrbitStart {
    /// The scenario's canonical document (each worker reads its own copy).
    pub scenario: String,
    pub bodies: u32,
    pub iterations: u64,
    /// By body index; empty at the start of the run.
    pub checkpoint: Vec<Vec<u8>>,
    /// Output steps of every body per round: chosen when the job is admitted
    /// ([`crate::admission`]), kept by a follow-up job.
    pub epoch: u64,
    /// The element sets of the scenario's catalogue objects, which its document
    /// names only by the catalogue's id: each share takes its own.
    #[serde(skip)]
    pub catalog: Option<Arc<CatalogBodies>>,
}

/// A run's catalogue objects' element sets: body `first + i` is `elements[i]`.
#[derive(Debug)]
pub struct CatalogBodies {
    pub first: u32,
    pub elements: Vec<ElementSet>,
}

impl CatalogBodies {
    /// Body `body`'s element set, if it is a catalogue object.
    fn of(&self, body: u32) -> Option<&ElementSet> {
        self.elements.get(body.checked_sub(self.first)? as usize)
    }
}

/// A request for the dataflow: continue `run` from `start` to `target` iterations.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Job {
    pub id: u64,
    pub run: RunKey,
    pub target: u64,
    pub start: Start,
}

impl Job {
    /// The iterations the log held when the job started.
    pub fn iterations(&self) -> u64 {
        match &self.start {
            Start::Nano(checkpoint) => checkpoint.iterations,
            Start::Orbit(start) => start.iterations,
        }
    }

    /// What worker 0 feeds the dataflow for this job on a cluster of `peers` workers:
    /// a nano job whole (it goes to one worker); an orbit job as one share per worker,
    /// body `b` on worker `b mod peers`, each with its bodies' checkpoints. Every
    /// share advances its bodies by the job's epoch per round.
    pub(crate) fn orders(self: Box<Self>, peers: usize) -> Vec<Order> {
        let Start::Orbit(start) = &self.start else {
            return vec![Order::Run(self)];
        };
        let peers = peers.max(1);
        let epoch = start.epoch.max(1);
        (0..peers)
            .filter(|&w| (w as u32) < start.bodies)
            .map(|worker| {
                let bodies = (worker as u32..start.bodies).step_by(peers);
                let share: Vec<(u32, Vec<u8>)> = bodies
                    .map(|b| {
                        let bytes = start
                            .checkpoint
                            .get(b as usize)
                            .cloned()
                            .unwrap_or_default();
                        (b, bytes)
                    })
                    .collect();
                let catalog = match &start.catalog {
                    Some(objects) => share
                        .iter()
                        .filter_map(|(b, _)| Some((*b, objects.of(*b)?.clone())))
                        .collect(),
                    None => Vec::new(),
                };
                Order::Share(Box::new(Share {
                    worker: worker as u64,
                    job: self.id,
                    run: self.run,
                    target: self.target,
                    scenario: start.scenario.clone(),
                    bodies: start.bodies,
                    iterations: start.iterations,
                    epoch,
                    share,
                    catalog,
                }))
            })
            .collect()
    }
}

/// What the engine (and its commit stage) asks of worker 0, which feeds the jobs
/// into the dataflow.
pub(crate) enum Command {
    Submit(Box<Job>),
    /// Drop a failed job's shares on every worker.
    Cancel(u64),
    Shutdown,
}

/// What one round of a job starting at `start` weighs with the engine's `block`: a
/// nano block's [`BLOCK_BYTES_PER_ITERATION`] an iteration; an orbit round's epoch of
/// every body (at most [`epoch_steps`] steps each, some `32 x block` records), each a
/// [`Stored`] record. Weighing both as nano blocks made an orbit round look some 20
/// times lighter than it is. Admission charges what it holds ([`crate::admission`]).
pub fn weight(start: &Start, block: u64) -> Weight {
    match start {
        Start::Nano(_) => Weight {
            whole: block,
            bytes_per_iteration: BLOCK_BYTES_PER_ITERATION,
            align: None,
        },
        Start::Orbit(start) => Weight {
            whole: epoch_steps(block, start.bodies),
            bytes_per_iteration: u64::from(start.bodies)
                .saturating_mul(std::mem::size_of::<Stored>() as u64),
            align: Some(PART_RECORDS as u64),
        },
    }
}

/// Output steps of an orbit run per round (an epoch: a step range of every body).
///
/// A round holds at most `ROUND_RECORDS_PER_BLOCK * block` records whatever the
/// number of bodies (some 10 MB with the default block): the memory a round takes
/// bounds it, not a count of steps (and admission shortens it when the engine's
/// memory for blocks in flight has less room: [`crate::admission`]). Every epoch costs the log a commit (a flush) and
/// each body its share of a frame per [`FRAME_STEPS`](nano_store::encoding::FRAME_STEPS) steps and of a checkpoint pack
/// (some 600 bytes a body for `dop853`), so long epochs write less: Starlink's 1,584
/// bodies took 211 epochs a day at half this bound and take 106, with a third less CPU
/// (BENCHMARKS.md, measured with format 2's per-body chunks). Twice this bound saved a
/// little more CPU and took 80 MB more memory. Above [`PART_RECORDS`] steps the epoch
/// is a whole number of them: the chunks of format 2 were cut so; the frames of format
/// 3 are [`FRAME_STEPS`](nano_store::encoding::FRAME_STEPS) steps, so such an epoch ends with one short frame per group of
/// bodies (a few keys an epoch; aligning on frames instead is not measured yet). A body's epoch stays within `16 * block` steps (one body: 65,536
/// at the default block, 5 commits for 300,000 steps, where the cap at `block` made
/// 73): longer ones measured slower, because the workers, the log's writer and the
/// disk then take turns instead of overlapping.
pub fn epoch_steps(block: u64, bodies: u32) -> u64 {
    let part = PART_RECORDS as u64;
    let steps = block.saturating_mul(ROUND_RECORDS_PER_BLOCK) / u64::from(bodies.max(1));
    let steps = if steps > part {
        steps / part * part
    } else {
        steps
    };
    steps.clamp(1, block.saturating_mul(16).clamp(1, MAX_EPOCH_STEPS))
}

/// Records per round of an orbit job, per iteration of the block.
pub const ROUND_RECORDS_PER_BLOCK: u64 = 32;

/// The most output steps of one body in one block: the log cuts a body's records of
/// a block into at most `u16::MAX` parts of 112 records, and a million is well below.
pub const MAX_EPOCH_STEPS: u64 = 1 << 20;

/// One worker's part of an orbit job: its bodies (by index) and where each stands.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Share {
    pub worker: u64,
    pub job: u64,
    pub run: RunKey,
    pub target: u64,
    pub scenario: String,
    /// The run's bodies, all workers' together.
    pub bodies: u32,
    pub iterations: u64,
    /// Output steps per round.
    pub epoch: u64,
    /// This worker's bodies, each with its checkpoint (empty: from the scenario).
    pub share: Vec<(u32, Vec<u8>)>,
    /// The element sets of this worker's catalogue objects, by body, ascending.
    pub catalog: Vec<(u32, ElementSet)>,
}

/// What worker 0 feeds the dataflow.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Order {
    /// Propagate a nano job (on the worker its job id routes to: the dataflow
    /// exchanges orders by job id).
    Run(Box<Job>),
    /// Propagate one worker's bodies of an orbit job (on the worker it names).
    Share(Box<Share>),
    /// Drop every job (sent once to each worker, by index, when the engine stops;
    /// the log keeps what was committed and the jobs resume on the next start).
    Stop { worker: u64 },
    /// Drop job `job` (sent once to each worker, by index, when it failed: its other
    /// shares would compute blocks nobody logs).
    Cancel { worker: u64, job: u64 },
}

/// What a block leaves to continue from.
// One per block: the nano variant's size costs nothing worth a box.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Saved {
    /// A nano run's checkpoint.
    Nano(Checkpoint),
    /// Orbit bodies' checkpoints, by body index (a worker's share; all bodies once the
    /// commit stage has gathered the shares).
    Bodies(Vec<(u32, Vec<u8>)>),
}

/// One step range of one job: the records of iterations `first_iteration..end` (of
/// one worker's bodies, for an orbit job, until the commit stage gathers them), and
/// where the run stands after them.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BlockOut {
    pub job: u64,
    pub run: RunKey,
    pub target: u64,
    /// The run's bodies.
    pub bodies: u32,
    pub first_iteration: u64,
    pub end: u64,
    /// By iteration, then body.
    pub records: Vec<Stored>,
    pub saved: Saved,
    /// Why the job cannot go on, when a body of it stopped in this block (a body left
    /// the sane region or passed the work bound: [`crate::orbit::Stopped`]): the block
    /// then holds nothing, and the commit stage fails the job with this reason.
    pub failure: Option<String>,
}

/// A job being propagated by one worker.
// A few per worker: the nano variant's size costs nothing worth a box.
#[allow(clippy::large_enum_variant)]
pub(crate) enum ActiveJob {
    Nano {
        job: Box<Job>,
        propagator: Propagator,
    },
    Orbit(OrbitShare),
}

/// What a slot of a block's records holds until its record is written there.
pub(crate) const PLACEHOLDER: Stored = Stored {
    t0: 0.0,
    t1: 0.0,
    body: 0,
    iteration: 0,
    state: [0.0; nano_store::run::MAX_STATE_WORDS],
};

/// One worker's bodies of an orbit job, each with its propagator kept between rounds.
pub(crate) struct OrbitShare {
    job: u64,
    run: RunKey,
    target: u64,
    bodies: u32,
    epoch: u64,
    done: u64,
    output_step_s: f64,
    propagators: Vec<(u32, BodyPropagator)>,
    states: Vec<OrbitState>,
    /// The run's scenario, to name a body that stops.
    scenario: OrbitScenario,
    /// Into the run's frame, when a body's own frame is another.
    rotations: FrameRotations,
}

/// The scenario of an orbit job, as a worker reads its canonical document. The engine
/// parsed the same document before it submitted the job, so it cannot fail here.
fn orbit_scenario(canonical: &str) -> OrbitScenario {
    match Scenario::parse_logged(canonical) {
        Ok(Scenario::Orbit(scenario)) => scenario,
        other => panic!("the engine submits only orbit scenarios it parsed: {other:?}"),
    }
}

impl ActiveJob {
    /// A nano job.
    pub(crate) fn new(job: Box<Job>) -> Self {
        let Start::Nano(start) = job.start else {
            panic!("orbit jobs enter the dataflow as shares");
        };
        ActiveJob::Nano {
            propagator: Propagator::resume(start, job.target),
            job,
        }
    }

    /// One worker's share of an orbit job.
    pub(crate) fn share(share: Share) -> Self {
        let scenario = orbit_scenario(&share.scenario);
        let mut objects = share.catalog.iter().peekable();
        let propagators = share
            .share
            .iter()
            .map(|(body, bytes)| {
                let body = *body;
                let object = objects.next_if(|(b, _)| *b == body).map(|(_, e)| e);
                let propagator = match (object, bytes.is_empty()) {
                    (Some(elements), true) => {
                        BodyPropagator::for_object(&scenario, body as usize, elements)
                    }
                    (Some(elements), false) => {
                        BodyPropagator::resume_object(&scenario, body as usize, elements, bytes)
                            .expect(
                                "the engine resumed every checkpoint before it submitted the job",
                            )
                    }
                    (None, true) => BodyPropagator::new(&scenario, body as usize),
                    (None, false) => BodyPropagator::resume(&scenario, body as usize, bytes)
                        .expect("the engine resumed every checkpoint before it submitted the job"),
                };
                (body, propagator)
            })
            .collect();
        ActiveJob::Orbit(OrbitShare {
            job: share.job,
            run: share.run,
            target: share.target,
            bodies: share.bodies,
            epoch: share.epoch,
            done: share.iterations,
            output_step_s: scenario.output_step_s(),
            propagators,
            states: Vec::new(),
            rotations: FrameRotations::new(&scenario),
            scenario,
        })
    }

    /// Computes the job's next block: `block` iterations of a nano job, an epoch of an
    /// orbit job's bodies on this worker.
    pub(crate) fn next_block(&mut self, block: u64) -> BlockOut {
        match self {
            ActiveJob::Nano { job, propagator } => {
                let first_iteration = propagator.iterations_done();
                let until = first_iteration.saturating_add(block).min(job.target);
                // A block has about 1.6 records per iteration; one allocation per block.
                let mut records =
                    Vec::with_capacity(((until - first_iteration) as usize * 13) / 8 + 2);
                propagator.run_until(until, |r| records.push(r.to_stored()));
                let checkpoint = propagator
                    .checkpoint()
                    .expect("run_until stops between iterations");
                BlockOut {
                    job: job.id,
                    run: job.run,
                    target: job.target,
                    bodies: crate::model::BODIES,
                    first_iteration,
                    end: checkpoint.iterations,
                    records,
                    saved: Saved::Nano(checkpoint),
                    failure: None,
                }
            }
            ActiveJob::Orbit(share) => share.next_block(),
        }
    }

    /// The id of the job this worker computes.
    pub(crate) fn id(&self) -> u64 {
        match self {
            ActiveJob::Nano { job, .. } => job.id,
            ActiveJob::Orbit(share) => share.job,
        }
    }

    pub(crate) fn done(&self) -> bool {
        match self {
            ActiveJob::Nano { job, propagator } => propagator.iterations_done() >= job.target,
            ActiveJob::Orbit(share) => share.done >= share.target,
        }
    }
}

impl OrbitShare {
    /// Advances every body of the share by one epoch. The record of iteration `k - 1`
    /// holds the state at `t_k = k * output_step_s` over `[t_(k-1), t_k)` (the state
    /// at `t_0` is the scenario's). A body that stops ends the share: the block holds
    /// no records, only the reason (naming the body, the time and the cause), and the
    /// share computes nothing more.
    fn next_block(&mut self) -> BlockOut {
        let first = self.done;
        let end = first.saturating_add(self.epoch).min(self.target);
        let steps = (end - first) as usize;
        let share = self.propagators.len();
        // Computed body by body, written where the order by iteration then body puts
        // each record (the share's bodies ascend), so that nothing is sorted.
        let mut records = vec![PLACEHOLDER; steps * share];
        let mut saved = Vec::with_capacity(share);
        // The block's rotations into the run's frame, once for all its bodies (none
        // when every body is in it already).
        self.rotations.prepare(first + 1, steps);
        for (j, (body, propagator)) in self.propagators.iter_mut().enumerate() {
            self.states.clear();
            if let Err(stopped) = propagator.advance(end, &mut self.states) {
                self.done = self.target;
                return BlockOut {
                    job: self.job,
                    run: self.run,
                    target: self.target,
                    bodies: self.bodies,
                    first_iteration: first,
                    end: first,
                    records: Vec::new(),
                    saved: Saved::Bodies(Vec::new()),
                    failure: Some(stopped.describe(&self.scenario)),
                };
            }
            debug_assert_eq!(self.states.len(), steps, "advance gives every step");
            let native = propagator.native_frame();
            for (i, s) in self.states.iter().enumerate() {
                let k = first + 1 + i as u64;
                let s = &self.rotations.to_run_frame(native, k, s);
                records[i * share + j] = Stored {
                    t0: (k - 1) as f64 * self.output_step_s,
                    t1: s.t,
                    body: *body,
                    iteration: k - 1,
                    state: [s.r[0], s.r[1], s.r[2], s.v[0], s.v[1], s.v[2]],
                };
            }
            saved.push((*body, propagator.checkpoint()));
        }
        self.done = end;
        BlockOut {
            job: self.job,
            run: self.run,
            target: self.target,
            bodies: self.bodies,
            first_iteration: first,
            end,
            records,
            saved: Saved::Bodies(saved),
            failure: None,
        }
    }
}

/// What a requester hears of its job, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum JobEvent {
    /// Iterations `0..iterations` are committed (durable, when there is a log).
    Progress { iterations: u64, target: u64 },
    /// The next records of the run, in order, as the log keeps them (only for
    /// requesters that asked).
    Records(Vec<Stored>),
    /// The run reached the requested iterations.
    Complete { iterations: u64 },
    /// The job failed; the reason says why.
    Failed(String),
}

/// Counts the records handed to requesters and not yet taken, so that the dataflow
/// can wait for a slow reader instead of queueing a whole run in memory.
#[derive(Debug, Default)]
pub(crate) struct Backlog {
    queued: AtomicUsize,
}

/// Records that may wait for their readers before the dataflow stops starting rounds:
/// 64 blocks of a nano run at the default block (some 34 MB). Counted in records, not
/// blocks: an orbit job's block is a round of all its bodies, up to 20 times a nano
/// block's records at the default block (64 of them: some 670 MB).
pub(crate) const MAX_QUEUED_RECORDS: usize = 64 * 4096 * 13 / 8;

impl Backlog {
    /// Counts a block of `records` handed over.
    pub(crate) fn add(&self, records: usize) {
        self.queued.fetch_add(records, Ordering::SeqCst);
    }

    /// Takes back a block of `records` (taken by its reader, or never handed over);
    /// the count before.
    pub(crate) fn taken(&self, records: usize) -> usize {
        self.queued.fetch_sub(records, Ordering::SeqCst)
    }

    pub(crate) fn full(&self) -> bool {
        self.queued.load(Ordering::SeqCst) >= MAX_QUEUED_RECORDS
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
        if let Some(JobEvent::Records(records)) = &event {
            let before = self.backlog.taken(records.len());
            if before >= MAX_QUEUED_RECORDS && before - records.len() < MAX_QUEUED_RECORDS {
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
