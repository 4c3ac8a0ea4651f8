//! The mesh: one TCP connection between every pair of processes, made before timely
//! starts (timely's own connection loop retries forever and reports on stdout); or
//! several, one per *channel*, for processes that run more than one timely
//! computation side by side (`serve` and `worker`: the engine's, and the
//! screenings').
//!
//! Process `i` listens on its own hostfile line and dials every process `j < i`, once
//! per channel, which accepts; the processes may start in any order. Each connection
//! opens with a handshake (`NANOMESH`, the protocol version, the dialer's index, the
//! cluster size, its worker count, the channel and the number of channels) that the
//! acceptor checks and acknowledges, so a stray or misconfigured connection is
//! refused rather than handed to timely. Everything happens within one deadline; at
//! its end the error names every peer still missing.

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream, ToSocketAddrs};
use std::thread;
use std::time::{Duration, Instant};

use crate::hostfile::{Hostfile, HostfileError};

const MAGIC: &[u8; 8] = b"NANOMESH";
const VERSION: u32 = 2;
const HANDSHAKE: usize = 8 + 4 + 8 + 8 + 8 + 8 + 8;
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
    let mut meshes = connect_channels(hosts, process, workers, 1, timeout)?;
    Ok(meshes.remove(0))
}

/// [`connect`], `channels` (at least 1) connections between every pair: one mesh per
/// channel, in channel order. Every process of the cluster must ask for as many.
pub fn connect_channels(
    hosts: &Hostfile,
    process: usize,
    workers: usize,
    channels: usize,
    timeout: Duration,
) -> Result<Vec<Vec<Option<TcpStream>>>, MeshError> {
    let channels = channels.max(1);
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
        thread::spawn(move || accept(listener, &hosts, process, workers, channels, deadline))
    };
    let mut meshes: Vec<Vec<Option<TcpStream>>> = (0..channels)
        .map(|_| (0..processes).map(|_| None).collect())
        .collect();
    let mut missing = Vec::new();
    for (peer, channel) in (0..process).flat_map(|p| (0..channels).map(move |c| (p, c))) {
        let who = Who {
            process,
            processes,
            workers,
            channel,
            channels,
        };
        match dial(hosts.address(peer), &who, deadline) {
            Ok(stream) => meshes[channel][peer] = Some(stream),
            Err(Dial::Workers(theirs)) => {
                return Err(MeshError::Workers {
                    process,
                    workers,
                    peer,
                    theirs,
                })
            }
            Err(Dial::Failed(why)) => {
                if !missing.iter().any(|(p, _, _)| *p == peer) {
                    missing.push((peer, hosts.address(peer).to_owned(), why));
                }
            }
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
    for ((peer, channel), stream) in accepted {
        meshes[channel][peer] = Some(stream);
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
    for stream in meshes.iter().flatten().flatten() {
        // Hand timely plain blocking streams.
        let _ = stream.set_read_timeout(None);
        let _ = stream.set_nodelay(true);
    }
    Ok(meshes)
}

/// Who dials, and for which channel: what the handshake says.
struct Who {
    process: usize,
    processes: usize,
    workers: usize,
    channel: usize,
    channels: usize,
}

/// Why a peer could not be dialed.
enum Dial {
    /// It answered, with another worker count.
    Workers(usize),
    /// It never answered; the last reason.
    Failed(String),
}

/// Dials `address` until it accepts our handshake or the deadline passes.
fn dial(address: &str, who: &Who, deadline: Instant) -> Result<TcpStream, Dial> {
    let mut last = String::from("not tried");
    while Instant::now() < deadline {
        match try_dial(address, who, deadline) {
            Ok((stream, theirs)) if theirs == who.workers => return Ok(stream),
            Ok((_, theirs)) => return Err(Dial::Workers(theirs)),
            Err(e) => last = e.to_string(),
        }
        thread::sleep(RETRY);
    }
    Err(Dial::Failed(last))
}

fn try_dial(address: &str, who: &Who, deadline: Instant) -> io::Result<(TcpStream, usize)> {
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
    hello[12..20].copy_from_slice(&(who.process as u64).to_be_bytes());
    hello[20..28].copy_from_slice(&(who.processes as u64).to_be_bytes());
    hello[28..36].copy_from_slice(&(who.workers as u64).to_be_bytes());
    hello[36..44].copy_from_slice(&(who.channel as u64).to_be_bytes());
    hello[44..52].copy_from_slice(&(who.channels as u64).to_be_bytes());
    stream.write_all(&hello)?;
    let mut ack = [0u8; 10];
    stream.read_exact(&mut ack).map_err(|e| {
        io::Error::new(
            e.kind(),
            "the peer closed the connection: does it have the same hostfile, and run as its peer (`worker` beside `serve`, the same command otherwise)?",
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
    Vec<((usize, usize), TcpStream)>,
    Vec<(usize, String, String)>,
    Option<(usize, usize)>,
);

/// Accepts every process after `process`, on every channel, until all have connected
/// or the deadline. Each connection is greeted on its own thread, so a slow or stray
/// one holds up nobody.
fn accept(
    listener: TcpListener,
    hosts: &Hostfile,
    process: usize,
    workers: usize,
    channels: usize,
    deadline: Instant,
) -> Accepted {
    let processes = hosts.processes();
    let mut accepted: Vec<((usize, usize), TcpStream)> = Vec::new();
    let expected = (processes - process - 1) * channels;
    let (greeted_tx, greeted) = std::sync::mpsc::channel();
    listener
        .set_nonblocking(true)
        .expect("a listener can be made non-blocking");
    while accepted.len() < expected && Instant::now() < deadline {
        match listener.accept() {
            Ok((stream, _)) => {
                let greeted_tx = greeted_tx.clone();
                thread::spawn(move || {
                    if let Ok((peer, theirs)) =
                        greet(&stream, process, processes, workers, channels)
                    {
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
                return (accepted, Vec::new(), Some((peer.0, theirs)));
            }
            if !accepted.iter().any(|(p, _)| *p == peer) {
                accepted.push((peer, stream));
            }
        }
    }
    let missing = (process + 1..processes)
        .filter(|p| (0..channels).any(|c| !accepted.iter().any(|(q, _)| *q == (*p, c))))
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
/// returns its index and channel, and its worker count.
fn greet(
    mut stream: &TcpStream,
    process: usize,
    processes: usize,
    workers: usize,
    channels: usize,
) -> io::Result<((usize, usize), usize)> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut hello = [0u8; HANDSHAKE];
    stream.read_exact(&mut hello)?;
    let version = u32::from_be_bytes(hello[8..12].try_into().expect("four bytes"));
    let peer = u64::from_be_bytes(hello[12..20].try_into().expect("eight bytes")) as usize;
    let size = u64::from_be_bytes(hello[20..28].try_into().expect("eight bytes")) as usize;
    let theirs = u64::from_be_bytes(hello[28..36].try_into().expect("eight bytes")) as usize;
    let channel = u64::from_be_bytes(hello[36..44].try_into().expect("eight bytes")) as usize;
    let their_channels =
        u64::from_be_bytes(hello[44..52].try_into().expect("eight bytes")) as usize;
    if &hello[..8] != MAGIC
        || version != VERSION
        || size != processes
        || peer <= process
        || peer >= processes
        || their_channels != channels
        || channel >= channels
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
    Ok(((peer, channel), theirs))
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
    fn two_channels_make_two_meshes_each_stream_paired_with_its_own() {
        let hosts = hostfile(&free_ports(3));
        let handles: Vec<_> = [1usize, 2, 0]
            .into_iter()
            .map(|p| {
                let hosts = hosts.clone();
                thread::spawn(move || {
                    let meshes =
                        connect_channels(&hosts, p, 1, 2, Duration::from_secs(10)).unwrap();
                    (p, meshes)
                })
            })
            .collect();
        let mut all: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        all.sort_by_key(|(p, _)| *p);
        for (p, meshes) in &all {
            assert_eq!(meshes.len(), 2);
            for sockets in meshes {
                for (q, socket) in sockets.iter().enumerate() {
                    assert_eq!(socket.is_some(), q != *p, "process {p}, socket {q}");
                }
            }
        }
        // Each channel's stream from 2 to 1 arrives on the same channel.
        for (channel, word) in [(0, b"c0"), (1, b"c1")] {
            all[2].1[channel][1]
                .as_ref()
                .unwrap()
                .write_all(word)
                .unwrap();
        }
        for (channel, word) in [(1, b"c1"), (0, b"c0")] {
            let mut buf = [0u8; 2];
            let mut stream = all[1].1[channel][2].as_ref().unwrap();
            stream.read_exact(&mut buf).unwrap();
            assert_eq!(&buf, word);
        }
    }

    #[test]
    fn processes_asking_for_other_channel_counts_do_not_pair() {
        let hosts = hostfile(&free_ports(2));
        let acceptor = {
            let hosts = hosts.clone();
            thread::spawn(move || connect_channels(&hosts, 0, 1, 2, Duration::from_secs(2)))
        };
        let dialer = connect(&hosts, 1, 1, Duration::from_secs(2)).unwrap_err();
        assert!(dialer.to_string().contains("run as its peer"), "{dialer}");
        let refused = acceptor.join().unwrap().unwrap_err();
        assert!(refused.to_string().contains("process 1"), "{refused}");
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
