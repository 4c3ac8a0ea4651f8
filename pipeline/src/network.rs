//! The cluster's network set-up: timely's allocators, built from the mesh of TCP
//! streams `nano-cluster` established (or, for one process, from shared memory), and
//! the workers started on them.

use std::net::TcpStream;

use timely::communication::allocator::zero_copy::initialize::initialize_networking_from_sockets;
use timely::communication::allocator::{AllocatorBuilder, ProcessBuilder};
use timely::communication::{Hooks, WorkerGuards};
use timely::WorkerConfig;

use crate::Error;

/// How the processes of a cluster reach each other.
pub struct Network {
    /// This process's index.
    pub process: usize,
    /// A connected stream to every other process, in process order (`None` for this
    /// one): the mesh `nano-cluster` establishes.
    pub sockets: Vec<Option<TcpStream>>,
}

/// Starts `workers` worker threads (at least one) in this process, each running
/// `func`, connected to the other processes of `network` if there are any.
pub(crate) fn execute<F>(
    workers: usize,
    network: Option<Network>,
    func: F,
) -> Result<WorkerGuards<()>, Error>
where
    F: Fn(&mut timely::worker::Worker) + Send + Sync + 'static,
{
    let workers = workers.max(1);
    let (builders, others): (Vec<AllocatorBuilder>, Box<dyn std::any::Any + Send>) = match network {
        None => timely::CommunicationConfig::Process(workers)
            .try_build()
            .map_err(Error::Timely)?,
        Some(Network { process, sockets }) => {
            let hooks = Hooks::default();
            let local = ProcessBuilder::new_typed_vector(
                workers,
                hooks.refill.clone(),
                hooks.spill.clone(),
            );
            let (builders, guard) =
                initialize_networking_from_sockets(local, sockets, process, workers, hooks)
                    .map_err(Error::Network)?;
            (
                builders.into_iter().map(AllocatorBuilder::Tcp).collect(),
                Box::new(guard),
            )
        }
    };
    timely::execute::execute_from(builders, others, WorkerConfig::default(), func)
        .map_err(Error::Timely)
}
