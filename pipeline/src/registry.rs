//! The jobs in flight on process 0: who asked for each (its subscribers and their
//! targets), single flight by run, and what happens when a block is committed (progress
//! and records to the subscribers, completion, a follow-up job for a subscriber that
//! asked for more while the job ran).
//!
//! It also admits jobs into the engine's memory for blocks in flight
//! ([`crate::admission`]): each job is charged what its rounds hold when it starts, a
//! job that does not fit waits in a queue (first come, first served) until jobs end.
//!
//! The registry does no I/O and knows nothing of timely: the engine holds it behind a
//! lock, the commit stage on worker 0 reports committed blocks to it, and the job it
//! returns for a follow-up is the engine's to submit.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use crate::admission::{self, Decision, Weight, HELD_ROUNDS};
use crate::job::{
    Backlog, BlockOut, CatalogBodies, EventSender, Job, JobEvent, OrbitStart, Saved, Start, Stored,
};
use crate::model::RunKey;
use nano_store::space::Reservation;

/// A requester of a job.
pub(crate) struct Subscriber {
    pub(crate) events: EventSender,
    /// The iterations this requester asked for.
    pub(crate) target: u64,
    /// Whether it asked for the records (not only progress).
    pub(crate) records: bool,
}

/// One job in flight.
struct JobState {
    run: RunKey,
    /// When the job started (for its log line).
    started: Instant,
    /// Iterations committed.
    committed: u64,
    /// The most iterations any subscriber asked for (a follow-up job runs to it).
    wanted: u64,
    subscribers: Vec<Subscriber>,
    /// What the run was admitted with under the log's quota: held while the job is in
    /// flight (a follow-up job takes it over), given back when it ends.
    reservations: Vec<Reservation>,
    /// An orbit run's scenario (its canonical document): logged with its first block,
    /// and what a follow-up job runs.
    scenario: Option<Arc<str>>,
    /// Its catalogue objects' element sets, for a job that continues it.
    catalog: Option<Arc<CatalogBodies>>,
    /// The bytes one round of the job holds (see [`Registry::weigh`]); 0 while it
    /// waits for admission.
    round_bytes: u64,
    /// An orbit job's output steps per round, once admitted (a follow-up keeps them).
    epoch: u64,
}

/// Jobs in flight, by job id and by run (at most one job per run).
pub(crate) struct Registry {
    jobs: HashMap<u64, JobState>,
    by_run: HashMap<RunKey, u64>,
    next_id: u64,
    /// Jobs started so far: a submitter that read the log without the lock checks
    /// that no job started meanwhile (see [`crate::engine::EngineHandle::submit`]).
    starts: u64,
    /// `jobs.len()`, kept where the driver can read it without the lock.
    in_flight: Arc<AtomicUsize>,
    /// The sum of the jobs' round bytes, kept where the driver can read it without
    /// the lock: what one round of every job in flight holds.
    round_bytes: Arc<AtomicU64>,
    /// The bytes the blocks in flight may hold: the jobs admitted are charged
    /// [`HELD_ROUNDS`] of their rounds each, and their charges stay within it.
    bound: u64,
    /// Jobs registered and not yet admitted, in the order they came, each with its
    /// weight; the first is admitted first.
    waiting: VecDeque<(Job, Weight)>,
}

impl Default for Registry {
    /// A registry with no bound on the blocks in flight.
    fn default() -> Self {
        Registry::with_bound(u64::MAX)
    }
}

/// What the registry made of one committed block.
#[derive(Debug)]
pub(crate) struct Delivery {
    /// Iterations the block committed (for the engine's count).
    pub(crate) iterations: u64,
    /// The follow-up job, when the block ended a job whose subscribers asked for more
    /// while it ran: the engine submits it and raises the run's target in the catalog.
    pub(crate) continued: Option<Job>,
}

impl Registry {
    /// A registry that admits jobs while their charges fit in `bound` bytes.
    pub(crate) fn with_bound(bound: u64) -> Self {
        Registry {
            jobs: HashMap::new(),
            by_run: HashMap::new(),
            next_id: 0,
            starts: 0,
            in_flight: Arc::default(),
            round_bytes: Arc::default(),
            bound,
            waiting: VecDeque::new(),
        }
    }

    /// The bytes the blocks in flight may hold.
    pub(crate) fn bound(&self) -> u64 {
        self.bound
    }

