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
//! - **Shutdown with a deadline**: when the shutdown future completes, the listener
//!   closes, progress streams get a last event and end ([`Stopping`]), idle connections
//!   close, and whatever is still open after [`Limits::shutdown_grace`] is dropped.
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
use tokio::time::Sleep;
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

/// Serves `state` on `listener` until `shutdown` completes; then stops within
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
                    eprintln!("sedaro-nano serve: accept failed: {e}");
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
    if tokio::time::timeout(limits.shutdown_grace, drained)
        .await
        .is_err()
    {
        eprintln!(
            "sedaro-nano serve: {} connections still open after {:?}; closing them",
            connections.len(),
            limits.shutdown_grace
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
    let io = TokioIo::new(SendDeadline::new(stream, limits.send_timeout));
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
/// progress: the socket's buffer stays full because the client stopped reading.
struct SendDeadline<S> {
    inner: S,
    limit: Duration,
    /// Armed when a write first waits; disarmed by any progress.
    stalled: Option<Pin<Box<Sleep>>>,
}

impl<S> SendDeadline<S> {
    fn new(inner: S, limit: Duration) -> Self {
        SendDeadline {
            inner,
            limit,
            stalled: None,
        }
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
        self.progress(cx, result)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.progress(cx, result)
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
