//! Each client's share of what every client's long reads take from one pool: the places
//! among the open streams (`--max-streams`: progress and conjunction event streams,
//! streamed downloads) and the readers' share of the memory budget
//! ([`crate::budget::Readers`]: a streamed download's weight). Without it, one address
//! holding slow downloads or idle streams took them all: 40 downloads read at 1 KB/s
//! filled the readers' share, 260 idle event streams every place, and every other
//! client got 503.
//!
//! A client (the address the rate limit counts, [`crate::access::Access::client`], so
//! behind a trusted proxy the forwarded one) may hold at most `--client-share` percent of
//! each (25 by default: 64 of 256 places, 32 MB of a 128 MB readers' share, that is 8
//! downloads); past it, 429 with `Retry-After` and the reason naming the flag, while
//! other clients are served. One read weighing more than the client's share is still
//! admitted when the client holds no other, so that no read is refused forever.
//!
//! [`ClientShares::take`] checks and counts; the [`ClientHold`] it returns gives the
//! share back when dropped (with the stream or body that holds it). [`StreamPlace`] is
//! what a stream holds: its place in the pool and its client's count. A request's client
//! is the [`Client`] extractor.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use tokio::sync::OwnedSemaphorePermit;

use crate::error::ApiError;
use crate::AppState;

/// What each client holds, and the most one may.
#[derive(Debug)]
pub struct ClientShares {
    /// `--client-share`, in percent.
    percent: u8,
    /// The places one client may hold.
    places: usize,
    /// The bytes of the readers' share one client may hold.
    bytes: u64,
    held: Ledger,
}

/// What every client holding anything holds, shared with the holds.
type Ledger = Arc<Mutex<HashMap<IpAddr, Held>>>;

/// What one client holds now.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Held {
    places: usize,
    bytes: u64,
}

/// A client's share taken by one stream or read; given back when dropped.
#[derive(Debug)]
pub struct ClientHold {
    /// None for a request without a known client (not served over TCP), which is not
    /// counted.
    client: Option<(Ledger, IpAddr)>,
    taken: Held,
}

impl ClientShares {
    /// Shares of `percent` (1 to 100) of `max_streams` places and of `readers` bytes.
    pub fn new(percent: u8, max_streams: usize, readers: u64) -> ClientShares {
        let percent = percent.clamp(1, 100);
        ClientShares {
            percent,
            places: (max_streams * usize::from(percent) / 100).max(1),
            bytes: readers * u64::from(percent) / 100,
            held: Arc::default(),
        }
    }

    /// Counts `places` and `bytes` against `client`'s share, or refuses them with 429
    /// and the reason when the client already holds its share. `what` names the read.
    pub fn take(
        &self,
        client: Option<IpAddr>,
        places: usize,
        bytes: u64,
        what: &str,
    ) -> Result<ClientHold, ApiError> {
        let taken = Held { places, bytes };
        let Some(address) = client else {
            return Ok(ClientHold {
                client: None,
                taken,
            });
        };
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        let now = held.get(&address).copied().unwrap_or_default();
        if now.places + places > self.places {
            return Err(ApiError::ClientShare {
                reason: format!(
                    "this client ({address}) has {} streams open, its share ({}% of --max-streams, --client-share); {what} can start when one of them ends",
                    now.places, self.percent
                ),
            });
        }
        // One read over the share is admitted when it is the client's only one.
        if now.bytes > 0 && now.bytes + bytes > self.bytes {
            return Err(ApiError::ClientShare {
                reason: format!(
                    "this client ({address}) holds {} MB of the memory for reads, and {what} needs {} MB more: its share is {} MB ({}% of the readers' share, --client-share); try again when one of its downloads ends",
                    now.bytes.div_ceil(1 << 20),
                    bytes.div_ceil(1 << 20),
                    self.bytes >> 20,
                    self.percent
                ),
            });
        }
        let entry = held.entry(address).or_default();
        entry.places += places;
        entry.bytes += bytes;
        Ok(ClientHold {
            client: Some((Arc::clone(&self.held), address)),
            taken,
        })
    }

    /// The clients holding anything now.
    pub fn clients(&self) -> usize {
        self.held.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

impl Drop for ClientHold {
    fn drop(&mut self) {
        let Some((held, address)) = &self.client else {
            return;
        };
        let mut held = held.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(entry) = held.get_mut(address) {
            entry.places -= self.taken.places;
            entry.bytes -= self.taken.bytes;
            // Forgotten once it holds nothing: the map is as large as the clients
            // holding streams, which the pool bounds.
            if *entry == Held::default() {
                held.remove(address);
            }
        }
    }
}

/// What an open stream holds: its place among the open streams and its client's count
/// (and, for a download, the client's count of its read's bytes).
#[derive(Debug)]
pub struct StreamPlace {
    _place: OwnedSemaphorePermit,
    _client: ClientHold,
}

impl StreamPlace {
    /// A place and the client's hold on it.
    pub fn new(place: OwnedSemaphorePermit, client: ClientHold) -> StreamPlace {
        StreamPlace {
            _place: place,
            _client: client,
        }
    }
}

/// The client a request counts against ([`crate::access::Access::client`]): the peer,
/// or behind a trusted proxy the address it forwards. None without a peer (requests
/// served without a socket, in tests).
#[derive(Debug, Clone, Copy)]
pub struct Client(pub Option<IpAddr>);

impl FromRequestParts<AppState> for Client {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Infallible> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(address)| address.ip());
        Ok(Client(state.access.client(peer, &parts.headers)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(result: Result<ClientHold, ApiError>) -> String {
        match result {
            Err(ApiError::ClientShare { reason }) => reason,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_client_holds_at_most_its_share_and_gets_it_back() {
        let shares = ClientShares::new(25, 8, 64 << 20);
        let (a, b) = (
            Some("10.0.0.1".parse().unwrap()),
            Some("10.0.0.2".parse().unwrap()),
        );
        let first = shares.take(a, 1, 0, "a stream").unwrap();
        let _second = shares.take(a, 1, 0, "a stream").unwrap();
        let reason = refused(shares.take(a, 1, 0, "a third stream"));
        assert!(
            reason.contains("10.0.0.1") && reason.contains("--client-share"),
            "{reason}"
        );
        assert!(shares.take(b, 1, 0, "another client's").is_ok());
        drop(first);
        assert!(shares.take(a, 1, 0, "again").is_ok());
        assert!(shares
            .take(None, 100, 1 << 40, "an unknown client's")
            .is_ok());
    }

    #[test]
    fn bytes_past_the_share_are_refused_but_one_large_read_is_admitted() {
        let shares = ClientShares::new(25, 100, 64 << 20);
        let a = Some("10.0.0.1".parse().unwrap());
        let large = shares.take(a, 1, 40 << 20, "a large read").unwrap();
        let reason = refused(shares.take(a, 1, 1 << 20, "a download"));
        assert!(reason.contains("its share is 16 MB"), "{reason}");
        drop(large);
        let _one = shares.take(a, 1, 8 << 20, "a download").unwrap();
        let _two = shares.take(a, 1, 8 << 20, "a download").unwrap();
        refused(shares.take(a, 1, 8 << 20, "a download"));
        assert_eq!(shares.clients(), 1);
        drop((_one, _two));
        assert_eq!(shares.clients(), 0, "a client holding nothing is forgotten");
    }
}
