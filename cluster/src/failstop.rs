//! Fail-stop: a process of a cluster that loses a peer exits at once, naming it.
//!
//! timely reports a lost connection by panicking on the network thread that served it
//! (`timely:recv-N` or `timely:send-N`, N the peer's process index); the rest of the
//! process would then wait forever. The hook installed here turns such a panic, and a
//! panic on a worker thread (`timely:work-N`), into a one-line message and an exit with
//! [`LOST_PEER`] (or [`WORKER_FAILED`]), so that the whole cluster stops promptly and
//! its supervisor can restart it; unfinished runs resume from the log.

use std::panic::PanicHookInfo;

/// The exit status of a process that lost a peer.
pub const LOST_PEER: i32 = 3;
/// The exit status of a process whose worker thread failed.
pub const WORKER_FAILED: i32 = 4;

/// What a panic on the thread named `thread` means for the cluster, if anything.
pub fn classify(thread: &str, addresses: &[String]) -> Option<(i32, String)> {
    let peer = |rest: &str| {
        let index: usize = rest.parse().ok()?;
        let address = addresses
            .get(index)
            .map_or("an unknown address", String::as_str);
        Some((LOST_PEER, format!("lost process {index} ({address})")))
    };
    if let Some(rest) = thread
        .strip_prefix("timely:recv-")
        .or_else(|| thread.strip_prefix("timely:send-"))
    {
        return peer(rest);
    }
    thread
        .strip_prefix("timely:work-")
        .map(|worker| (WORKER_FAILED, format!("worker thread {worker} failed")))
}

/// Installs the fail-stop hook for a process of the cluster whose hostfile lists
/// `addresses`. Panics elsewhere keep the previous hook.
pub fn install(addresses: Vec<String>) {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info: &PanicHookInfo<'_>| {
        let thread = std::thread::current();
        match thread.name().and_then(|name| classify(name, &addresses)) {
            Some((status, what)) => {
                let cause = info
                    .payload()
                    .downcast_ref::<String>()
                    .map(String::as_str)
                    .or_else(|| info.payload().downcast_ref::<&str>().copied())
                    .unwrap_or("no message");
                tracing::error!(
                    status,
                    "{what}: {cause}; stopping, since the cluster cannot go on without it (restart it: unfinished runs resume from the log)"
                );
                std::process::exit(status);
            }
            None => previous(info),
        }
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_threads_name_the_lost_peer() {
        let addresses = vec!["a:1".to_owned(), "b:2".to_owned(), "c:3".to_owned()];
        assert_eq!(
            classify("timely:recv-2", &addresses),
            Some((LOST_PEER, "lost process 2 (c:3)".into()))
        );
        assert_eq!(
            classify("timely:send-0", &addresses),
            Some((LOST_PEER, "lost process 0 (a:1)".into()))
        );
        assert_eq!(
            classify("timely:work-1", &addresses),
            Some((WORKER_FAILED, "worker thread 1 failed".into()))
        );
        assert_eq!(classify("main", &addresses), None);
        assert_eq!(classify("timely:recv-x", &addresses), None);
    }
}
