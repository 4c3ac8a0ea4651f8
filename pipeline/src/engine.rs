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

use std::sync::atomic::Ordering::SeqCst;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::Thread;
use std::time::{Duration, Instant};

use nano_store::space::Reservation;
use nano_store::Log;
use timely::communication::WorkerGuards;

use crate::catalog::LogCatalogs;
use crate::commit::Shared;
use crate::driver;
use crate::job::{
    self, CatalogBodies, Command, EventSender, Job, JobEvent, JobHandle, OrbitStart, Start, Stored,
};
use crate::model::{Record, RunKey};
use crate::network::execute;
pub use crate::network::Network;
use crate::orbit::BodyPropagator;
use crate::registry::{Registry, Subscriber};
use crate::scenario::{OrbitScenario, Scenario};
use crate::{admission, propagator, Error};

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
    /// The bytes the blocks in flight may hold, all jobs together: jobs are admitted
    /// within it ([`crate::admission`]); the service gives it an eighth of its memory
    /// budget, the CLI [`DEFAULT_BLOCKS_BYTES`].
    pub blocks_bytes: u64,
}

/// The bytes the blocks in flight may hold in a process with the default memory
/// budget (an eighth of 512 MB), such as the CLI's.
pub const DEFAULT_BLOCKS_BYTES: u64 = 64 << 20;

impl EngineConfig {
    /// An engine alone in this process, with the default memory budget
    /// ([`DEFAULT_BLOCKS_BYTES`]): `workers` threads, `block` iterations a block,
    /// committing to `log` if there is one. Process 0 of a cluster sets `network`
    /// too (its other processes run [`run_peer`] with the same `block`).
    pub fn single_process(workers: usize, block: u64, log: Option<Log>) -> EngineConfig {
        EngineConfig {
            workers,
            network: None,
            block,
            log,
            blocks_bytes: DEFAULT_BLOCKS_BYTES,
        }
    }
}

pub use crate::admission::BLOCK_BYTES_PER_ITERATION;
pub use crate::commit::FAILURES_KEPT;

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
        let registry = Registry::with_bound(config.blocks_bytes);
        let shared = Arc::new(Shared {
            in_flight: registry.in_flight_counter(),
            round_bytes: registry.round_bytes_counter(),
            block: config.block,
            peak_held: AtomicU64::new(0),
            failures: Mutex::default(),
            started: Instant::now(),
            progress_ms: AtomicU64::new(0),
            registry: Mutex::new(registry),
            committed: Default::default(),
            log_failure: Mutex::default(),
            waiting_for_space: Default::default(),
            backlog: Arc::default(),
            log: config.log.clone(),
            commands,
            blocks_bytes: config.blocks_bytes,
        });
        let (driver_tx, driver_rx) = mpsc::channel();
        let receiver = Mutex::new(Some((receiver, driver_tx)));
        let for_workers = Arc::clone(&shared);
        let guards = execute(config.workers, config.network, move |worker| {
            let driver = (worker.index() == 0)
                .then(|| receiver.lock().unwrap_or_else(|e| e.into_inner()).take())
                .flatten();
            driver::run_worker(
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
        self.shared.lock_registry().stop_all();
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
            tracing::warn!(error = %e, "could not resume the runs after space returned");
            shared.waiting_for_space.store(true, SeqCst);
        }
    }
}

