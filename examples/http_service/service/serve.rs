//! Serving the router with connection limits: a header-read timeout, an idle timeout and a
//! cap on concurrent connections ([`ServiceConfig`]), so slow or idle clients (slowloris)
//! cannot hold the service's connections.
//!
//! `axum::serve` sets no timeouts of its own, so the limits live in a [`Listener`] that wraps
//! each accepted socket: the socket fails its read with `TimedOut` when the header has not
//! arrived in time (or the connection idled too long) and hyper then closes the connection.
//! While a request's body and handler run, no timeout applies: slow handlers are not cut off.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::serve::Listener;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};

use super::config::ServiceConfig;
use super::state::AppState;

/// Serve `state`'s [router](super::router) on `listener` with the limits of its configuration.
///
/// # Errors
/// The listener fails.
pub async fn serve(listener: TcpListener, state: AppState) -> io::Result<()> {
    let listener = GuardedListener::new(listener, state.config());
    // The peer address feeds the sites' visitor regions and form rate limits.
    axum::serve(
        listener,
        super::router(state).into_make_service_with_connect_info::<PeerAddr>(),
    )
    .await
}

/// The client's address, as handlers see it (`ConnectInfo<PeerAddr>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerAddr(pub SocketAddr);

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, GuardedListener>>
    for PeerAddr
{
    fn connect_info(stream: axum::serve::IncomingStream<'_, GuardedListener>) -> PeerAddr {
        PeerAddr(*stream.remote_addr())
    }
}

/// A TCP listener enforcing [`ServiceConfig`]'s connection limits.
#[derive(Debug)]
pub struct GuardedListener {
    inner: TcpListener,
    permits: Arc<Semaphore>,
    header_read_timeout: Duration,
    idle_timeout: Duration,
}

impl GuardedListener {
    /// Wrap `inner` with the limits of `config`.
    pub fn new(inner: TcpListener, config: &ServiceConfig) -> GuardedListener {
        GuardedListener {
            inner,
            permits: Arc::new(Semaphore::new(config.max_connections.max(1))),
            header_read_timeout: config.header_read_timeout,
            idle_timeout: config.idle_timeout,
        }
    }
}

impl Listener for GuardedListener {
    type Io = GuardedIo;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (GuardedIo, SocketAddr) {
        // At the limit, stop accepting: new clients wait in the kernel's backlog.
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .expect("the semaphore is never closed");
        let (stream, addr) = Listener::accept(&mut self.inner).await;
        let io = GuardedIo {
            stream,
            _permit: permit,
            header_read_timeout: self.header_read_timeout,
            idle_timeout: self.idle_timeout,
            phase: Phase::Header { lf: false },
            deadline: Some(Box::pin(tokio::time::sleep(self.header_read_timeout))),
        };
        (io, addr)
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

/// Where a connection is in its request cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Reading a request header; `lf` when the last significant byte was a line feed.
    Header { lf: bool },
    /// The header is in: the body and the handler run without a deadline.
    Request,
    /// A response was written; waiting for the next request (keep-alive).
    Idle,
}

/// A connection under [`GuardedListener`]'s limits; holds one connection slot until dropped.
#[derive(Debug)]
pub struct GuardedIo {
    stream: TcpStream,
    _permit: OwnedSemaphorePermit,
    header_read_timeout: Duration,
    idle_timeout: Duration,
    phase: Phase,
    deadline: Option<Pin<Box<Sleep>>>,
}

impl GuardedIo {
    fn arm(&mut self, after: Duration) {
        let at = Instant::now() + after;
        match &mut self.deadline {
            Some(sleep) => sleep.as_mut().reset(at),
            None => self.deadline = Some(Box::pin(tokio::time::sleep_until(at))),
        }
    }

    /// A response was (partly) written: the connection idles from now on. The deadline is
    /// registered with this task's waker at once, so it fires even if the connection's task
    /// does not poll a read again before then.
    fn idle_after_write(&mut self, cx: &mut Context<'_>) {
        self.phase = Phase::Idle;
        self.arm(self.idle_timeout);
        if let Some(deadline) = &mut self.deadline {
            // Pending now; wakes the task when the deadline passes.
            let _ = deadline.as_mut().poll(cx);
        }
    }

    /// Track the header's end (a blank line, `\r\n\r\n` or `\n\n`) in freshly read bytes.
    fn saw(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        if self.phase == Phase::Idle {
            // The first byte of the next request: its header has to arrive in time.
            self.phase = Phase::Header { lf: false };
            self.arm(self.header_read_timeout);
        }
        if let Phase::Header { mut lf } = self.phase {
            for &b in bytes {
                match b {
                    b'\n' if lf => {
                        self.phase = Phase::Request;
                        self.deadline = None;
                        return;
                    }
                    b'\n' => lf = true,
                    b'\r' => {}
                    _ => lf = false,
                }
            }
            self.phase = Phase::Header { lf };
        }
    }
}

impl AsyncRead for GuardedIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let before = buf.filled().len();
        match Pin::new(&mut this.stream).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                this.saw(&buf.filled()[before..]);
                Poll::Ready(Ok(()))
            }
            Poll::Pending => {
                let expired = this
                    .deadline
                    .as_mut()
                    .is_some_and(|deadline| deadline.as_mut().poll(cx).is_ready());
                if expired {
                    Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        match this.phase {
                            Phase::Header { .. } => "request header not received in time",
                            _ => "connection idle too long",
                        },
                    )))
                } else {
                    Poll::Pending
                }
            }
            other => other,
        }
    }
}

impl AsyncWrite for GuardedIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let written = Pin::new(&mut this.stream).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = written {
            if n > 0 {
                // A response is going out: from now on the connection idles until the next
                // request starts (each write pushes the idle deadline back).
                this.idle_after_write(cx);
            }
        }
        written
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let written = Pin::new(&mut this.stream).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(n)) = written {
            if n > 0 {
                this.idle_after_write(cx);
            }
        }
        written
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}
