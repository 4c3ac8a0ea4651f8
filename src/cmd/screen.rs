//! `screen`: an orbit scenario's run screened for conjunctions, closest first.

use std::collections::VecDeque;
use std::io;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::thread::JoinHandle;

use nano_pipeline::engine::{Engine, EngineConfig};
use nano_pipeline::orbit::OrbitState;
use nano_pipeline::resume;
use nano_pipeline::scenario::Scenario;
use nano_pipeline::screening;
use nano_pipeline::screening::screener::ScreeningError;
use nano_store::Sync;

use super::{open_log, read_orbit_scenario};
use crate::cli::ScreenArgs;
use crate::progress::Progress;

/// Every body's states at a window's output times.
type Window = Vec<Vec<OrbitState>>;

/// What the screening says when the feeder's channel closed early.
const STOPPED_COMING: &str = "the run's states stopped coming";

/// `screen`: the run's states (propagated on the engine's workers in this process, or
/// read from the log), screened a window of time at a time as they come, on this
/// process's workers and those of the processes of --hostfile (which run `screen
/// --process P` with the same flags), pairs of catalogue objects refined on SGP4,
/// written closest first.
pub fn run(args: &ScreenArgs) -> anyhow::Result<()> {
    let input = read_orbit_scenario(&args.scenario, &args.bodies, &args.catalogs, None)?;
    let (scenario, orbit) = (input.scenario, input.orbit);
    let cluster = &args.cluster;
    if cluster.process != 0 {
        // A peer: the same command line, checked the same way, then this process's
        // workers join process 0's screening until it ends.
        let network = cluster
            .network()?
            .expect("a process above 0 has a hostfile");
        screening::windows::run_peer(cluster.workers(), network)?;
        return Ok(());
    }
    // The mesh first, so the peers wait in it while this process propagates.
    let network = cluster.network()?;
    let outputs = args.steps + 1;
    let bodies = orbit.body_count() as u32;
    let window = args.window.unwrap_or_else(|| {
        screening::windows::window_for(
            bodies,
            screening::WINDOW_BYTES,
            screening::windows::BYTES_PER_SAMPLE,
        )
    });
    let (windows, feeder) = feed_windows(args, scenario, window)?;
    let mut bar = Progress::new("screen", "output times", outputs);
    let found = screening::windows::screen_windows(
        outputs as usize,
        args.distance,
        window,
        cluster.workers(),
        network,
        |range| match windows.recv() {
            Ok(states)
                if states
                    .first()
                    .map_or(range.is_empty(), |s| s.len() == range.len()) =>
            {
                Ok(states)
            }
            Ok(states) => Err(ScreeningError::Workers(format!(
                "outputs {range:?} came as a window of {} states",
                states.first().map_or(0, Vec::len)
            ))
            .into()),
            Err(_) => Err(ScreeningError::Workers(STOPPED_COMING.into()).into()),
        },
        |done| bar.advance(done as u64),
    );
    // When the states stopped coming, the feeder says why; otherwise the screening
    // does (and the feeder only that it stopped).
    drop(windows);
    let fed = feeder
        .join()
        .map_err(|_| anyhow::anyhow!("the propagation's thread panicked"))?;
    let mut found = match (found, fed) {
        (Ok(found), fed) => {
            fed?;
            found
        }
        (Err(e), Err(why)) if e.to_string().contains(STOPPED_COMING) => return Err(why),
        (Err(e), _) => return Err(e.into()),
    };
    bar.finish();
    let t_end = args.steps as f64 * orbit.output_step_s();
    screening::refine::on_sgp4(&orbit, &mut found, args.distance, t_end);
    screening::report::by_miss(&mut found);
    let out = super::stdout();
    screening::report::write(out, args.format, args.distance, orbit.body_count(), &found)?;
    Ok(())
}

