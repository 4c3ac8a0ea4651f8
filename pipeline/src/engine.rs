//! The engine: one long-running timely computation, and the handle through which
//! process 0 (the CLI or the web server) submits jobs and follows them.
//!
//! Every process of a cluster builds the same dataflow ([`crate::dataflow`]). Jobs
//! enter on worker 0, which lives in process 0 beside the log: only process 0 writes
//! the log, and every block reaches it by exchange. Single flight: a request for a run
//! that is already in flight joins its job (and extends it, if it asks for more).
//!
//! The single writer is where this design stops scaling: all records cross to process
//! 0 and pass one sled writer (a few million records per second), so beyond a few
//! workers the log, not propagation, bounds throughput.

use std::collections::HashMap;
use std::net::TcpStream;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::Thread;
use std::time::Instant;

use nano_store::{Block, Log};
use timely::communication::allocator::zero_copy::initialize::initialize_networking_from_sockets;
use timely::communication::allocator::{AllocatorBuilder, ProcessBuilder};
use timely::communication::{Hooks, WorkerGuards};
use timely::dataflow::operators::{Input, Probe};
use timely::dataflow::{InputHandleVec, ProbeHandle};
use timely::WorkerConfig;

use crate::dataflow::{self, Committer, Round};
use crate::job::{Backlog, BlockOut, Job, JobEvent, JobHandle, Order};
use crate::model::RunKey;
use crate::{propagator, Error};

/// Rounds worker 0 lets the propagation run ahead of the last committed round.
const WINDOW: Round = 4;

/// How the processes of a cluster reach each other.
pub struct Network {
    /// This process's index.
    pub process: usize,
    /// A connected stream to every other process, in process order (`None` for this
    /// one): the mesh `nano-cluster` establishes.
    pub sockets: Vec<Option<TcpStream>>,
}

/// How an engine runs.
pub struct EngineConfig {
    /// Worker threads in this process.
    pub workers: usize,
    /// The other processes, if this is one of several.
    pub network: Option<Network>,
    /// Iterations per block (per round, per job).
    pub block: u64,
    /// The log, in process 0: blocks are committed to it, runs resume from it.
    pub log: Option<Log>,
}

enum Command {
    Submit(Box<Job>),
    Shutdown,
}

/// A requester of a job.
struct Subscriber {
    events: Sender<JobEvent>,
    target: u64,
    records: bool,
}

struct JobState {
    run: RunKey,
    /// When the job started (for its log line).
    started: Instant,
    /// Iterations committed.
    committed: u64,
    /// The most iterations any subscriber asked for (a follow-up job runs to it).
    wanted: u64,
    subscribers: Vec<Subscriber>,
}

/// Jobs in flight, shared by the submitters and the commit stage on worker 0.
#[derive(Default)]
struct Registry {
    jobs: HashMap<u64, JobState>,
    by_run: HashMap<RunKey, u64>,
    next_id: u64,
    /// Jobs started so far: a submitter that read the log without the lock checks
    /// that no job started meanwhile (see [`EngineHandle::submit`]).
    starts: u64,
    /// `jobs.len()`, kept where the driver can read it without the lock.
    in_flight: Arc<std::sync::atomic::AtomicUsize>,
}

/// What process 0 shares between its engine handle and worker 0.
struct Shared {
    registry: Mutex<Registry>,
    /// Iterations committed by every job since start (for the service's metrics).
    committed: std::sync::atomic::AtomicU64,
    /// Why the log could not be written, once it could not. sled keeps failing after a
    /// failed flush (its error is sticky), so the engine takes no new job from then on.
    log_failure: Mutex<Option<String>>,
    /// Set while the log's volume is too full to write (the store refused a block, or
    /// the log opened read-only): unfinished runs wait, and resume when space returns
    /// (see [`watch_space`]).
    waiting_for_space: std::sync::atomic::AtomicBool,
    backlog: Arc<Backlog>,
    log: Option<Log>,
    commands: Sender<Command>,
    /// The registry's job count, shared with it (see [`Shared::in_flight`]).
    in_flight: Arc<std::sync::atomic::AtomicUsize>,
}

