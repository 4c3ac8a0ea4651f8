//! The worker threads of a screening's driver, shared by [`super::screener`] (one
//! dataflow kept current) and [`super::windows`] (a dataflow a window): `N` timely
//! workers in this process (process 0 of a cluster, when there is one), each fed
//! commands on a channel of its own and reporting what its part of the output changed
//! on one channel back; and the one-record dataflow that sends a grid from worker 0 to
//! every worker of every process.

use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use timely::dataflow::operators::vec::Broadcast;
use timely::dataflow::operators::{Input as _, Inspect, Probe};

use crate::network::{execute, Network};

use super::grid::Grid;
use super::screener::ScreeningError;
use super::Conjunction;

/// What a worker reports after a command: the conjunctions its part of the output
/// added (`+1`) and removed (`-1`).
pub(super) type Report = Vec<(Conjunction, isize)>;

/// `N` worker threads taking commands of type `C`.
pub(super) struct Pool<C> {
    commands: Vec<Sender<C>>,
    reports: Receiver<Report>,
    workers: Option<JoinHandle<Result<(), String>>>,
}

impl<C: Send + 'static> Pool<C> {
    /// Starts `workers` (at least 1) worker threads, as process 0 of the cluster
    /// `network` when there is one, each running `work` with its commands and the
    /// channel of reports until it returns.
    pub(super) fn start(
        workers: usize,
        network: Option<Network>,
        work: impl Fn(&mut timely::worker::Worker, Receiver<C>, Sender<Report>) + Send + Sync + 'static,
    ) -> Result<Pool<C>, ScreeningError> {
        if workers == 0 {
            return Err(ScreeningError::Workers("workers = 0: at least 1".into()));
        }
        if network.as_ref().is_some_and(|n| n.process != 0) {
            return Err(ScreeningError::Workers(
                "the screening's driver is process 0 of its cluster; the others run as peers"
                    .into(),
            ));
        }
        let (report_tx, reports) = channel();
        let mut commands = Vec::with_capacity(workers);
        let mut receivers = Vec::with_capacity(workers);
        for _ in 0..workers {
            let (tx, rx) = channel();
            commands.push(tx);
            receivers.push(Some(rx));
        }
        let receivers = Arc::new(Mutex::new(receivers));
        let report_tx = Mutex::new(report_tx);
        let guards = execute(workers, network, move |worker| {
            // Process 0's workers are the cluster's first: their index is local.
            let index = worker.index();
            let commands: Option<Receiver<C>> = receivers
                .lock()
                .ok()
                .and_then(|mut r| r.get_mut(index).and_then(Option::take));
            let Some(commands) = commands else {
                return;
            };
            let Some(report) = report_tx.lock().ok().map(|tx| tx.clone()) else {
                return;
            };
            work(worker, commands, report);
        })
        .map_err(|e| ScreeningError::Workers(e.to_string()))?;
        let handle = std::thread::spawn(move || {
            for result in guards.join() {
                result?;
            }
            Ok(())
        });
        Ok(Pool {
            commands,
            reports,
            workers: Some(handle),
        })
    }

    /// Sends every worker the command `make` makes, and gathers what each reports.
    pub(super) fn apply(&self, make: impl Fn() -> C) -> Result<Vec<Report>, ScreeningError> {
        for tx in &self.commands {
            tx.send(make()).map_err(|_| failed())?;
        }
        (0..self.commands.len())
            .map(|_| self.reports.recv().map_err(|_| failed()))
            .collect()
    }

    /// Sends every worker `stop()` and waits for them.
    pub(super) fn stop(&mut self, stop: impl Fn() -> C) -> Result<(), ScreeningError> {
        for tx in &self.commands {
            let _ = tx.send(stop());
        }
        match self.workers.take().map(JoinHandle::join) {
            Some(Ok(Err(e))) => Err(ScreeningError::Workers(e)),
            Some(Err(_)) => Err(ScreeningError::Workers("a worker thread panicked".into())),
            _ => Ok(()),
        }
    }
}

/// A pool dropped without [`Pool::stop`] (an error on the way): its workers see their
/// channels close and end, and are waited for.
impl<C> Drop for Pool<C> {
    fn drop(&mut self) {
        self.commands.clear();
        if let Some(workers) = self.workers.take() {
            let _ = workers.join();
        }
    }
}

fn failed() -> ScreeningError {
    ScreeningError::Workers("a worker thread stopped".into())
}

/// A grid from worker 0 (`sent`: worker 0 passes it, every other worker `None`) to
/// every worker of every process: a dataflow of one record, broadcast, run to its end.
/// `None` when no grid was sent, or one with no distance (which ends a windowed
/// screening's peers).
pub(super) fn share_grid(worker: &mut timely::worker::Worker, sent: Option<Grid>) -> Option<Grid> {
    let received = std::rc::Rc::new(std::cell::Cell::new(None));
    let seen = std::rc::Rc::clone(&received);
    let (mut input, probe) = worker.dataflow::<u64, _, _>(|scope| {
        let (input, stream) = scope.new_input::<Vec<(u64, u64)>>();
        let (probe, _) = stream
            .broadcast()
            .inspect(move |&(d, r)| seen.set(Some((d, r))))
            .probe();
        (input, probe)
    });
    if let Some(grid) = sent {
        input.send((grid.distance_km.to_bits(), grid.max_reach_km.to_bits()));
    }
    input.close();
    while !probe.done() {
        worker.step_or_park(None);
    }
    let (distance, reach) = received.get()?;
    let distance_km = f64::from_bits(distance);
    (!distance_km.is_nan()).then(|| Grid {
        distance_km,
        max_reach_km: f64::from_bits(reach),
    })
}

/// Runs `peer` on `workers` worker threads of process `network.process` (1 or more)
/// of a screening cluster whose driver is process 0, until each returns.
pub(super) fn run_peer(
    workers: usize,
    network: Network,
    peer: impl Fn(&mut timely::worker::Worker) + Send + Sync + 'static,
) -> Result<(), ScreeningError> {
    if network.process == 0 {
        return Err(ScreeningError::Workers(
            "process 0 drives the screening; peers are processes 1 and up".into(),
        ));
    }
    let guards = execute(workers, Some(network), peer)
        .map_err(|e| ScreeningError::Workers(e.to_string()))?;
    for result in guards.join() {
        result.map_err(ScreeningError::Workers)?;
    }
    Ok(())
}
