//! The HTTP server: our own accept loop over hyper's HTTP/1 connections, so that every
//! connection is bounded in number and in time.
//!
//! - **Bounded buffers**: each connection's read and write buffers hold at most
//!   [`crate::budget::CONNECTION_BUFFER_BYTES`] (a longer request head gets 431).
//! - **A cap on open connections**: a semaphore is acquired before each `accept`
//!   ([`Limits::max_connections`]); beyond it, new connections wait in the kernel's
//!   backlog until one closes (mini-redis's server does the same).
//! - **A header-read timeout** ([`Limits::header_timeout`]): a client that has not sent a
//!   whole request head within it is disconnected. hyper restarts the same timer when a
//!   keep-alive connection falls idle after a response, so it is the idle timeout too.
//! - **A send timeout** ([`Limits::send_timeout`]): a connection whose writes make no
//!   progress for that long (a client that stopped reading) is dropped, whatever it was
//!   being sent.
//! - **A minimum read rate** ([`Limits::min_read_rate`], [`Limits::read_grace`]): a
//!   client that takes what it is sent more slowly than that, for the grace's worth of
//!   time during which the server's writes waited on it, is dropped, and what its
//!   response held (a place among the streams, its share of the memory for reads) is
//!   given back. A wait runs from a write that finds the socket full until a write goes
//!   through without waiting (the client has caught up), so a stream with nothing to
//!   send is never slow, and neither is a client on a slow link that reads all it gets
//!   (its socket fills, but it takes more than the rate). Without it, a client reading
//!   1 KB a second made progress often enough never to meet the send timeout, and held
//!   its download for hours.
//! - **Shutdown with a deadline**: when the shutdown future completes, the listener
//!   closes, progress streams get a last event and end ([`Stopping`]), idle connections
//!   close, and whatever is still open after half of [`Limits::shutdown_grace`] is
//!   dropped: the other half is the engine's, to commit its round and flush, so that
//!   `serve` ends by itself before the process's watchdog (at the whole grace) would
//!   end it.
//! - Every request carries `ConnectInfo<SocketAddr>` (the peer) in its extensions, for
//!   the per-client limits.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio::time::{Instant, Sleep};
use tower::ServiceExt;

use crate::{app, AppState, Limits};

/// Tells the long-lived responses (progress streams, streamed bodies) that the service
/// is stopping, so that they end by themselves before the shutdown deadline.
pub struct Stopping(watch::Sender<bool>);

impl Default for Stopping {
    fn default() -> Self {
        Stopping(watch::channel(false).0)
    }
}

impl Stopping {
    /// Says that the service is stopping (once; later calls change nothing).
    pub fn stop(&self) {
        self.0.send_replace(true);
    }

    /// Completes once the service is stopping.
    pub fn wait(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut receiver = self.0.subscribe();
        async move {
            // The sender lives as long as the state that holds it: an error means the
            // service is gone, which is stopping too.
            let _ = receiver.wait_for(|&stopping| stopping).await;
        }
    }
}

/// Serves `state` on `listener` until `shutdown` completes; then stops within half of
/// [`Limits::shutdown_grace`] whatever clients are connected (see the module docs).
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let limits = state.limits;
    let stopping = Arc::clone(&state.stopping);
    let app = app(state);
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let (close, closing) = watch::channel(false);
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            () = &mut shutdown => break,
            permit = Arc::clone(&permits).acquire_owned() => permit.expect("the semaphore is never closed"),
        };
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, or a connection reset before it was
                    // accepted: wait a little rather than spin, and go on.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        while connections.try_join_next().is_some() {}
        connections.spawn(connection(
            stream,
            peer,
            app.clone(),
            limits,
            closing.clone(),
            permit,
        ));
    }
    drop(listener);
    stopping.stop();
    close.send_replace(true);
    let drained = async { while connections.join_next().await.is_some() {} };
    let clients_grace = limits.shutdown_grace / 2;
    if tokio::time::timeout(clients_grace, drained).await.is_err() {
        tracing::warn!(
            open = connections.len(),
            grace = ?clients_grace,
            "connections still open after the grace; closing them"
        );
        connections.shutdown().await;
    }
    Ok(())
}

/// One client connection, until it closes, breaks a limit, or the server stops.
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    app: Router,
    limits: Limits,
    mut closing: watch::Receiver<bool>,
    _permit: OwnedSemaphorePermit,
) {
    let _ = stream.set_nodelay(true);
    let io = TokioIo::new(SendDeadline::new(
        stream,
        limits.send_timeout,
        Pace::new(limits.min_read_rate, limits.read_grace),
    ));
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        app.clone().oneshot(request.map(Body::new))
    });
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        // hyper's default lets a client grow each buffer to about 400 KB.
        .max_buf_size(crate::budget::CONNECTION_BUFFER_BYTES)
        .keep_alive(true)
        .serve_connection(io, service);
    tokio::pin!(connection);
    tokio::select! {
        // A failed connection (a timeout, a reset) is the client's business: drop it.
        _ = connection.as_mut() => return,
        _ = closing.wait_for(|&closing| closing) => {}
    }
    // Finish the response under way, if any, then close; the server's deadline bounds
    // this for clients that never read it.
    connection.as_mut().graceful_shutdown();
    let _ = connection.await;
}