    /// The bytes charged to the jobs admitted: [`HELD_ROUNDS`] of their rounds each.
    pub(crate) fn charged(&self) -> u64 {
        HELD_ROUNDS.saturating_mul(self.round_bytes.load(Ordering::SeqCst))
    }

    /// Jobs registered and waiting for room to start.
    pub(crate) fn waiting(&self) -> usize {
        self.waiting.len()
    }

    /// Whether a job of `weight` could ever be admitted: `Err` with the bytes its
    /// smallest rounds need when they are over the whole bound.
    pub(crate) fn could_fit(&self, weight: &Weight) -> Result<(), u64> {
        match admission::decide(weight, 0, self.bound) {
            Decision::Never { needs } => Err(needs),
            _ => Ok(()),
        }
    }

    /// Admits `job` (registered by [`Registry::start`]) when it fits beside the jobs
    /// admitted before it and none waits ahead of it: returns it, its epoch chosen and
    /// its charge taken, for the engine to submit. Otherwise it waits (see
    /// [`Registry::admit_waiting`]).
    pub(crate) fn admit(&mut self, job: Job, weight: Weight) -> Option<Job> {
        self.waiting.push_back((job, weight));
        let mut admitted = self.admit_waiting();
        debug_assert!(admitted.len() <= 1, "only the new job can be admitted here");
        admitted.pop()
    }

    /// Admits the jobs waiting, first come first served, while they fit; returns those
    /// admitted, for the engine to submit. Called when jobs end.
    pub(crate) fn admit_waiting(&mut self) -> Vec<Job> {
        let mut admitted = Vec::new();
        // A waiting job is registered: `finish` and `stop_all` take it out of the queue
        // as they take it out of `jobs`.
        while let Some((_, weight)) = self.waiting.front() {
            let Decision::Start { epoch, .. } =
                admission::decide(weight, self.charged(), self.bound)
            else {
                break;
            };
            let (mut job, weight) = self.waiting.pop_front().expect("looked at above");
            if let Start::Orbit(start) = &mut job.start {
                start.epoch = epoch;
            }
            self.jobs
                .get_mut(&job.id)
                .expect("a waiting job is registered")
                .epoch = epoch;
            self.weigh(job.id, epoch.saturating_mul(weight.bytes_per_iteration));
            admitted.push(job);
        }
        admitted
    }

    /// The job count, shared: it stays current as jobs start and end.
    pub(crate) fn in_flight_counter(&self) -> Arc<AtomicUsize> {
        Arc::clone(&self.in_flight)
    }

