//! A supervisor for the local form of the cluster: it starts every process, and when any
//! of them exits it stops the rest and starts them all again (timely is fail-stop; the
//! runs resume from the log). Ctrl-C or SIGTERM stops everything.

use std::process::{Child, Command, ExitStatus};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// What a supervisor did, reported to its caller as it happens (the command says each
/// on stderr).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// Process `index` started as `pid`.
    Started { index: usize, pid: u32 },
    /// Process `index` exited with `status`; all are stopped and started again.
    Exited { index: usize, status: ExitStatus },
}

impl std::fmt::Display for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Event::Started { index, pid } => write!(f, "started process {index} (pid {pid})"),
            Event::Exited { index, status } => {
                write!(
                    f,
                    "process {index} exited ({status}); restarting the cluster"
                )
            }
        }
    }
}

/// Starts, watches and restarts a set of processes.
pub struct Supervisor {
    /// Makes the command for process `i`, fresh for every start.
    make: Box<dyn Fn(usize) -> Command>,
    processes: usize,
    /// Set to stop supervising (by a signal handler, or a test).
    pub stop: Arc<AtomicBool>,
}

impl Supervisor {
    /// A supervisor of `processes` processes made by `make`.
    pub fn new(processes: usize, make: impl Fn(usize) -> Command + 'static) -> Self {
        Supervisor {
            make: Box::new(make),
            processes,
            stop: Arc::default(),
        }
    }

    /// Runs until stopped, restarting all processes whenever one exits. Reports each
    /// start and restart to `report` (with process ids) and returns how many restarts
    /// there were.
    pub fn run(&self, report: &mut dyn FnMut(Event)) -> std::io::Result<usize> {
        let mut restarts = 0;
        loop {
            let mut children = self.start_all(report)?;
            let failed = loop {
                if self.stop.load(Ordering::SeqCst) {
                    stop_all(&mut children);
                    return Ok(restarts);
                }
                if let Some((i, status)) = children
                    .iter_mut()
                    .enumerate()
                    .find_map(|(i, c)| c.try_wait().ok().flatten().map(|s| (i, s)))
                {
                    break (i, status);
                }
                std::thread::sleep(Duration::from_millis(50));
            };
            // Ctrl-C reaches the children too: a stop that follows shortly is no failure.
            std::thread::sleep(Duration::from_millis(300));
            if self.stop.load(Ordering::SeqCst) {
                stop_all(&mut children);
                return Ok(restarts);
            }
            report(Event::Exited {
                index: failed.0,
                status: failed.1,
            });
            stop_all(&mut children);
            restarts += 1;
        }
    }

    fn start_all(&self, report: &mut dyn FnMut(Event)) -> std::io::Result<Vec<Child>> {
        let mut children = Vec::with_capacity(self.processes);
        for i in 0..self.processes {
            let child = (self.make)(i).spawn()?;
            report(Event::Started {
                index: i,
                pid: child.id(),
            });
            children.push(child);
        }
        Ok(children)
    }
}

/// Asks process 0 to stop (SIGTERM: it lets its blocks reach the log and shuts the
/// cluster down, so the others exit by themselves), then kills what is left after a
/// grace period.
fn stop_all(children: &mut [Child]) {
    if let Some(first) = children.first() {
        #[cfg(unix)]
        // SAFETY: kill(2) on a child's pid with a valid signal number has no memory effects.
        unsafe {
            kill(first.id() as i32, 15);
        }
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    for child in children.iter_mut() {
        while child.try_wait().ok().flatten().is_none() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

#[cfg(unix)]
extern "C" {
    fn kill(pid: i32, signal: i32) -> i32;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn when_one_process_exits_all_are_restarted() {
        // Process 1 exits at once; process 0 would run a minute. Each start of the set
        // is counted by a file per start.
        let dir = std::env::temp_dir().join(format!("nano-supervisor-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let marks = dir.clone();
        let supervisor = Supervisor::new(2, move |i| {
            let mut command = Command::new("sh");
            let script = if i == 0 {
                "touch \"$0/start-$$\"; sleep 60"
            } else {
                "exit 1"
            };
            command.args(["-c", script, marks.to_str().unwrap()]);
            command
        });
        let stop = Arc::clone(&supervisor.stop);
        let stopper = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(1500));
            stop.store(true, Ordering::SeqCst);
        });
        let restarts = supervisor.run(&mut |_| {}).unwrap();
        stopper.join().unwrap();
        let starts = std::fs::read_dir(&dir).unwrap().count();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(restarts >= 2, "{restarts} restarts");
        assert!(starts >= 2, "process 0 was started {starts} times");
    }
}
