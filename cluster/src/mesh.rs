//! The mesh: one TCP connection between every pair of processes, made before timely
//! starts (timely's own connection loop retries forever and reports on stdout).
//!
//! Process `i` listens on its own hostfile line and dials every process `j < i`, which
//! accepts; the processes may start in any order. Each connection opens with a
//! handshake (`NANOMESH`, the protocol version, the dialer's index and the cluster
//! size) that the acceptor checks and acknowledges, so a stray or misconfigured
//! connection is refused rather than handed to timely. Everything happens within one
//! deadline; at its end the error names every peer still missing.

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream, ToSocketAddrs};
use std::thread;
use std::time::{Duration, Instant};

use crate::hostfile::{Hostfile, HostfileError};

const MAGIC: &[u8; 8] = b"NANOMESH";
const VERSION: u32 = 1;
const HANDSHAKE: usize = 8 + 4 + 8 + 8 + 8;
const RETRY: Duration = Duration::from_millis(100);

/// Why the mesh could not be made.
#[derive(Debug, thiserror::Error)]
pub enum MeshError {
    #[error(transparent)]
    Hostfile(#[from] HostfileError),
    #[error("process {process} cannot listen on {address}: {source}")]
    Bind {
        process: usize,
        address: String,
        source: io::Error,
    },
    #[error("process {process} has {workers} worker threads but process {peer} has {theirs}: every process of a cluster needs the same --workers")]
    Workers {
        process: usize,
        workers: usize,
        peer: usize,
        theirs: usize,
    },
    #[error(
        "process {process} waited {waited:?} for its peers; still missing: {}",
        describe(missing)
    )]
    Timeout {
        process: usize,
        waited: Duration,
        /// Each missing peer: its index, its address, and the last thing that went wrong.
        missing: Vec<(usize, String, String)>,
    },
}