/// The run's states, a window at a time: the engine (in this process: the mesh of
/// --hostfile is the screening's) computes the run (logged with --data) or replays it
/// from the log, on a thread of its own, which hands each window of `window`
/// intervals (`window + 1` output times, the first the last of the window before) on
/// as soon as every body has its states there, through a channel of one window. What
/// is held is a window and the engine's blocks in flight, whatever the run's length.
fn feed_windows(
    args: &ScreenArgs,
    scenario: Scenario,
    window: usize,
) -> anyhow::Result<(Receiver<Window>, JoinHandle<anyhow::Result<()>>)> {
    let log = match &args.data {
        Some(dir) => Some(open_log(dir, Sync::Batch)?),
        None => None,
    };
    let config = EngineConfig::single_process(args.cluster.workers(), resume::DEFAULT_BLOCK, log);
    let steps = args.steps;
    let (sender, receiver) = sync_channel(1);
    let feeder = std::thread::spawn(move || -> anyhow::Result<()> {
        let Scenario::Orbit(orbit) = &scenario else {
            anyhow::bail!("only an orbit scenario is screened");
        };
        let mut feed = Feed::new(
            orbit.bodies().into_iter().map(|b| b.state0).collect(),
            window,
        );
        let engine = Engine::start(config)?;
        let job = engine.submit_scenario(&scenario, steps, true)?;
        engine.stream_records(&job, scenario.run_key(), steps, |r| {
            let [x, y, z, vx, vy, vz] = r.state;
            let state = OrbitState {
                t: r.t1,
                r: [x, y, z],
                v: [vx, vy, vz],
            };
            feed.push(r.body, r.iteration + 1, state, &sender)
        })?;
        drop(job);
        engine.shutdown()?;
        feed.finish(&sender)
    });
    Ok((receiver, feeder))
}

/// The windows being gathered: each body's states from output `first` on, and how
/// many bodies have each output.
struct Feed {
    window: usize,
    first: u64,
    states: Vec<Vec<OrbitState>>,
    counts: VecDeque<usize>,
    /// Outputs `first..first + complete` are every body's.
    complete: usize,
}

impl Feed {
    fn new(initial: Vec<OrbitState>, window: usize) -> Feed {
        let bodies = initial.len();
        Feed {
            window: window.max(1),
            first: 0,
            states: initial.into_iter().map(|s| vec![s]).collect(),
            counts: VecDeque::from([bodies]),
            complete: 1,
        }
    }

    /// Body `body`'s state at output `k`; each body's come in time order. A window
    /// every body has is sent on.
    fn push(
        &mut self,
        body: u32,
        k: u64,
        state: OrbitState,
        sender: &SyncSender<Window>,
    ) -> io::Result<()> {
        let bodies = self.states.len();
        let states = self
            .states
            .get_mut(body as usize)
            .ok_or_else(|| io::Error::other(format!("the run has no body {body}")))?;
        let at = (k - self.first) as usize;
        if states.len() != at {
            return Err(io::Error::other(format!(
                "body {body}: the state of output {k} after {} states",
                self.first as usize + states.len()
            )));
        }
        states.push(state);
        if self.counts.len() <= at {
            self.counts.resize(at + 1, 0);
        }
        self.counts[at] += 1;
        while self.complete < self.counts.len() && self.counts[self.complete] == bodies {
            self.complete += 1;
        }
        while self.complete > self.window {
            let w = self.window;
            let whole = self.states.iter().map(|s| s[..=w].to_vec()).collect();
            sender
                .send(whole)
                .map_err(|_| io::Error::other("the screening stopped"))?;
            for s in &mut self.states {
                s.drain(..w);
            }
            self.counts.drain(..w);
            self.complete -= w;
            self.first += w as u64;
        }
        Ok(())
    }

    /// The last window, shorter than the others, once the run has ended.
    fn finish(self, sender: &SyncSender<Window>) -> anyhow::Result<()> {
        let left = self.states.first().map_or(0, Vec::len);
        if left > 1 {
            anyhow::ensure!(
                self.complete == left,
                "the run ended with bodies missing states after output {}",
                self.first + self.complete as u64 - 1
            );
            // The screening may have ended already (an error it reports itself).
            let _ = sender.send(self.states);
        }
        Ok(())
    }
}
