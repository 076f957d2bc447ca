//! The HTTP side: the handler behind `dev::server` (whose connections a `Fault::Drop` can close
//! without sending a byte); the fault queue; `Date` (from the simulator's clock),
//! `Content-Type` and gzip; and the request log, which never keeps the token.

use std::io;
use std::net::SocketAddr;
use std::time::Instant;

use axum::body::Body;
use axum::extract::connect_info::ConnectInfo;
use axum::extract::{Request, State};
use axum::http::header::{
    ACCEPT_ENCODING, AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE, DATE, HOST, RETRY_AFTER, VARY,
};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Router;
use chrono::{DateTime, Utc};

use crate::dev::server::{self, Hangup, SimServer};

use super::api::{Incoming, Reply, ReplyBody};
use super::{AirtableSim, Fault, LoggedRequest};

/// Request bodies above this get 413.
const MAX_BODY: usize = 16 * 1024 * 1024;

pub(crate) async fn serve(sim: AirtableSim, addr: SocketAddr) -> io::Result<SimServer> {
    server::serve(Router::new().fallback(handle).with_state(sim), addr).await
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
            hangup.hang_up();
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
        server::gzipped(&bytes)
    } else {
        bytes
    };
    response.body(Body::from(bytes)).unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}