fn describe(missing: &[(usize, String, String)]) -> String {
    missing
        .iter()
        .map(|(i, address, why)| format!("process {i} at {address} ({why})"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Connects process `process` to every other process of `hosts` within `timeout`.
/// Returns one stream per process, in process order, `None` at `process` itself.
pub fn connect(
    hosts: &Hostfile,
    process: usize,
    workers: usize,
    timeout: Duration,
) -> Result<Vec<Option<TcpStream>>, MeshError> {
    hosts.check_process(process)?;
    let processes = hosts.processes();
    let deadline = Instant::now() + timeout;
    let own = hosts.address(process).to_owned();
    let listener = TcpListener::bind(&own).map_err(|source| MeshError::Bind {
        process,
        address: own.clone(),
        source,
    })?;
    let accepting = {
        let hosts = hosts.clone();
        thread::spawn(move || accept(listener, &hosts, process, workers, deadline))
    };
    let mut sockets: Vec<Option<TcpStream>> = (0..processes).map(|_| None).collect();
    let mut missing = Vec::new();
    for (peer, socket) in sockets.iter_mut().enumerate().take(process) {
        match dial(hosts.address(peer), process, processes, workers, deadline) {
            Ok(stream) => *socket = Some(stream),
            Err(Dial::Workers(theirs)) => {
                return Err(MeshError::Workers {
                    process,
                    workers,
                    peer,
                    theirs,
                })
            }
            Err(Dial::Failed(why)) => missing.push((peer, hosts.address(peer).to_owned(), why)),
        }
    }
    let (accepted, not_accepted, mismatch) = accepting
        .join()
        .expect("the accepting thread does not panic");
    if let Some((peer, theirs)) = mismatch {
        return Err(MeshError::Workers {
            process,
            workers,
            peer,
            theirs,
        });
    }
    for (peer, stream) in accepted {
        sockets[peer] = Some(stream);
    }
    missing.extend(not_accepted);
    if !missing.is_empty() {
        missing.sort();
        return Err(MeshError::Timeout {
            process,
            waited: timeout,
            missing,
        });
    }
    for stream in sockets.iter().flatten() {
        // Hand timely plain blocking streams.
        let _ = stream.set_read_timeout(None);
        let _ = stream.set_nodelay(true);
    }
    Ok(sockets)
}

/// Why a peer could not be dialed.
enum Dial {
    /// It answered, with another worker count.
    Workers(usize),
    /// It never answered; the last reason.
    Failed(String),
}

/// Dials `address` until it accepts our handshake or the deadline passes.
fn dial(
    address: &str,
    process: usize,
    processes: usize,
    workers: usize,
    deadline: Instant,
) -> Result<TcpStream, Dial> {
    let mut last = String::from("not tried");
    while Instant::now() < deadline {
        match try_dial(address, process, processes, workers, deadline) {
            Ok((stream, theirs)) if theirs == workers => return Ok(stream),
            Ok((_, theirs)) => return Err(Dial::Workers(theirs)),
            Err(e) => last = e.to_string(),
        }
        thread::sleep(RETRY);
    }
    Err(Dial::Failed(last))
}

fn try_dial(
    address: &str,
    process: usize,
    processes: usize,
    workers: usize,
    deadline: Instant,
) -> io::Result<(TcpStream, usize)> {
    let addr = address.to_socket_addrs()?.next().ok_or_else(|| {
        io::Error::new(io::ErrorKind::NotFound, "the name resolves to no address")
    })?;
    let remaining = deadline
        .saturating_duration_since(Instant::now())
        .max(Duration::from_millis(1));
    let mut stream = TcpStream::connect_timeout(&addr, remaining.min(Duration::from_secs(2)))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut hello = [0u8; HANDSHAKE];
    hello[..8].copy_from_slice(MAGIC);
    hello[8..12].copy_from_slice(&VERSION.to_be_bytes());
    hello[12..20].copy_from_slice(&(process as u64).to_be_bytes());
    hello[20..28].copy_from_slice(&(processes as u64).to_be_bytes());
    hello[28..36].copy_from_slice(&(workers as u64).to_be_bytes());
    stream.write_all(&hello)?;
    let mut ack = [0u8; 10];
    stream.read_exact(&mut ack).map_err(|e| {
        io::Error::new(
            e.kind(),
            "the peer closed the connection: does it have the same hostfile?",
        )
    })?;
    if &ack[..2] != b"OK" {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "the peer did not acknowledge",
        ));
    }
    let theirs = u64::from_be_bytes(ack[2..].try_into().expect("eight bytes")) as usize;
    Ok((stream, theirs))
}

/// The peers accepted, those that never came, and a peer with another worker count.
type Accepted = (
    Vec<(usize, TcpStream)>,
    Vec<(usize, String, String)>,
    Option<(usize, usize)>,
);

/// Accepts every process after `process` until all have connected or the deadline.
/// Each connection is greeted on its own thread, so a slow or stray one holds up
/// nobody.
fn accept(
    listener: TcpListener,
    hosts: &Hostfile,
    process: usize,
    workers: usize,
    deadline: Instant,
) -> Accepted {
    let processes = hosts.processes();
    let mut accepted: Vec<(usize, TcpStream)> = Vec::new();
    let expected = processes - process - 1;
    let (greeted_tx, greeted) = std::sync::mpsc::channel();
    listener
        .set_nonblocking(true)
        .expect("a listener can be made non-blocking");
    while accepted.len() < expected && Instant::now() < deadline {
        match listener.accept() {
            Ok((stream, _)) => {
                let greeted_tx = greeted_tx.clone();
                thread::spawn(move || {
                    if let Ok((peer, theirs)) = greet(&stream, process, processes, workers) {
                        let _ = greeted_tx.send((peer, theirs, stream));
                    }
                });
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                thread::sleep(Duration::from_millis(10))
            }
            Err(_) => thread::sleep(RETRY),
        }
        while let Ok((peer, theirs, stream)) = greeted.try_recv() {
            if theirs != workers {
                return (accepted, Vec::new(), Some((peer, theirs)));
            }
            if !accepted.iter().any(|(p, _)| *p == peer) {
                accepted.push((peer, stream));
            }
        }
    }
    let missing = (process + 1..processes)
        .filter(|p| !accepted.iter().any(|(q, _)| q == p))
        .map(|p| {
            (
                p,
                hosts.address(p).to_owned(),
                "it never connected".to_owned(),
            )
        })
        .collect();
    (accepted, missing, None)
}

/// Reads and checks a dialer's handshake; acknowledges it with our worker count and
/// returns its index and worker count.
fn greet(
    mut stream: &TcpStream,
    process: usize,
    processes: usize,
    workers: usize,
) -> io::Result<(usize, usize)> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut hello = [0u8; HANDSHAKE];
    stream.read_exact(&mut hello)?;
    let version = u32::from_be_bytes(hello[8..12].try_into().expect("four bytes"));
    let peer = u64::from_be_bytes(hello[12..20].try_into().expect("eight bytes")) as usize;
    let size = u64::from_be_bytes(hello[20..28].try_into().expect("eight bytes")) as usize;
    let theirs = u64::from_be_bytes(hello[28..36].try_into().expect("eight bytes")) as usize;
    if &hello[..8] != MAGIC
        || version != VERSION
        || size != processes
        || peer <= process
        || peer >= processes
    {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "not a peer of this cluster",
        ));
    }
    let mut ack = [0u8; 10];
    ack[..2].copy_from_slice(b"OK");
    ack[2..].copy_from_slice(&(workers as u64).to_be_bytes());
    stream.write_all(&ack)?;
    Ok((peer, theirs))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn free_ports(n: usize) -> Vec<u16> {
        let listeners: Vec<_> = (0..n)
            .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
            .collect();
        listeners
            .iter()
            .map(|l| l.local_addr().unwrap().port())
            .collect()
    }

    fn hostfile(ports: &[u16]) -> Hostfile {
        Hostfile::parse(
            &ports
                .iter()
                .map(|p| format!("127.0.0.1:{p}\n"))
                .collect::<String>(),
        )
        .unwrap()
    }

    #[test]
    fn three_processes_started_in_any_order_connect_pairwise() {
        let hosts = hostfile(&free_ports(3));
        let handles: Vec<_> = [2usize, 0, 1]
            .into_iter()
            .map(|p| {
                let hosts = hosts.clone();
                thread::sleep(Duration::from_millis(150));
                thread::spawn(move || (p, connect(&hosts, p, 2, Duration::from_secs(10)).unwrap()))
            })
            .collect();
        let mut meshes: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        meshes.sort_by_key(|(p, _)| *p);
        for (p, sockets) in &meshes {
            assert_eq!(sockets.len(), 3);
            for (q, socket) in sockets.iter().enumerate() {
                assert_eq!(socket.is_some(), q != *p, "process {p}, socket {q}");
            }
        }
        // The streams are really paired: what 2 writes to 0, 0 reads from 2.
        meshes[2].1[0].as_ref().unwrap().write_all(b"hi").unwrap();
        let mut buf = [0u8; 2];
        meshes[0].1[2]
            .as_ref()
            .unwrap()
            .read_exact(&mut buf)
            .unwrap();
        assert_eq!(&buf, b"hi");
    }

    #[test]
    fn processes_with_different_worker_counts_refuse_each_other_clearly() {
        let hosts = hostfile(&free_ports(2));
        let acceptor = {
            let hosts = hosts.clone();
            thread::spawn(move || connect(&hosts, 0, 2, Duration::from_secs(10)))
        };
        let dialer = connect(&hosts, 1, 1, Duration::from_secs(10)).unwrap_err();
        assert_eq!(
            dialer.to_string(),
            "process 1 has 1 worker threads but process 0 has 2: every process of a cluster needs the same --workers"
        );
        let err = acceptor.join().unwrap().unwrap_err();
        assert!(
            err.to_string()
                .contains("process 0 has 2 worker threads but process 1 has 1"),
            "{err}"
        );
    }

    #[test]
    fn a_missing_peer_is_named_when_the_deadline_passes() {
        let hosts = hostfile(&free_ports(3));
        let err = connect(&hosts, 1, 2, Duration::from_millis(600)).unwrap_err();
        let message = err.to_string();
        assert!(message.contains("process 0 at 127.0.0.1:"), "{message}");
        assert!(
            message.contains("process 2 at 127.0.0.1:") && message.contains("never connected"),
            "{message}"
        );
    }

    #[test]
    fn a_process_beyond_the_hostfile_is_an_error_not_a_panic() {
        let hosts = hostfile(&free_ports(2));
        let err = connect(&hosts, 5, 2, Duration::from_millis(100)).unwrap_err();
        assert!(
            err.to_string().contains("process 5 is out of range"),
            "{err}"
        );
    }

    #[test]
    fn a_stranger_is_refused_and_the_mesh_still_forms() {
        let hosts = hostfile(&free_ports(2));
        let acceptor = {
            let hosts = hosts.clone();
            thread::spawn(move || connect(&hosts, 0, 2, Duration::from_secs(10)))
        };
        thread::sleep(Duration::from_millis(200));
        let mut stranger = TcpStream::connect(hosts.address(0)).unwrap();
        stranger
            .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let dialer = connect(&hosts, 1, 2, Duration::from_secs(10)).unwrap();
        assert!(dialer[0].is_some());
        assert!(acceptor.join().unwrap().unwrap()[1].is_some());
    }
}
