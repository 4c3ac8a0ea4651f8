//! `screen`: an orbit scenario's run screened for conjunctions, closest first.

use std::io;

use nano_pipeline::engine::{Engine, EngineConfig};
use nano_pipeline::orbit::OrbitState;
use nano_pipeline::resume;
use nano_pipeline::scenario::{OrbitScenario, Scenario};
use nano_pipeline::screening;
use nano_store::Sync;

use super::{open_log, read_orbit_scenario};
use crate::cli::{ScreenArgs, Usage};
use crate::progress::Progress;

/// The most states `screen` holds in memory (bodies times output times): about 1 GB
/// of states, with the dataflow's copies on top.
const MAX_SCREENED_STATES: u64 = 20_000_000;

/// `screen`: the run's states (propagated on the engine's workers in this process, or
/// read from the log), screened on this process's workers and those of the processes
/// of --hostfile (which run `screen --process P` with the same flags), written
/// closest first.
pub fn run(args: &ScreenArgs) -> anyhow::Result<()> {
    let input = read_orbit_scenario(&args.scenario, &args.bodies, &args.catalogs, None)?;
    let (scenario, orbit) = (input.scenario, input.orbit);
    let states = (orbit.body_count() as u64).saturating_mul(args.steps.saturating_add(1));
    if states > MAX_SCREENED_STATES {
        return Err(Usage(format!(
            "--steps {}: {} bodies at {} output times are {states} states, more than the {MAX_SCREENED_STATES} a screening holds in memory",
            args.steps,
            orbit.body_count(),
            args.steps + 1
        ))
        .into());
    }
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
    let bodies = orbit_states(args, &scenario, &orbit)?;
    let outputs = args.steps + 1;
    let window = args.window.unwrap_or_else(|| {
        screening::windows::window_for(
            orbit.body_count() as u32,
            screening::WINDOW_BYTES,
            screening::windows::BYTES_PER_SAMPLE,
        )
    });
    let mut bar = Progress::new("screen", "output times", outputs);
    let found = screening::screen_in_windows(
        &bodies,
        args.distance,
        window,
        cluster.workers(),
        network,
        |done| bar.advance(done as u64),
    )?;
    bar.finish();
    let out = super::stdout();
    screening::report::write(out, args.format, args.distance, orbit.body_count(), &found)?;
    Ok(())
}

/// Every body's states at the run's output times, `t = 0` first: computed on the
/// engine (logged with --data), or replayed from the log when it holds the run.
fn orbit_states(
    args: &ScreenArgs,
    scenario: &Scenario,
    orbit: &OrbitScenario,
) -> anyhow::Result<Vec<Vec<OrbitState>>> {
    let log = match &args.data {
        Some(dir) => Some(open_log(dir, Sync::Batch)?),
        None => None,
    };
    // The engine runs in this process alone: the mesh of --hostfile is the
    // screening's.
    let config = EngineConfig::single_process(args.cluster.workers(), resume::DEFAULT_BLOCK, log);
    let steps = args.steps;
    let mut bodies: Vec<Vec<OrbitState>> = orbit
        .bodies()
        .into_iter()
        .map(|b| {
            let mut states = Vec::with_capacity(steps as usize + 1);
            states.push(b.state0);
            states
        })
        .collect();
    let engine = Engine::start(config)?;
    let job = engine.submit_scenario(scenario, steps, true)?;
    let mut bar = Progress::new("propagate", "iterations", steps);
    engine.stream_records(&job, scenario.run_key(), steps, |r| {
        let [x, y, z, vx, vy, vz] = r.state;
        let states = bodies
            .get_mut(r.body as usize)
            .ok_or_else(|| io::Error::other(format!("the run has no body {}", r.body)))?;
        // Each body's records arrive in time order, the next one at index iteration + 1.
        if states.len() as u64 != r.iteration + 1 {
            return Err(io::Error::other(format!(
                "body {}: record of iteration {} after {} states",
                r.body,
                r.iteration,
                states.len()
            )));
        }
        states.push(OrbitState {
            t: r.t1,
            r: [x, y, z],
            v: [vx, vy, vz],
        });
        if r.body == 0 {
            bar.set(r.iteration + 1);
        }
        Ok(())
    })?;
    bar.finish();
    drop(job);
    engine.shutdown()?;
    Ok(bodies)
}