impl Shared {
    fn lock_registry(&self) -> std::sync::MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Jobs in flight, read without the registry's lock: worker 0's driver asks on
    /// every step.
    fn in_flight(&self) -> usize {
        self.in_flight.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// Process 0's running cluster: owns the worker threads; dereferences to the
/// [`EngineHandle`] through which jobs are submitted.
pub struct Engine {
    handle: EngineHandle,
    guards: Option<WorkerGuards<()>>,
}

/// Submits jobs to a running engine and follows them; cheap to clone, shared between
/// threads (the web server's handlers hold one each).
#[derive(Clone)]
pub struct EngineHandle {
    shared: Arc<Shared>,
    driver: Thread,
}

impl Engine {
    /// A handle for submitting jobs from other threads.
    pub fn handle(&self) -> EngineHandle {
        self.handle.clone()
    }
}

impl std::ops::Deref for Engine {
    type Target = EngineHandle;

    fn deref(&self) -> &EngineHandle {
        &self.handle
    }
}

impl Engine {
    /// Starts the computation in this process (process 0 of a cluster, or the only
    /// one) and resumes every unfinished run in the log.
    pub fn start(config: EngineConfig) -> Result<Engine, Error> {
        let (commands, receiver) = mpsc::channel();
        let in_flight = Arc::<std::sync::atomic::AtomicUsize>::default();
        let shared = Arc::new(Shared {
            registry: Mutex::new(Registry {
                in_flight: Arc::clone(&in_flight),
                ..Registry::default()
            }),
            in_flight,
            committed: Default::default(),
            log_failure: Mutex::default(),
            waiting_for_space: Default::default(),
            backlog: Arc::default(),
            log: config.log.clone(),
            commands,
        });
        let (driver_tx, driver_rx) = mpsc::channel();
        let receiver = Mutex::new(Some((receiver, driver_tx)));
        let for_workers = Arc::clone(&shared);
        let guards = execute(config.workers, config.network, move |worker| {
            let driver = (worker.index() == 0)
                .then(|| receiver.lock().unwrap_or_else(|e| e.into_inner()).take())
                .flatten();
            run_worker(
                worker,
                config.block,
                driver.map(|(rx, tx)| (rx, tx, Arc::clone(&for_workers))),
            );
        })?;
        let driver = driver_rx.recv().map_err(|_| Error::DriverMissing)?;
        let engine = Engine {
            handle: EngineHandle { shared, driver },
            guards: Some(guards),
        };
        if let Some(log) = &engine.handle.shared.log {
            if log.read_only()?.is_some() {
                engine.shared.waiting_for_space.store(true, SeqCst);
            } else {
                engine.resume_unfinished()?;
            }
            let shared = Arc::downgrade(&engine.handle.shared);
            let handle = engine.handle.driver.clone();
            std::thread::Builder::new()
                .name("nano-space".into())
                .spawn(move || watch_space(shared, handle))
                .map_err(Error::SpaceWatcher)?;
        }
        Ok(engine)
    }

    /// Stops the computation in every process once the rounds under way are committed,
    /// and waits for this process's workers. Jobs still in flight end with
    /// [`JobEvent::Failed`]; the log holds what they committed, and the next start
    /// resumes them.
    pub fn shutdown(mut self) -> Result<(), Error> {
        self.send(Command::Shutdown)?;
        self.join()
    }

    fn join(&mut self) -> Result<(), Error> {
        if let Some(guards) = self.guards.take() {
            for result in guards.join() {
                result.map_err(Error::Timely)?;
            }
        }
        let mut registry = self
            .shared
            .registry
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        for (_, state) in registry.jobs.drain() {
            state.log_end(state.committed, "stopped");
            for s in state.subscribers {
                let _ = s.events.send(JobEvent::Failed(format!(
                    "the engine stopped at iteration {} of run {}; it resumes from the log on the next start",
                    state.committed, state.run
                )));
            }
        }
        registry.by_run.clear();
        registry
            .in_flight
            .store(0, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }
}

/// How often a log waiting for space looks at its volume again.
const SPACE_CHECK: std::time::Duration = std::time::Duration::from_secs(1);

/// While the engine runs: once the log waits for space and its volume has room again,
/// resumes every unfinished run (nobody has to restart the service or delete files).
fn watch_space(shared: std::sync::Weak<Shared>, driver: Thread) {
    loop {
        std::thread::sleep(SPACE_CHECK);
        let Some(shared) = shared.upgrade() else {
            return;
        };
        if !shared.waiting_for_space.load(SeqCst) {
            continue;
        }
        let Some(log) = &shared.log else { return };
        if !matches!(log.read_only(), Ok(None)) {
            continue;
        }
        shared.waiting_for_space.store(false, SeqCst);
        let handle = EngineHandle {
            shared: Arc::clone(&shared),
            driver: driver.clone(),
        };
        if let Err(e) = handle.resume_unfinished() {
            eprintln!("sedaro-nano: could not resume the runs after space returned: {e}");
            shared.waiting_for_space.store(true, SeqCst);
        }
    }
}

impl EngineHandle {
    /// Submits every unfinished run of the log (each continues from its last block).
    pub fn resume_unfinished(&self) -> Result<(), Error> {
        if let Some(log) = &self.shared.log {
            for entry in log.catalog()?.into_iter().filter(|e| !e.complete()) {
                self.submit(entry.run, entry.target, false)?;
            }
        }
        Ok(())
    }

    /// Whether the log is waiting for space on its volume (new computation waits).
    pub fn waiting_for_space(&self) -> bool {
        self.shared.waiting_for_space.load(SeqCst)
    }

    /// Requests `target` iterations of `run`. The handle's events report progress,
    /// the records when `records` is set (those after [`JobHandle::joined_at`]; the
    /// log holds the ones before), and completion. A run already in flight is joined,
    /// not started again.
    ///
    /// A requester of records must keep reading them: while too many blocks of records
    /// wait for their readers, the engine starts no new rounds, for any job.
    pub fn submit(&self, run: RunKey, target: u64, records: bool) -> Result<JobHandle, Error> {
        if let Some(reason) = self.log_failure() {
            return Err(Error::LogFailed(reason));
        }
        let (events, receiver) = mpsc::channel();
        let handle = |joined_at, started| JobHandle {
            events: receiver,
            joined_at,
            started,
            backlog: Arc::clone(&self.shared.backlog),
            driver: self.driver.clone(),
        };
        let subscriber = Subscriber {
            events: events.clone(),
            target,
            records,
        };
        // The log is read and written without the registry's lock (worker 0 takes it
        // to commit every round). That is safe when no job started meanwhile: only a
        // job in flight writes a run's blocks, so the checkpoint read is still the
        // last. Otherwise look again; after a few tries, hold the lock across the I/O.
        let mut tries = 0;
        loop {
            tries += 1;
            let mut registry = self.shared.lock_registry();
            if let Some(state) = registry
                .by_run
                .get(&run)
                .copied()
                .and_then(|id| registry.jobs.get_mut(&id))
            {
                state.wanted = state.wanted.max(target);
                let joined_at = state.committed;
                state.subscribers.push(subscriber);
                return Ok(handle(joined_at, false));
            }
            let starts = registry.starts;
            let held = if tries <= 3 {
                drop(registry);
                None
            } else {
                Some(registry)
            };
            let start = match &self.shared.log {
                Some(log) => match log.entry(run)? {
                    Some(entry) => entry.checkpoint,
                    None => propagator::start(run.seed),
                },
                None => propagator::start(run.seed),
            };
            if start.iterations >= target {
                let _ = events.send(JobEvent::Complete {
                    iterations: start.iterations,
                });
                return Ok(handle(target, false));
            }
            if let Some(log) = &self.shared.log {
                log.raise_target(run, target)?;
            }
            let mut registry = match held {
                Some(registry) => registry,
                None => self.shared.lock_registry(),
            };
            if registry.starts != starts {
                continue;
            }
            let id = registry.start(run, target, start.iterations, subscriber);
            let job = Job {
                id,
                run,
                target,
                start,
            };
            drop(registry);
            self.send(Command::Submit(Box::new(job)))?;
            return Ok(handle(start.iterations, true));
        }
    }

    fn send(&self, command: Command) -> Result<(), Error> {
        self.shared
            .commands
            .send(command)
            .map_err(|_| Error::Stopped)?;
        self.driver.unpark();
        Ok(())
    }

    /// Hands every record of the first `iterations` iterations of `run` to `sink`, in
    /// order: those the log holds from the log, the rest as the dataflow commits them.
    pub fn stream<E>(
        &self,
        run: RunKey,
        iterations: u64,
        mut sink: impl FnMut(&crate::model::Record) -> Result<(), E>,
    ) -> Result<(), Error>
    where
        Error: From<E>,
    {
        let job = self.submit(run, iterations, true)?;
        if let Some(log) = &self.shared.log {
            for record in log.replay(run, 0..job.joined_at.min(iterations))? {
                sink(&record?)?;
            }
        }
        while let Some(event) = job.next() {
            match event {
                JobEvent::Records(records) => records.iter().try_for_each(&mut sink)?,
                JobEvent::Progress { .. } => {}
                JobEvent::Complete { .. } => return Ok(()),
                JobEvent::Failed(reason) => return Err(Error::JobFailed { run, reason }),
            }
        }
        Err(Error::JobFailed {
            run,
            reason: "its events ended before it completed".into(),
        })
    }

    /// Jobs in flight.
    pub fn in_flight(&self) -> usize {
        self.shared.in_flight()
    }

    /// Why the log could not be written, if it could not (see [`Error::LogFailed`]).
    pub fn log_failure(&self) -> Option<String> {
        self.shared
            .log_failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Whether a job for `run` is in flight (a request for it joins, not starts).
    pub fn is_in_flight(&self, run: RunKey) -> bool {
        let registry = self
            .shared
            .registry
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        registry.by_run.contains_key(&run)
    }

    /// The iterations the job for `run` runs to, when one is in flight: a request for
    /// no more joins it; a request for more extends it (new computation).
    pub fn in_flight_target(&self, run: RunKey) -> Option<u64> {
        let registry = self.shared.lock_registry();
        let id = registry.by_run.get(&run)?;
        registry.jobs.get(id).map(|state| state.wanted)
    }

    /// Iterations committed by all jobs since the engine started.
    pub fn iterations_committed(&self) -> u64 {
        self.shared
            .committed
            .load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        if self.guards.is_some() {
            let _ = self.send(Command::Shutdown);
            let _ = self.join();
        }
    }
}

/// Runs this process's part of a cluster whose process 0 is elsewhere, until the
/// cluster shuts down.
pub fn run_peer(workers: usize, network: Network, block: u64) -> Result<(), Error> {
    let guards = execute(workers, Some(network), move |worker| {
        run_worker(worker, block, None)
    })?;
    for result in guards.join() {
        result.map_err(Error::Timely)?;
    }
    Ok(())
}

type Driver = (Receiver<Command>, Sender<Thread>, Arc<Shared>);

fn execute<F>(workers: usize, network: Option<Network>, func: F) -> Result<WorkerGuards<()>, Error>
where
    F: Fn(&mut timely::worker::Worker) + Send + Sync + 'static,
{
    let workers = workers.max(1);
    let (builders, others): (Vec<AllocatorBuilder>, Box<dyn std::any::Any + Send>) = match network {
        None => timely::CommunicationConfig::Process(workers)
            .try_build()
            .map_err(Error::Timely)?,
        Some(Network { process, sockets }) => {
            let hooks = Hooks::default();
            let local = ProcessBuilder::new_typed_vector(
                workers,
                hooks.refill.clone(),
                hooks.spill.clone(),
            );
            let (builders, guard) =
                initialize_networking_from_sockets(local, sockets, process, workers, hooks)
                    .map_err(Error::Network)?;
            (
                builders.into_iter().map(AllocatorBuilder::Tcp).collect(),
                Box::new(guard),
            )
        }
    };
    timely::execute::execute_from(builders, others, WorkerConfig::default(), func)
        .map_err(Error::Timely)
}

/// One worker: builds the dataflow; worker 0 then drives it, the others let it run.
fn run_worker(worker: &mut timely::worker::Worker, block: u64, driver: Option<Driver>) {
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
                Ok(Command::Submit(job)) => input.send(Order::Run(job)),
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
            let ahead = committed + WINDOW;
            if *input.time() < ahead && !shared.backlog.full() {
                input.advance_to(ahead);
            }
        }
        worker.step_or_park(None);
    }
}

impl Registry {
    fn start(&mut self, run: RunKey, target: u64, committed: u64, subscriber: Subscriber) -> u64 {
        self.next_id += 1;
        self.starts += 1;
        let id = self.next_id;
        self.jobs.insert(
            id,
            JobState {
                run,
                started: Instant::now(),
                committed,
                wanted: target,
                subscribers: vec![subscriber],
            },
        );
        self.by_run.insert(run, id);
        self.in_flight
            .store(self.jobs.len(), std::sync::atomic::Ordering::SeqCst);
        id
    }

    fn finish(&mut self, id: u64) -> Option<JobState> {
        let state = self.jobs.remove(&id)?;
        self.by_run.remove(&state.run);
        self.in_flight
            .store(self.jobs.len(), std::sync::atomic::Ordering::SeqCst);
        Some(state)
    }
}

impl Committer for Arc<Shared> {
    fn commit(&mut self, _round: Round, blocks: Vec<BlockOut>) {
        // Blocks of jobs that failed earlier are dropped, not logged. The lock is not
        // held across the append: only this stage (worker 0) ends jobs, so the jobs
        // seen here are still in flight after it; submitters that join meanwhile hear
        // of these blocks when they are delivered.
        let blocks: Vec<BlockOut> = {
            let registry = self.lock_registry();
            blocks
                .into_iter()
                .filter(|b| registry.jobs.contains_key(&b.job))
                .collect()
        };
        if let Some(log) = &self.log {
            let appended = log.append(
                &blocks
                    .iter()
                    .map(|b| Block {
                        run: b.run,
                        target: b.target,
                        first_iteration: b.first_iteration,
                        records: &b.records,
                        checkpoint: &b.checkpoint,
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
                    if let Some(state) = registry.finish(b.job) {
                        state.log_end(state.committed, "failed");
                        for s in state.subscribers {
                            let _ = s.events.send(JobEvent::Failed(reason.clone()));
                        }
                    }
                }
                return;
            }
        }
        let mut continued = Vec::new();
        {
            let mut registry = self.lock_registry();
            for b in blocks {
                continued.extend(self.deliver(&mut registry, b));
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

impl JobState {
    /// The job's line in the service's log, when it ends.
    fn log_end(&self, iterations: u64, outcome: &str) {
        tracing::info!(
            run = %self.run,
            iterations,
            duration_ms = self.started.elapsed().as_millis() as u64,
            outcome,
            "job ended"
        );
    }
}

impl Shared {
    /// Reports one committed block to its job's subscribers, and ends or continues the
    /// job when the block is its last; a continued run and its new target are returned
    /// for the catalog.
    fn deliver(&self, registry: &mut Registry, block: BlockOut) -> Option<(RunKey, u64)> {
        let done = block.checkpoint.iterations;
        if done < block.target {
            let state = registry.jobs.get_mut(&block.job)?;
            state.committed = done;
            self.notify(&mut state.subscribers, &block);
            return None;
        }
        // The job's last block: it leaves the registry before anyone hears it is
        // complete, so a subscriber that saw `Complete` never finds it still in flight.
        let mut state = registry.finish(block.job)?;
        self.notify(&mut state.subscribers, &block);
        if state.subscribers.is_empty() || state.wanted <= done {
            state.log_end(done, "complete");
            return None;
        }
        state.log_end(done, "continued");
        // Someone asked for more while the job ran: continue from where it ended.
        let target = state.wanted;
        let mut subscribers = state.subscribers.into_iter();
        let first = subscribers.next().expect("checked non-empty");
        let id = registry.start(state.run, target, done, first);
        registry
            .jobs
            .get_mut(&id)
            .expect("just started")
            .subscribers
            .extend(subscribers);
        let job = Job {
            id,
            run: state.run,
            target,
            start: block.checkpoint,
        };
        let _ = self.commands.send(Command::Submit(Box::new(job)));
        Some((state.run, target))
    }

    /// Counts one committed block and sends its records, progress and (at a
    /// subscriber's target) completion to each subscriber; keeps those still waiting
    /// for more.
    fn notify(&self, subscribers: &mut Vec<Subscriber>, block: &BlockOut) {
        let done = block.checkpoint.iterations;
        self.committed.fetch_add(
            done - block.first_iteration,
            std::sync::atomic::Ordering::Relaxed,
        );
        subscribers.retain(|s| {
            if s.records {
                let records: Vec<_> = block
                    .records
                    .iter()
                    .filter(|r| r.iteration < s.target)
                    .copied()
                    .collect();
                if !records.is_empty() {
                    self.backlog.add();
                    if s.events.send(JobEvent::Records(records)).is_err() {
                        self.backlog.taken();
                        return false;
                    }
                }
            }
            let progress = JobEvent::Progress {
                iterations: done.min(s.target),
                target: s.target,
            };
            if s.events.send(progress).is_err() {
                return false;
            }
            if done >= s.target {
                let _ = s.events.send(JobEvent::Complete {
                    iterations: s.target,
                });
                return false;
            }
            true
        });
    }
}