/// A stream whose writes fail with `TimedOut` once one has waited `limit` without
/// progress (the socket's buffer stays full because the client stopped reading), or
/// once the client reads too slowly ([`Pace`]).
struct SendDeadline<S> {
    inner: S,
    limit: Duration,
    /// Armed when a write first waits; disarmed by any progress.
    stalled: Option<Pin<Box<Sleep>>>,
    pace: Pace,
}

impl<S> SendDeadline<S> {
    fn new(inner: S, limit: Duration, pace: Pace) -> Self {
        SendDeadline {
            inner,
            limit,
            stalled: None,
            pace,
        }
    }

    /// [`SendDeadline::progress`] for a write, which the client's pace is measured by.
    fn written(
        &mut self,
        cx: &mut Context<'_>,
        result: Poll<io::Result<usize>>,
    ) -> Poll<io::Result<usize>> {
        match &result {
            Poll::Pending => {
                if let Err(slow) = self.pace.waiting(cx) {
                    return Poll::Ready(Err(slow));
                }
            }
            Poll::Ready(Ok(n)) => self.pace.took(*n),
            Poll::Ready(Err(_)) => {}
        }
        self.progress(cx, result)
    }

    /// What a write that waits returns: still waiting, or the time-out.
    fn waiting<T>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<T>> {
        let limit = self.limit;
        let deadline = self
            .stalled
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        match deadline.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("the client read nothing for {limit:?}"),
            ))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn progress<T>(
        &mut self,
        cx: &mut Context<'_>,
        result: Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        match result {
            Poll::Pending => self.waiting(cx),
            ready => {
                self.stalled = None;
                ready
            }
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for SendDeadline<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for SendDeadline<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.written(cx, result)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.written(cx, result)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let result = Pin::new(&mut self.inner).poll_flush(cx);
        self.progress(cx, result)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// How fast a client takes what it is sent while the server waits on it. A window
/// opens when a write finds the socket full; it counts the bytes written and the time
/// writes waited from then on, and when the waiting reaches `grace` the client must
/// have taken at least `min_rate` bytes a second of it, or it is told so with
/// `TimedOut`. The next window opens at the next wait. Counting from a wait leaves out
/// what the socket's buffers took at once when the response began (megabytes on
/// loopback); counting every byte of the window, waited for or not, keeps a client that
/// reads all it gets (a stream's bursts, a slow link) above the rate.
struct Pace {
    /// Bytes a second; 0 for no minimum.
    min_rate: u64,
    grace: Duration,
    /// Whether a window is open; the time writes waited in it before the current
    /// wait, and the bytes written in it.
    open: bool,
    waited: Duration,
    taken: u64,
    /// When the current wait began.
    since: Option<Instant>,
    /// Wakes a waiting write when the window's waiting reaches the grace.
    deadline: Pin<Box<Sleep>>,
}

impl Pace {
    fn new(min_rate: u64, grace: Duration) -> Pace {
        Pace {
            min_rate,
            grace,
            open: false,
            waited: Duration::ZERO,
            taken: 0,
            since: None,
            deadline: Box::pin(tokio::time::sleep(grace)),
        }
    }

    /// A write waits on the client: an error once the window has waited the grace and
    /// the client took less than the minimum rate in it.
    fn waiting(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        if self.min_rate == 0 {
            return Ok(());
        }
        let now = Instant::now();
        if !self.open {
            self.open = true;
            self.waited = Duration::ZERO;
            self.taken = 0;
        }
        let since = match self.since {
            Some(since) => since,
            None => {
                self.since = Some(now);
                let left = self.grace.saturating_sub(self.waited);
                self.deadline.as_mut().reset(now + left);
                now
            }
        };
        let waited = self.waited + now.duration_since(since);
        if waited >= self.grace {
            if self.slow(waited) {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "the client took {} bytes in {waited:?} of waiting, under the minimum of {} bytes a second",
                        self.taken, self.min_rate
                    ),
                ));
            }
            // Fast enough: the next window opens with this wait.
            self.waited = Duration::ZERO;
            self.taken = 0;
            self.since = Some(now);
            self.deadline.as_mut().reset(now + self.grace);
        }
        // Registers the wake-up at the window's end, should the socket stay full.
        let _ = self.deadline.as_mut().poll(cx);
        Ok(())
    }

    /// A write took `n` bytes.
    fn took(&mut self, n: usize) {
        if !self.open {
            return;
        }
        self.taken += n as u64;
        if let Some(since) = self.since.take() {
            self.waited += since.elapsed();
        }
        // A window that waited its grace closes here if the client was fast enough;
        // a slow one stays open, and the next wait ends the connection.
        if self.waited >= self.grace && !self.slow(self.waited) {
            self.open = false;
        }
    }

    /// Whether the window's bytes are under the minimum rate over `waited`.
    fn slow(&self, waited: Duration) -> bool {
        (self.taken as f64) < self.min_rate as f64 * waited.as_secs_f64()
    }
}
