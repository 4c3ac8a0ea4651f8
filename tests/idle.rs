//! An idle cluster does not spin. In a test binary of its own, so that no other test
//! shares this process's CPU time.

use std::time::Duration;

use nano_testing::cluster::{cluster_engine, hostfile, spawn_worker};
use nano_testing::process::cpu_ticks;

/// Context switches of all threads of process `pid`, voluntary (a thread that
/// sleeps or waits: each is a wake-up to come) and involuntary (preempted while
/// running), summed over `/proc/PID/task/*/status`.
fn context_switches(pid: &str) -> u64 {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .map(|task| {
            let status =
                std::fs::read_to_string(task.unwrap().path().join("status")).unwrap_or_default();
            status
                .lines()
                .filter_map(|l| {
                    l.strip_prefix("voluntary_ctxt_switches:")
                        .or_else(|| l.strip_prefix("nonvoluntary_ctxt_switches:"))
                })
                .map(|v| v.trim().parse::<u64>().unwrap_or(0))
                .sum::<u64>()
        })
        .sum()
}

/// What an idle process may do in the window: one clock tick (CPU time is charged a
/// whole tick at a time to whatever runs when the tick falls, so a single wake-up
/// may cost one), and a few context switches (this test's own thread sleeping
/// through the window, and the odd wake-up of the runtime). A thread polling every
/// millisecond would make about 3,000 switches in 3 s, and every 10 ms, 300.
const IDLE_TICKS: u64 = 1;
const IDLE_SWITCHES: u64 = 10;

#[test]
fn a_cluster_with_nothing_to_do_uses_no_cpu_and_does_not_wake_up() {
    let dir = tempfile::tempdir().unwrap();
    let hosts_path = hostfile(dir.path(), 2);
    let peer = spawn_worker(&hosts_path, 1, 2);
    let (engine, _screenings) = cluster_engine(&hosts_path, 2);
    // Some work first, so that the idle state is the one after a job.
    let job = engine
        .submit(nano_pipeline::RunKey::nano(3), 20_000, false)
        .unwrap();
    while let Some(event) = job.next() {
        if matches!(event, nano_pipeline::job::JobEvent::Complete { .. }) {
            break;
        }
    }
    std::thread::sleep(Duration::from_millis(300));

    let pid = peer.0.id().to_string();
    let (ours, theirs) = (cpu_ticks("self"), cpu_ticks(&pid));
    let (our_switches, their_switches) = (context_switches("self"), context_switches(&pid));
    let window = Duration::from_secs(3);
    std::thread::sleep(window);
    let (used_ours, used_theirs) = (cpu_ticks("self") - ours, cpu_ticks(&pid) - theirs);
    let (switched_ours, switched_theirs) = (
        context_switches("self") - our_switches,
        context_switches(&pid) - their_switches,
    );
    eprintln!(
        "idle for {window:?}: process 0 used {used_ours} ticks and {switched_ours} context switches, \
         process 1 {used_theirs} ticks and {switched_theirs} context switches"
    );
    for (process, ticks, switches) in [
        (0, used_ours, switched_ours),
        (1, used_theirs, switched_theirs),
    ] {
        assert!(
            ticks <= IDLE_TICKS,
            "process {process} used {ticks} ticks of CPU in {window:?} idle"
        );
        assert!(
            switches <= IDLE_SWITCHES,
            "process {process} switched context {switches} times in {window:?} idle"
        );
    }
    engine.shutdown().unwrap();
}