impl EngineHandle {
    /// Submits every unfinished run of the log (each continues from its last block).
    /// They were admitted before: each reserves what it has left under the quota
    /// without being checked against it.
    pub fn resume_unfinished(&self) -> Result<(), Error> {
        if let Some(log) = &self.shared.log {
            for entry in log.catalog()?.into_iter().filter(|e| !e.complete()) {
                let orbit = match entry.run.seed() {
                    Some(_) => None,
                    // An orbit run continues under the scenario the log keeps with it.
                    None => match logged_orbit(log, entry.run) {
                        Ok(orbit) => Some(orbit),
                        Err(e) => {
                            tracing::warn!(run = %entry.run, error = %e, "cannot resume the run");
                            continue;
                        }
                    },
                };
                let reservation = log.reserve(
                    entry.run,
                    entry.bodies,
                    entry.target.saturating_sub(entry.iterations),
                );
                self.submit_with(
                    entry.run,
                    entry.target,
                    false,
                    Some(reservation),
                    orbit.as_ref(),
                )?;
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
        self.submit_with(run, target, records, None, None)
    }

    /// [`EngineHandle::submit`] for any scenario: `target` output steps of an orbit
    /// scenario (its run key is [`Scenario::run_key`]), or iterations of a nano one.
    pub fn submit_scenario(
        &self,
        scenario: &Scenario,
        target: u64,
        records: bool,
    ) -> Result<JobHandle, Error> {
        match scenario {
            Scenario::Nano { seed } => self.submit(RunKey::nano(*seed), target, records),
            Scenario::Orbit(orbit) => {
                let orbit = OrbitRun {
                    scenario: orbit.clone(),
                    canonical: scenario.canonical().into(),
                };
                self.submit_with(scenario.run_key(), target, records, None, Some(&orbit))
            }
        }
    }

    /// [`EngineHandle::submit`] for a request admitted under the log's quota
    /// ([`Log::admit`]): the job keeps `reservation` until it completes or fails, so
    /// that runs admitted meanwhile count its bytes as if written.
    pub fn submit_admitted(
        &self,
        run: RunKey,
        target: u64,
        reservation: Reservation,
    ) -> Result<JobHandle, Error> {
        self.submit_with(run, target, false, Some(reservation), None)
    }

    /// [`EngineHandle::submit_scenario`] for a request admitted under the log's quota
    /// (see [`EngineHandle::submit_admitted`]): how the service starts orbit runs.
    pub fn submit_scenario_admitted(
        &self,
        scenario: &Scenario,
        target: u64,
        reservation: Reservation,
    ) -> Result<JobHandle, Error> {
        match scenario {
            Scenario::Nano { seed } => {
                self.submit_admitted(RunKey::nano(*seed), target, reservation)
            }
            Scenario::Orbit(orbit) => {
                let orbit = OrbitRun {
                    scenario: orbit.clone(),
                    canonical: scenario.canonical().into(),
                };
                self.submit_with(
                    scenario.run_key(),
                    target,
                    false,
                    Some(reservation),
                    Some(&orbit),
                )
            }
        }
    }

    fn submit_with(
        &self,
        run: RunKey,
        target: u64,
        records: bool,
        reservation: Option<Reservation>,
        orbit: Option<&OrbitRun>,
    ) -> Result<JobHandle, Error> {
        if let Some(reason) = self.log_failure() {
            return Err(Error::LogFailed(reason));
        }
        let (events, receiver, wake) = EventSender::channel();
        let handle = |joined_at, started| JobHandle {
            events: receiver,
            wake,
            joined_at,
            started,
            backlog: Arc::clone(&self.shared.backlog),
            driver: self.driver.clone(),
        };
        let mut subscriber = Subscriber {
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
            subscriber = match registry.join(run, subscriber) {
                Ok(joined_at) => {
                    if let Some(reservation) = reservation {
                        registry.hold(run, reservation);
                    }
                    return Ok(handle(joined_at, false));
                }
                Err(subscriber) => subscriber,
            };
            let starts = registry.starts();
            let held = if tries <= 3 {
                drop(registry);
                None
            } else {
                Some(registry)
            };
            let start = self.start_of(run, orbit)?;
            let logged = match &start {
                Start::Nano(checkpoint) => checkpoint.iterations,
                Start::Orbit(start) => start.iterations,
            };
            if logged >= target {
                let _ = events.send(JobEvent::Complete { iterations: logged });
                return Ok(handle(target, false));
            }
            if let Some(log) = &self.shared.log {
                log.raise_target(run, target)?;
            }
            let mut registry = match held {
                Some(registry) => registry,
                None => self.shared.lock_registry(),
            };
            if registry.starts() != starts {
                continue;
            }
            let weight = job::weight(&start, self.shared.block);
            if let Err(needs) = registry.could_fit(&weight) {
                return Err(Error::OverMemory {
                    run,
                    what: match &start {
                        Start::Nano(_) => format!("a block of {} iterations", weight.whole),
                        Start::Orbit(start) => format!("one step of its {} bodies", start.bodies),
                    },
                    needs_mb: needs.div_ceil(1 << 20),
                    bound_mb: registry.bound() >> 20,
                });
            }
            let id = registry.start(run, target, logged, subscriber);
            self.shared.progressed();
            if let Some(reservation) = reservation {
                registry.hold(run, reservation);
            }
            if let Some(orbit) = orbit {
                registry.keep_scenario(id, Arc::clone(&orbit.canonical));
                if let Start::Orbit(start) = &start {
                    registry.keep_catalog(id, start.catalog.clone());
                }
            }
            let job = Job {
                id,
                run,
                target,
                start,
            };
            // Admitted now, or kept waiting until jobs end (the commit stage admits it).
            let admitted = registry.admit(job, weight);
            drop(registry);
            if let Some(job) = admitted {
                self.send(Command::Submit(Box::new(job)))?;
            }
            return Ok(handle(logged, true));
        }
    }

    /// Where a job for `run` starts: where the log leaves it, or the beginning.
    fn start_of(&self, run: RunKey, orbit: Option<&OrbitRun>) -> Result<Start, Error> {
        let log = self.shared.log.as_ref();
        let Some(orbit) = orbit else {
            let seed = run.seed().ok_or_else(|| Error::JobFailed {
                run,
                reason: "an orbit run needs its scenario".into(),
            })?;
            return Ok(Start::Nano(match log {
                Some(log) => crate::model::logged_checkpoint(log, seed)?,
                None => propagator::start(seed),
            }));
        };
        let bodies = orbit.scenario.body_count() as u32;
        let (iterations, checkpoint) = match log {
            Some(log) => match log.entry(run)? {
                Some(entry) if entry.iterations > 0 => {
                    let slots = log.checkpoint(run)?;
                    check_orbit_checkpoint(run, &orbit.scenario, entry.iterations, &slots)?;
                    (entry.iterations, slots)
                }
                _ => (0, Vec::new()),
            },
            None => (0, Vec::new()),
        };
        Ok(Start::Orbit(OrbitStart {
            scenario: orbit.canonical.to_string(),
            bodies,
            iterations,
            checkpoint,
            // Chosen when the job is admitted.
            epoch: 0,
            catalog: catalog_bodies(&orbit.scenario),
        }))
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
        self.stream_records::<Error>(&job, run, iterations, |r: &Stored| {
            sink(&Record::from_logged(run, *r)?).map_err(Error::from)
        })
    }

    /// Hands every record of the first `iterations` iterations of `run` to `sink`, in
    /// order and as the log keeps them, for `job`, a job submitted for them with
    /// `records` set: those the log holds from the log, the rest as the dataflow
    /// commits them.
    pub fn stream_records<E>(
        &self,
        job: &JobHandle,
        run: RunKey,
        iterations: u64,
        mut sink: impl FnMut(&Stored) -> Result<(), E>,
    ) -> Result<(), Error>
    where
        Error: From<E>,
    {
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

    /// The bytes the blocks in flight may hold ([`EngineConfig::blocks_bytes`]).
    pub fn blocks_bound(&self) -> u64 {
        self.shared.blocks_bytes
    }

    /// The bytes of that bound charged to the jobs admitted ([`crate::admission`]).
    pub fn blocks_charged(&self) -> u64 {
        admission::HELD_ROUNDS.saturating_mul(self.shared.round_bytes.load(Ordering::SeqCst))
    }

    /// Jobs in flight that wait for room in the bound to start.
    pub fn jobs_waiting(&self) -> usize {
        self.shared.lock_registry().waiting()
    }

    /// The most bytes of records the commit stage has held at once since the engine
    /// started: blocks received on worker 0 and not yet in the log, the rounds opened
    /// ahead of it. What [`EngineConfig::blocks_bytes`] bounds, measured.
    pub fn peak_blocks_held(&self) -> u64 {
        self.shared.peak_held.load(Ordering::Relaxed)
    }

    /// Jobs in flight.
    pub fn in_flight(&self) -> usize {
        self.shared.in_flight()
    }

    /// Why the engine looks stuck, if it does: jobs are in flight and nothing holds
    /// them back (no full log volume, no reader behind on its records), yet no round
    /// has been committed nor job started for longer than `after`. A round that takes
    /// that long to compute is a stuck computation as far as a client can tell: each
    /// output step's work is bounded ([`crate::orbit::MAX_SUBSTEPS_PER_OUTPUT`]), but
    /// an epoch holds many.
    pub fn stalled(&self, after: Duration) -> Option<String> {
        let jobs = self.shared.in_flight();
        if jobs == 0 || self.waiting_for_space() || self.shared.backlog.full() {
            return None;
        }
        let last = Duration::from_millis(self.shared.progress_ms.load(Ordering::Relaxed));
        let idle = self.shared.started.elapsed().saturating_sub(last);
        (idle > after).then(|| {
            format!(
                "no round committed for {} s with {jobs} jobs in flight (the bound is {} s): a computation is stuck or too slow",
                idle.as_secs(),
                after.as_secs()
            )
        })
    }

    /// Why the last job of `run` failed, if a body of it stopped (among the latest
    /// [`FAILURES_KEPT`] such runs).
    pub fn failure(&self, run: RunKey) -> Option<String> {
        let failures = self
            .shared
            .failures
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        failures
            .iter()
            .find(|(failed, _)| *failed == run)
            .map(|(_, reason)| reason.clone())
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
        self.shared.lock_registry().is_in_flight(run)
    }

    /// The iterations the job for `run` runs to, when one is in flight: a request for
    /// no more joins it; a request for more extends it (new computation).
    pub fn in_flight_target(&self, run: RunKey) -> Option<u64> {
        self.shared.lock_registry().target(run)
    }

    /// The scenario (canonical document) of the orbit run `run` while a job for it is in
    /// flight: the log keeps it only from the run's first block on.
    pub fn in_flight_scenario(&self, run: RunKey) -> Option<Arc<str>> {
        self.shared.lock_registry().run_scenario(run)
    }

    /// Iterations committed by all jobs since the engine started.
    pub fn iterations_committed(&self) -> u64 {
        self.shared.committed.load(Ordering::Relaxed)
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
        driver::run_worker(worker, block, None)
    })?;
    for result in guards.join() {
        result.map_err(Error::Timely)?;
    }
    Ok(())
}

/// An orbit run as the engine submits it: its scenario, and the scenario's canonical
/// document (what the workers read and the log keeps).
struct OrbitRun {
    scenario: OrbitScenario,
    canonical: Arc<str>,
}

/// The element sets of `scenario`'s catalogue objects, for the workers.
fn catalog_bodies(scenario: &OrbitScenario) -> Option<Arc<CatalogBodies>> {
    let objects = scenario.catalog()?.objects()?;
    Some(Arc::new(CatalogBodies {
        first: scenario.own_body_count() as u32,
        elements: objects.objects.iter().map(|o| o.elements.clone()).collect(),
    }))
}

/// The orbit run `run` as the log keeps its scenario (its catalogue, if it names one,
/// from the log's kept files).
fn logged_orbit(log: &Log, run: RunKey) -> Result<OrbitRun, Error> {
    let unreadable = |detail: String| Error::UnreadableCheckpoint { run, detail };
    let document = log
        .document(run)?
        .ok_or_else(|| unreadable("the log keeps no scenario for it".into()))?;
    // It was accepted when the run started, under the rules of then.
    match Scenario::parse_logged_with(&document, &LogCatalogs::new(log.clone())) {
        Ok(Scenario::Orbit(scenario)) => Ok(OrbitRun {
            scenario,
            canonical: document.into(),
        }),
        Ok(_) => Err(unreadable("its scenario is not an orbit scenario".into())),
        Err(e) => Err(unreadable(format!("its scenario does not parse: {e}"))),
    }
}

/// Checks that `slots`, the log's checkpoint of orbit run `run` after `iterations`
/// steps, resumes every body of `scenario` there (so that the workers cannot fail to).
fn check_orbit_checkpoint(
    run: RunKey,
    scenario: &OrbitScenario,
    iterations: u64,
    slots: &[Vec<u8>],
) -> Result<(), Error> {
    let unreadable = |detail: String| Error::UnreadableCheckpoint { run, detail };
    if slots.len() != scenario.body_count() {
        return Err(unreadable(format!(
            "{} slots for {} bodies",
            slots.len(),
            scenario.body_count()
        )));
    }
    for (body, bytes) in slots.iter().enumerate() {
        let propagator =
            BodyPropagator::resume(scenario, body, bytes).map_err(|e| unreadable(e.to_string()))?;
        if propagator.steps_done() != iterations {
            return Err(unreadable(format!(
                "body {body} stands at step {}, the catalog at {iterations}",
                propagator.steps_done()
            )));
        }
    }
    Ok(())
}