    /// What one round of every job in flight holds, shared: it stays current as jobs
    /// are weighed and end.
    pub(crate) fn round_bytes_counter(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.round_bytes)
    }

    /// Sets what one round of job `id` holds ([`Job::round_bytes`]): the engine
    /// weighs each job it starts, a follow-up job keeps its predecessor's weight.
    pub(crate) fn weigh(&mut self, id: u64, bytes: u64) {
        if let Some(state) = self.jobs.get_mut(&id) {
            let old = std::mem::replace(&mut state.round_bytes, bytes);
            // Up first: the driver may read between the two, and an overestimate is safe.
            self.round_bytes.fetch_add(bytes, Ordering::SeqCst);
            self.round_bytes.fetch_sub(old, Ordering::SeqCst);
        }
    }

    /// Jobs started so far.
    pub(crate) fn starts(&self) -> u64 {
        self.starts
    }

    /// Joins `subscriber` to the job in flight for `run`, if there is one, raising the
    /// job's target to the subscriber's; returns the iterations committed so far (the
    /// log holds their records). Hands the subscriber back when no job is in flight.
    pub(crate) fn join(&mut self, run: RunKey, subscriber: Subscriber) -> Result<u64, Subscriber> {
        let Some(state) = self
            .by_run
            .get(&run)
            .copied()
            .and_then(|id| self.jobs.get_mut(&id))
        else {
            return Err(subscriber);
        };
        state.wanted = state.wanted.max(subscriber.target);
        state.subscribers.push(subscriber);
        Ok(state.committed)
    }

    /// Registers a new job for `run`, `committed` iterations in, running to `target`;
    /// returns its id.
    pub(crate) fn start(
        &mut self,
        run: RunKey,
        target: u64,
        committed: u64,
        subscriber: Subscriber,
    ) -> u64 {
        self.start_with(run, target, committed, vec![subscriber], Vec::new())
    }

    fn start_with(
        &mut self,
        run: RunKey,
        target: u64,
        committed: u64,
        subscribers: Vec<Subscriber>,
        reservations: Vec<Reservation>,
    ) -> u64 {
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
                subscribers,
                reservations,
                scenario: None,
                catalog: None,
                round_bytes: 0,
                epoch: 0,
            },
        );
        self.by_run.insert(run, id);
        self.in_flight.store(self.jobs.len(), Ordering::SeqCst);
        id
    }

    fn finish(&mut self, id: u64) -> Option<JobState> {
        let state = self.jobs.remove(&id)?;
        self.by_run.remove(&state.run);
        self.waiting.retain(|(job, _)| job.id != id);
        self.round_bytes
            .fetch_sub(state.round_bytes, Ordering::SeqCst);
        self.in_flight.store(self.jobs.len(), Ordering::SeqCst);
        Some(state)
    }

    /// Keeps `reservation` with the job in flight for `run` until the job ends; gives
    /// it back at once when none is in flight.
    pub(crate) fn hold(&mut self, run: RunKey, reservation: Reservation) {
        if let Some(state) = self.by_run.get(&run).and_then(|id| self.jobs.get_mut(id)) {
            state.reservations.push(reservation);
        }
    }

    /// Keeps the catalogue objects' element sets of the orbit run of job `id`.
    pub(crate) fn keep_catalog(&mut self, id: u64, catalog: Option<Arc<CatalogBodies>>) {
        if let Some(state) = self.jobs.get_mut(&id) {
            state.catalog = catalog;
        }
    }

    /// Keeps the scenario (canonical document) of the orbit run of job `id`.
    pub(crate) fn keep_scenario(&mut self, id: u64, scenario: Arc<str>) {
        if let Some(state) = self.jobs.get_mut(&id) {
            state.scenario = Some(scenario);
        }
    }

    /// The scenario of the orbit run of job `id`, if it is one and still in flight.
    pub(crate) fn scenario(&self, id: u64) -> Option<Arc<str>> {
        self.jobs.get(&id)?.scenario.clone()
    }

    /// The scenario of the orbit run `run`, when a job for it is in flight.
    pub(crate) fn run_scenario(&self, run: RunKey) -> Option<Arc<str>> {
        self.scenario(*self.by_run.get(&run)?)
    }

    /// Whether job `id` is still in flight (its blocks are still wanted).
    pub(crate) fn contains(&self, id: u64) -> bool {
        self.jobs.contains_key(&id)
    }

    /// The iterations the job for `run` runs to, when one is in flight.
    pub(crate) fn target(&self, run: RunKey) -> Option<u64> {
        let id = self.by_run.get(&run)?;
        self.jobs.get(id).map(|state| state.wanted)
    }

    /// Whether a job for `run` is in flight.
    pub(crate) fn is_in_flight(&self, run: RunKey) -> bool {
        self.by_run.contains_key(&run)
    }

    /// Ends job `id` with `reason`, told to every subscriber.
    pub(crate) fn fail(&mut self, id: u64, reason: &str) {
        if let Some(state) = self.finish(id) {
            state.log_end(state.committed, "failed");
            for s in state.subscribers {
                let _ = s.events.send(JobEvent::Failed(reason.to_string()));
            }
        }
    }

    /// Ends every job: the engine stopped. Each subscriber hears where its run stopped.
    pub(crate) fn stop_all(&mut self) {
        for (_, state) in self.jobs.drain() {
            state.log_end(state.committed, "stopped");
            for s in state.subscribers {
                let _ = s.events.send(JobEvent::Failed(format!(
                    "the engine stopped at iteration {} of run {}; it resumes from the log on the next start",
                    state.committed, state.run
                )));
            }
        }
        self.by_run.clear();
        self.waiting.clear();
        self.in_flight.store(0, Ordering::SeqCst);
        self.round_bytes.store(0, Ordering::SeqCst);
    }

    /// Reports one committed block to its job's subscribers, and ends the job when the
    /// block is its last (continuing it, as a new job, when a subscriber asked for more
    /// meanwhile). `None` when the job is no longer in flight.
    pub(crate) fn deliver(&mut self, mut block: BlockOut, backlog: &Backlog) -> Option<Delivery> {
        let done = block.end;
        let records = std::mem::take(&mut block.records);
        let iterations = done - block.first_iteration;
        if done < block.target {
            let state = self.jobs.get_mut(&block.job)?;
            state.committed = done;
            notify(&mut state.subscribers, done, records, backlog);
            return Some(Delivery {
                iterations,
                continued: None,
            });
        }
        // The job's last block: it leaves the registry before anyone hears it is
        // complete, so a subscriber that saw `Complete` never finds it still in flight.
        let mut state = self.finish(block.job)?;
        notify(&mut state.subscribers, done, records, backlog);
        if state.subscribers.is_empty() || state.wanted <= done {
            state.log_end(done, "complete");
            return Some(Delivery {
                iterations,
                continued: None,
            });
        }
        state.log_end(done, "continued");
        // Someone asked for more while the job ran: continue from where it ended.
        let target = state.wanted;
        let reservations = std::mem::take(&mut state.reservations);
        // It keeps its predecessor's charge and epoch: no admission between the two.
        let id = self.start_with(state.run, target, done, state.subscribers, reservations);
        self.weigh(id, state.round_bytes);
        if let Some(next) = self.jobs.get_mut(&id) {
            next.epoch = state.epoch;
        }
        let start = match block.saved {
            Saved::Nano(checkpoint) => Start::Nano(checkpoint),
            Saved::Bodies(saved) => {
                let scenario = state.scenario.clone()?;
                self.keep_scenario(id, Arc::clone(&scenario));
                self.keep_catalog(id, state.catalog.clone());
                Start::Orbit(OrbitStart {
                    scenario: scenario.to_string(),
                    bodies: block.bodies,
                    iterations: done,
                    checkpoint: saved.into_iter().map(|(_, bytes)| bytes).collect(),
                    epoch: state.epoch,
                    catalog: state.catalog.clone(),
                })
            }
        };
        Some(Delivery {
            iterations,
            continued: Some(Job {
                id,
                run: state.run,
                target,
                start,
            }),
        })
    }
}

