//! The HTTP side: an axum server whose listener wraps each connection, so that a `Fault::Drop` can
//! close the socket without sending a byte; the fault queue; `Date` (from the simulator's clock),
//! `Content-Type` and gzip; and the request log, which never keeps the token.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::body::Body;
use axum::extract::connect_info::{ConnectInfo, Connected};
use axum::extract::{Request, State};
use axum::http::header::{
    ACCEPT_ENCODING, AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE, DATE, HOST, RETRY_AFTER, VARY,
};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::serve::{IncomingStream, Listener};
use axum::Router;
use chrono::{DateTime, Utc};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::api::{Incoming, Reply, ReplyBody};
use super::{AirtableSim, Fault, LoggedRequest};

/// Request bodies above this get 413.
const MAX_BODY: usize = 16 * 1024 * 1024;

/// A running simulator. Dropping it stops the server (gracefully, in the background).
pub struct SimServer {
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<io::Result<()>>>,
}

impl SimServer {
    /// The base URL to give a client instead of `https://api.airtable.com`, e.g. `http://127.0.0.1:8479`.
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

pub(crate) async fn serve(sim: AirtableSim, addr: SocketAddr) -> io::Result<SimServer> {
    let listener = TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let app = Router::new().fallback(handle).with_state(sim);
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

/// The handler's switch to hang up its connection.
#[derive(Clone)]
struct Hangup(Arc<AtomicBool>);

impl Connected<IncomingStream<'_, SimListener>> for Hangup {
    fn connect_info(stream: IncomingStream<'_, SimListener>) -> Hangup {
        Hangup(stream.io().hung_up.clone())
    }
}

async fn handle(State(sim): State<AirtableSim>, ConnectInfo(hangup): ConnectInfo<Hangup>, req: Request) -> Response {
    let at = Instant::now();
    let (parts, body) = req.into_parts();
    let header = |name| parts.headers.get(name).and_then(|v: &axum::http::HeaderValue| v.to_str().ok());
    let token = header(AUTHORIZATION).and_then(|v| {
        let (scheme, token) = v.split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then(|| token.trim().to_string())
    });
    let gzip = header(ACCEPT_ENCODING).is_some_and(|v| v.contains("gzip"));
    let path_and_query = parts.uri.path_and_query().map_or("", |pq| pq.as_str());
    let url_len = "http://".len() + header(HOST).unwrap_or_default().len() + path_and_query.len();
    let headers = parts
        .headers
        .iter()
        .filter(|(name, _)| *name != AUTHORIZATION)
        .map(|(name, value)| (name.to_string(), String::from_utf8_lossy(value.as_bytes()).into_owned()))
        .collect();
    let (body, too_large) = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(bytes) => (String::from_utf8_lossy(&bytes).into_owned(), false),
        Err(_) => (String::new(), true),
    };
    let incoming = Incoming {
        method: parts.method.to_string(),
        path: parts.uri.path().to_string(),
        query: parts.uri.query().unwrap_or_default().to_string(),
        body,
        token,
        url_len,
    };
    let log = |sim: &AirtableSim, incoming: Incoming, headers, status| {
        let mut state = sim.lock();
        let time = state.now();
        let Incoming { method, path, query, body, .. } = incoming;
        state.log.push(LoggedRequest { method, path, query, body, headers, status, at, time });
        time
    };

    let fault = sim.lock().next_fault();
    let reply = match fault {
        Some(Fault::Drop) => {
            hangup.0.store(true, Ordering::SeqCst);
            log(&sim, incoming, headers, 0);
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
        Some(Fault::Slow(delay)) => {
            tokio::time::sleep(delay).await;
            sim.lock().answer(&incoming, Instant::now())
        }
        Some(Fault::Status { status, retry_after }) => Reply { retry_after, ..Reply::canned(status) },
        Some(Fault::NonJson(status)) => Reply::html(status),
        Some(Fault::RateLimit(_)) => sim.lock().trip(&incoming, at),
        None if too_large => Reply::error(413, "REQUEST_TOO_LARGE", Some("Request body is too large")),
        None => sim.lock().answer(&incoming, at),
    };
    let time = log(&sim, incoming, headers, reply.status);
    respond(reply, time, gzip)
}

/// RFC 7231 date, e.g. `Wed, 29 Dec 2021 01:49:47 GMT`.
fn http_date(time: DateTime<Utc>) -> String {
    time.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

fn respond(reply: Reply, time: DateTime<Utc>, gzip: bool) -> Response {
    let (content_type, bytes) = match reply.body {
        ReplyBody::Json(v) => ("application/json; charset=utf-8", serde_json::to_vec(&v).unwrap_or_default()),
        ReplyBody::Html(page) => ("text/html", page.into_bytes()),
    };
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = Response::builder()
        .status(status)
        .header(CONTENT_TYPE, content_type)
        .header(DATE, http_date(time))
        .header("access-control-allow-origin", "*");
    if let Some(seconds) = reply.retry_after {
        response = response.header(RETRY_AFTER, seconds.to_string());
    }
    let bytes = if gzip {
        response = response.header(CONTENT_ENCODING, "gzip").header(VARY, "Accept-Encoding");
        gzipped(&bytes)
    } else {
        bytes
    };
    response.body(Body::from(bytes)).unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

fn gzipped(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    // Writing to a Vec cannot fail.
    let _ = encoder.write_all(bytes);
    encoder.finish().unwrap_or_default()
}
