//! An idle cluster does not spin. In a test binary of its own, so that no other test
//! shares this process's CPU time.

mod support;

use std::time::Duration;

use support::{cluster_engine, cpu_ticks, hostfile, spawn_worker};

/// Voluntary context switches of all threads of process `pid` (each is a wake-up).
fn context_switches(pid: &str) -> u64 {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .map(|task| {
            let status =
                std::fs::read_to_string(task.unwrap().path().join("status")).unwrap_or_default();
            status
                .lines()
                .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
                .map_or(0, |v| v.trim().parse::<u64>().unwrap_or(0))
        })
        .sum()
}

#[test]
fn a_cluster_with_nothing_to_do_uses_almost_no_cpu() {
    let dir = tempfile::tempdir().unwrap();
    let hosts_path = hostfile(dir.path(), 2);
    let peer = spawn_worker(&hosts_path, 1, 2);
    let engine = cluster_engine(&hosts_path, 2);
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
    let switches = context_switches(&pid);
    let window = Duration::from_secs(3);
    std::thread::sleep(window);
    let ticks_per_second = 100; // USER_HZ on Linux
    let budget = window.as_secs() * ticks_per_second / 100; // 1% of a core
    let (used_ours, used_theirs) = (cpu_ticks("self") - ours, cpu_ticks(&pid) - theirs);
    eprintln!(
        "idle for {window:?}: process 0 used {used_ours} ticks, process 1 {used_theirs} ticks and {} context switches",
        context_switches(&pid) - switches
    );
    // Generous: one tick of slack for the clock's granularity.
    assert!(
        used_ours <= budget + 1,
        "process 0 used {used_ours} ticks in {window:?}"
    );
    assert!(
        used_theirs <= budget + 1,
        "process 1 used {used_theirs} ticks in {window:?}"
    );
    engine.shutdown().unwrap();
}
