//! What every simulator serves with: an axum server on a listener that wraps each connection, so
//! that an injected "dropped connection" fault can close the socket without sending a byte, and a
//! handle that stops the server when dropped. Also the gzip the simulated services answer with.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use axum::Router;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A running simulator. Dropping it stops the server (gracefully, in the background).
pub struct SimServer {
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<io::Result<()>>>,
}

impl SimServer {
    /// The base URL to give a client instead of the real service's, e.g. `http://127.0.0.1:8479`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting, lets requests in flight finish, and waits for the server to end.
    pub async fn shutdown(mut self) -> io::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        match self.task.take() {
            Some(task) => task.await.map_err(io::Error::other)?,
            None => Ok(()),
        }
    }
}

impl Drop for SimServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Binds `addr` and serves `app`, whose handlers may extract `ConnectInfo<Hangup>`.
pub(crate) async fn serve(app: Router, addr: SocketAddr) -> io::Result<SimServer> {
    let listener = TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let (tx, rx) = oneshot::channel::<()>();
    let service = app.into_make_service_with_connect_info::<Hangup>();
    let server = axum::serve(SimListener(listener), service).with_graceful_shutdown(async {
        let _ = rx.await;
    });
    let task = tokio::spawn(async move { server.await });
    Ok(SimServer { addr, shutdown: Some(tx), task: Some(task) })
}

/// Accepts TCP connections and wraps each in a `SimConn`.
struct SimListener(TcpListener);

impl Listener for SimListener {
    type Io = SimConn;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (SimConn, SocketAddr) {
        loop {
            match self.0.accept().await {
                Ok((stream, addr)) => {
                    let _ = stream.set_nodelay(true);
                    return (SimConn { stream, hung_up: Arc::new(AtomicBool::new(false)) }, addr);
                }
                // Out of file descriptors and the like: wait, as axum's own listener does.
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(20)).await,
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.local_addr()
    }
}

/// A connection that fails every read and write once hung up, so hyper drops it unanswered.
struct SimConn {
    stream: TcpStream,
    hung_up: Arc<AtomicBool>,
}

impl SimConn {
    fn check(&self) -> io::Result<()> {
        if self.hung_up.load(Ordering::SeqCst) {
            Err(io::Error::new(io::ErrorKind::ConnectionAborted, "dropped by an injected fault"))
        } else {
            Ok(())
        }
    }
}

impl AsyncRead for SimConn {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        self.check()?;
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for SimConn {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.check()?;
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.check()?;
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.check()?;
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// A handler's switch to hang up its connection.
#[derive(Clone)]
pub(crate) struct Hangup(Arc<AtomicBool>);

impl Hangup {
    /// Every later read and write on the connection fails, so no response leaves.
    pub(crate) fn hang_up(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

impl Connected<IncomingStream<'_, SimListener>> for Hangup {
    fn connect_info(stream: IncomingStream<'_, SimListener>) -> Hangup {
        Hangup(stream.io().hung_up.clone())
    }
}

pub(crate) fn gzipped(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    // Writing to a Vec cannot fail.
    let _ = encoder.write_all(bytes);
    encoder.finish().unwrap_or_default()
}