/// Sends one committed block's records, progress and (at a subscriber's target)
/// completion to each subscriber; keeps those still waiting for more.
/// The block's records go to the last subscriber that wants them all as they are (the
/// usual one), and as copies to the others.
fn notify(subscribers: &mut Vec<Subscriber>, done: u64, records: Vec<Stored>, backlog: &Backlog) {
    let mut readers = subscribers.iter().filter(|s| s.records).count();
    let mut block = Some(records);
    subscribers.retain(|s| {
        if s.records {
            readers -= 1;
            let all = block.as_ref().expect("taken by the last reader only");
            let records: Vec<_> =
                if readers == 0 && all.last().is_none_or(|r| r.iteration < s.target) {
                    block.take().expect("the last reader")
                } else {
                    all.iter()
                        .filter(|r| r.iteration < s.target)
                        .copied()
                        .collect()
                };
            if !records.is_empty() {
                let count = records.len();
                backlog.add(count);
                if s.events.send(JobEvent::Records(records)).is_err() {
                    backlog.taken(count);
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

#[cfg(test)]
mod tests {
    use std::sync::mpsc::Receiver;

    use super::*;
    use crate::job::ActiveJob;
    use crate::propagator;

    const RUN: RunKey = RunKey::nano(7);
    const BLOCK: u64 = 10;

    fn subscriber(target: u64, records: bool) -> (Subscriber, Receiver<JobEvent>) {
        let (events, receiver, _wake) = EventSender::channel();
        let subscriber = Subscriber {
            events,
            target,
            records,
        };
        (subscriber, receiver)
    }

    /// The blocks of job `id`, computed by the real propagator, `BLOCK` iterations each.
    fn blocks(id: u64, run: RunKey, start: crate::model::Checkpoint, target: u64) -> Vec<BlockOut> {
        let mut job = ActiveJob::new(Box::new(Job {
            id,
            run,
            target,
            start: crate::job::Start::Nano(start),
        }));
        let mut out = Vec::new();
        while !job.done() {
            out.push(job.next_block(BLOCK));
        }
        out
    }

    fn events(receiver: &Receiver<JobEvent>) -> Vec<JobEvent> {
        receiver.try_iter().collect()
    }

    #[test]
    fn a_second_request_for_a_run_in_flight_joins_its_job() {
        let mut registry = Registry::default();
        let (first, _first_events) = subscriber(20, false);
        let id = registry.start(RUN, 20, 0, first);
        let (second, second_events) = subscriber(20, false);
        assert_eq!(registry.join(RUN, second).ok(), Some(0));
        assert_eq!(registry.in_flight_counter().load(Ordering::SeqCst), 1);
        assert_eq!(registry.starts(), 1);
        for block in blocks(id, RUN, propagator::start(7), 20) {
            assert!(registry
                .deliver(block, &Backlog::default())
                .unwrap()
                .continued
                .is_none());
        }
        assert_eq!(
            events(&second_events).last(),
            Some(&JobEvent::Complete { iterations: 20 })
        );
    }

    #[test]
    fn a_request_joining_later_hears_where_the_job_is() {
        let mut registry = Registry::default();
        let (first, _first_events) = subscriber(30, false);
        let id = registry.start(RUN, 30, 0, first);
        let mut blocks = blocks(id, RUN, propagator::start(7), 30).into_iter();
        registry.deliver(blocks.next().unwrap(), &Backlog::default());
        let (second, _) = subscriber(30, false);
        assert_eq!(registry.join(RUN, second).ok(), Some(BLOCK));
    }

    #[test]
    fn a_request_with_no_job_in_flight_is_handed_back() {
        let mut registry = Registry::default();
        let (first, _) = subscriber(20, false);
        registry.start(RunKey::nano(8), 20, 0, first);
        let (second, _) = subscriber(20, false);
        assert!(registry.join(RUN, second).is_err());
        assert!(!registry.is_in_flight(RUN));
    }

    #[test]
    fn the_round_bytes_in_flight_follow_jobs_as_they_are_weighed_continue_and_end() {
        let mut registry = Registry::default();
        let counter = registry.round_bytes_counter();
        let (first, _) = subscriber(20, false);
        let id = registry.start(RUN, 20, 0, first);
        registry.weigh(id, 1_000);
        let (other, _) = subscriber(20, false);
        let other = registry.start(RunKey::nano(8), 20, 0, other);
        registry.weigh(other, 30);
        assert_eq!(counter.load(Ordering::SeqCst), 1_030);
        let (more, _more_events) = subscriber(40, false);
        registry.join(RUN, more).ok().unwrap();
        let mut continued = None;
        for block in blocks(id, RUN, propagator::start(7), 20) {
            continued = registry
                .deliver(block, &Backlog::default())
                .unwrap()
                .continued;
        }
        let follow_up = continued.expect("the larger target continues the run");
        // The follow-up keeps its predecessor's weight; the ended job's is given back.
        assert_eq!(counter.load(Ordering::SeqCst), 1_030);
        registry.fail(follow_up.id, "test");
        assert_eq!(counter.load(Ordering::SeqCst), 30);
        registry.stop_all();
        assert_eq!(counter.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn jobs_beyond_the_bound_wait_in_order_and_start_as_jobs_end() {
        let weight = Weight {
            whole: BLOCK,
            bytes_per_iteration: 130,
            align: None,
        };
        let charge = weight.charge(BLOCK);
        let mut registry = Registry::with_bound(2 * charge);
        let submit = |registry: &mut Registry, seed: u64| {
            let (subscriber, events) = subscriber(20, false);
            let run = RunKey::nano(seed);
            let id = registry.start(run, 20, 0, subscriber);
            let job = Job {
                id,
                run,
                target: 20,
                start: crate::job::Start::Nano(propagator::start(seed)),
            };
            (id, registry.admit(job, weight).map(|job| job.id), events)
        };
        let (first, admitted, _first_events) = submit(&mut registry, 1);
        assert_eq!(admitted, Some(first));
        let (second, admitted, _) = submit(&mut registry, 2);
        assert_eq!(admitted, Some(second));
        assert_eq!(registry.charged(), 2 * charge);
        let (third, admitted, _) = submit(&mut registry, 3);
        assert_eq!(admitted, None, "no room: it waits");
        let (fourth, admitted, fourth_events) = submit(&mut registry, 4);
        assert_eq!(admitted, None);
        assert_eq!(
            (
                registry.waiting(),
                registry.in_flight_counter().load(Ordering::SeqCst)
            ),
            (2, 4)
        );
        assert!(registry.admit_waiting().is_empty(), "nothing ended");
        // A waiting job that fails leaves the queue; one that ends makes room for the
        // next in order.
        registry.fail(fourth, "the disk is full");
        assert_eq!(
            events(&fourth_events),
            vec![JobEvent::Failed("the disk is full".into())]
        );
        assert_eq!(registry.waiting(), 1);
        registry.fail(first, "test");
        let started: Vec<u64> = registry.admit_waiting().iter().map(|job| job.id).collect();
        assert_eq!(started, vec![third]);
        assert_eq!(registry.charged(), 2 * charge);
        assert_eq!(registry.waiting(), 0);
        assert!(registry.could_fit(&weight).is_ok());
        assert_eq!(
            Registry::with_bound(charge - 1).could_fit(&weight),
            Err(charge)
        );
    }

    #[test]
    fn a_larger_target_extends_the_job_with_a_follow_up() {
        let mut registry = Registry::default();
        let (first, first_events) = subscriber(20, false);
        let id = registry.start(RUN, 20, 0, first);
        let (second, second_events) = subscriber(40, false);
        registry.join(RUN, second).ok().unwrap();
        assert_eq!(registry.target(RUN), Some(40));

        let mut continued = None;
        for block in blocks(id, RUN, propagator::start(7), 20) {
            continued = registry
                .deliver(block, &Backlog::default())
                .unwrap()
                .continued;
        }
        let follow_up = continued.expect("the larger target continues the run");
        assert_eq!((follow_up.run, follow_up.target), (RUN, 40));
        assert_eq!(follow_up.iterations(), 20);
        assert_ne!(follow_up.id, id);
        assert!(registry.is_in_flight(RUN));
        assert_eq!(
            events(&first_events).last(),
            Some(&JobEvent::Complete { iterations: 20 })
        );
        assert_eq!(
            events(&second_events).last(),
            Some(&JobEvent::Progress {
                iterations: 20,
                target: 40
            })
        );

        let crate::job::Start::Nano(start) = follow_up.start else {
            panic!("a nano job follows a nano job");
        };
        for block in blocks(follow_up.id, RUN, start, 40) {
            assert!(registry
                .deliver(block, &Backlog::default())
                .unwrap()
                .continued
                .is_none());
        }
        assert_eq!(
            events(&second_events).last(),
            Some(&JobEvent::Complete { iterations: 40 })
        );
        assert!(!registry.is_in_flight(RUN));
    }

    #[test]
    fn the_last_block_removes_the_job_and_completes_its_subscribers() {
        let mut registry = Registry::default();
        let counter = registry.in_flight_counter();
        let (first, first_events) = subscriber(20, false);
        let id = registry.start(RUN, 20, 0, first);
        let blocks = blocks(id, RUN, propagator::start(7), 20);
        assert_eq!(blocks.len(), 2);
        let mut blocks = blocks.into_iter();
        registry.deliver(blocks.next().unwrap(), &Backlog::default());
        assert!(registry.is_in_flight(RUN));
        assert_eq!(counter.load(Ordering::SeqCst), 1);
        registry.deliver(blocks.next().unwrap(), &Backlog::default());
        assert_eq!(
            events(&first_events).last(),
            Some(&JobEvent::Complete { iterations: 20 })
        );
        // The count the driver reads without the lock, and the registry, agree.
        assert_eq!(counter.load(Ordering::SeqCst), 0);
        assert!(!registry.is_in_flight(RUN) && !registry.contains(id));
        assert_eq!(registry.target(RUN), None);
        // A new request for the run starts a job rather than joining the ended one.
        let (again, _) = subscriber(30, false);
        assert!(registry.join(RUN, again).is_err());
    }

    #[test]
    fn a_jobs_reservation_is_held_until_it_ends_and_carried_to_a_follow_up() {
        let space = nano_store::space::Space::new(std::path::Path::new("unused"), None);
        let mut registry = Registry::default();
        let (first, _first_events) = subscriber(20, false);
        let id = registry.start(RUN, 20, 0, first);
        registry.hold(RUN, space.reserve(20));
        let (second, _second_events) = subscriber(40, false);
        registry.join(RUN, second).ok().unwrap();
        registry.hold(RUN, space.reserve(20));
        let both = space.reserved();
        assert!(both > 0);
        let mut continued = None;
        for block in blocks(id, RUN, propagator::start(7), 20) {
            continued = registry
                .deliver(block, &Backlog::default())
                .unwrap()
                .continued;
            assert_eq!(space.reserved(), both, "held while the runs are in flight");
        }
        let follow_up = continued.expect("the larger target continues the run");
        let crate::job::Start::Nano(start) = follow_up.start else {
            panic!("a nano job follows a nano job");
        };
        for block in blocks(follow_up.id, RUN, start, 40) {
            assert_eq!(space.reserved(), both);
            registry.deliver(block, &Backlog::default());
        }
        assert_eq!(space.reserved(), 0, "given back when the job completes");

        let (third, _) = subscriber(20, false);
        let id = registry.start(RunKey::nano(8), 20, 0, third);
        registry.hold(RunKey::nano(8), space.reserve(20));
        registry.hold(RUN, space.reserve(20));
        assert_eq!(
            space.reserved(),
            both / 2,
            "a run with no job in flight holds nothing"
        );
        registry.fail(id, "the disk is full");
        assert_eq!(space.reserved(), 0, "given back when the job fails");
    }

    #[test]
    fn a_failure_reaches_every_subscriber_and_ends_the_job() {
        let mut registry = Registry::default();
        let (first, first_events) = subscriber(20, false);
        let id = registry.start(RUN, 20, 0, first);
        let (second, second_events) = subscriber(30, true);
        registry.join(RUN, second).ok().unwrap();
        registry.fail(id, "the disk is full");
        for receiver in [&first_events, &second_events] {
            assert_eq!(
                events(receiver),
                vec![JobEvent::Failed("the disk is full".into())]
            );
        }
        assert!(!registry.contains(id));
        assert_eq!(registry.in_flight_counter().load(Ordering::SeqCst), 0);
        // Blocks of the failed job that arrive later are dropped.
        let late = blocks(id, RUN, propagator::start(7), 20);
        assert!(registry
            .deliver(late.into_iter().next().unwrap(), &Backlog::default())
            .is_none());
    }

    #[test]
    fn stopping_tells_every_subscriber_where_its_run_stopped() {
        let mut registry = Registry::default();
        let (first, first_events) = subscriber(20, false);
        registry.start(RUN, 20, 0, first);
        let (other, other_events) = subscriber(20, false);
        registry.start(RunKey::nano(8), 20, 0, other);
        registry.stop_all();
        for receiver in [&first_events, &other_events] {
            match events(receiver).as_slice() {
                [JobEvent::Failed(reason)] => assert!(
                    reason.starts_with("the engine stopped at iteration 0 of run"),
                    "{reason}"
                ),
                other => panic!("expected one failure, got {other:?}"),
            }
        }
        assert!(!registry.is_in_flight(RUN) && !registry.is_in_flight(RunKey::nano(8)));
        assert_eq!(registry.in_flight_counter().load(Ordering::SeqCst), 0);
    }

    #[test]
    fn records_go_only_to_those_who_asked_and_stop_at_their_target() {
        let mut registry = Registry::default();
        let backlog = Backlog::default();
        let (reader, reader_events) = subscriber(15, true);
        let id = registry.start(RUN, 20, 0, reader);
        let (watcher, watcher_events) = subscriber(20, false);
        registry.join(RUN, watcher).ok().unwrap();
        let blocks = blocks(id, RUN, propagator::start(7), 20);
        let expected: Vec<_> = blocks
            .iter()
            .flat_map(|b| b.records.iter().copied())
            .filter(|r| r.iteration < 15)
            .collect();
        let mut delivered = 0;
        for block in blocks {
            delivered += registry.deliver(block, &backlog).unwrap().iterations;
        }
        assert_eq!(delivered, 20);
        let records: Vec<_> = events(&reader_events)
            .into_iter()
            .filter_map(|e| match e {
                JobEvent::Records(records) => Some(records),
                _ => None,
            })
            .flatten()
            .collect();
        assert_eq!(records, expected);
        assert!(events(&watcher_events)
            .iter()
            .all(|e| !matches!(e, JobEvent::Records(_))));
    }

    #[test]
    fn a_subscriber_that_went_away_is_dropped_and_its_blocks_released() {
        let mut registry = Registry::default();
        let backlog = Backlog::default();
        let (gone, gone_events) = subscriber(20, true);
        let id = registry.start(RUN, 20, 0, gone);
        drop(gone_events);
        let (watcher, watcher_events) = subscriber(20, false);
        registry.join(RUN, watcher).ok().unwrap();
        for block in blocks(id, RUN, propagator::start(7), 20) {
            registry.deliver(block, &backlog);
        }
        assert_eq!(
            backlog.taken(0),
            0,
            "no block waits for a reader that went away"
        );
        assert_eq!(
            events(&watcher_events).last(),
            Some(&JobEvent::Complete { iterations: 20 })
        );
    }
}
