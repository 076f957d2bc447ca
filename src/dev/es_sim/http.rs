//! The HTTP side: the handler behind `dev::server`; the body limit (`http.max_content_length`, 413
//! with an empty body); the whole-request faults; the request log, which keeps every header so
//! tests can assert what a client sends; `filter_path` on JSON answers; and the response headers
//! (`X-Elastic-Product` from Elasticsearch, gzip when asked).

use std::net::SocketAddr;
use std::time::Instant;

use axum::body::Body;
use axum::extract::connect_info::ConnectInfo;
use axum::extract::{Request, State};
use axum::http::header::{ACCEPT_ENCODING, AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE, VARY};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::{Map, Value};

use super::api::{Incoming, Reply, ReplyBody};
use super::{EsSim, Fault, Flavour, LoggedRequest};
use crate::dev::server::{self, Hangup, SimServer};

pub(crate) async fn serve(sim: EsSim, addr: SocketAddr) -> std::io::Result<SimServer> {
    server::serve(Router::new().fallback(handle).with_state(sim), addr).await
}

async fn handle(State(sim): State<EsSim>, ConnectInfo(hangup): ConnectInfo<Hangup>, req: Request) -> Response {
    let at = Instant::now();
    let (parts, body) = req.into_parts();
    let header =
        |name| parts.headers.get(name).and_then(|v: &axum::http::HeaderValue| v.to_str().ok()).map(str::to_string);
    let gzip = header(ACCEPT_ENCODING).is_some_and(|v| v.contains("gzip"));
    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .map(|(name, value)| (name.to_string(), String::from_utf8_lossy(value.as_bytes()).into_owned()))
        .collect();
    let limit = sim.lock().config.max_content_length;
    let (body, too_large) = match axum::body::to_bytes(body, limit).await {
        Ok(bytes) => (String::from_utf8_lossy(&bytes).into_owned(), false),
        Err(_) => (String::new(), true),
    };
    let query = parts.uri.query().unwrap_or_default().to_string();
    let incoming = Incoming {
        method: parts.method.to_string(),
        path: parts.uri.path().to_string(),
        params: url::form_urlencoded::parse(query.as_bytes()).into_owned().collect(),
        body,
        content_type: header(CONTENT_TYPE),
        authorization: header(AUTHORIZATION),
    };
    let log = |sim: &EsSim, incoming: &Incoming, status| {
        sim.lock().log.push(LoggedRequest {
            method: incoming.method.clone(),
            path: incoming.path.clone(),
            query: query.clone(),
            headers: headers.clone(),
            content_type: incoming.content_type.clone(),
            body: incoming.body.clone(),
            status,
            at,
        });
    };

    let fault = sim.lock().next_fault(&incoming.path);
    let reply = match fault {
        Some(Fault::Drop) => {
            hangup.hang_up();
            log(&sim, &incoming, 0);
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
        Some(Fault::DropAfterApply) => {
            sim.lock().answer(&incoming);
            hangup.hang_up();
            log(&sim, &incoming, 0);
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
        Some(Fault::Slow(delay)) => {
            tokio::time::sleep(delay).await;
            sim.lock().answer(&incoming)
        }
        Some(Fault::Status(status)) => Reply::canned(status),
        None if too_large => Reply::empty(413),
        None => sim.lock().answer(&incoming),
    };
    log(&sim, &incoming, reply.status);
    let flavour = sim.lock().config.flavour;
    respond(reply, flavour, incoming.param("filter_path"), gzip)
}

fn respond(reply: Reply, flavour: Flavour, filter_path: Option<&str>, gzip: bool) -> Response {
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = Response::builder().status(status);
    let mut content_type = None;
    for (name, value) in &reply.headers {
        if *name == "content-type" {
            content_type = Some(value.clone());
        } else {
            response = response.header(*name, value);
        }
    }
    if flavour == Flavour::Elasticsearch && reply.status != 401 && reply.status != 403 {
        response = response.header("x-elastic-product", "Elasticsearch");
    }
    let (default_type, bytes) = match reply.body {
        ReplyBody::Json(value) => {
            let value = match filter_path {
                Some(paths) => {
                    filter(&value, &paths.split(',').map(|p| p.split('.').collect::<Vec<_>>()).collect::<Vec<_>>())
                }
                None => value,
            };
            let json_type = match flavour {
                Flavour::Elasticsearch => "application/json",
                Flavour::OpenSearch => "application/json; charset=UTF-8",
            };
            (json_type, serde_json::to_vec(&value).unwrap_or_default())
        }
        ReplyBody::Text(text) => ("text/plain; charset=UTF-8", text.into_bytes()),
        ReplyBody::Empty => ("application/json", Vec::new()),
    };
    response = response.header(CONTENT_TYPE, content_type.as_deref().unwrap_or(default_type));
    let bytes = if gzip && !bytes.is_empty() {
        response = response.header(CONTENT_ENCODING, "gzip").header(VARY, "Accept-Encoding");
        server::gzipped(&bytes)
    } else {
        bytes
    };
    response.body(Body::from(bytes)).unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// `filter_path`: keeps what the dotted paths (`*` for any key, `**` for any depth) reach. Arrays
/// are walked through; objects left empty disappear, and so do array elements left empty.
fn filter(value: &Value, paths: &[Vec<&str>]) -> Value {
    filter_node(value, paths).unwrap_or_else(|| Value::Object(Map::new()))
}

fn filter_node(value: &Value, paths: &[Vec<&str>]) -> Option<Value> {
    if paths.iter().any(|p| p.is_empty()) {
        return Some(value.clone());
    }
    match value {
        Value::Array(items) => {
            let kept: Vec<Value> = items.iter().filter_map(|i| filter_node(i, paths)).collect();
            (!kept.is_empty()).then_some(Value::Array(kept))
        }
        Value::Object(map) => {
            let mut out = Map::new();
            for (key, child) in map {
                let mut rest: Vec<Vec<&str>> = Vec::new();
                for path in paths {
                    match path[0] {
                        "**" => {
                            rest.push(path.clone());
                            rest.push(path[1..].to_vec());
                        }
                        part if part == "*" || part == key => rest.push(path[1..].to_vec()),
                        _ => {}
                    }
                }
                // `**` may also match no level at all.
                let skipped: Vec<Vec<&str>> = paths
                    .iter()
                    .filter(|p| p[0] == "**" && p.len() > 1 && (p[1] == key || p[1] == "*"))
                    .map(|p| p[2..].to_vec())
                    .collect();
                rest.extend(skipped);
                if rest.is_empty() {
                    continue;
                }
                if let Some(kept) = filter_node(child, &rest) {
                    out.insert(key.clone(), kept);
                }
            }
            (!out.is_empty()).then_some(Value::Object(out))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn paths(text: &str) -> Vec<Vec<&str>> {
        text.split(',').map(|p| p.split('.').collect()).collect()
    }

    #[test]
    fn filter_path_keeps_what_the_paths_reach_and_drops_emptied_items() {
        let body = json!({"took": 3, "errors": true, "items": [
            {"index": {"_id": "a", "status": 201, "result": "created"}},
            {"delete": {"_id": "b", "status": 404}}]});
        assert_eq!(
            filter(&body, &paths("errors,items.*.status")),
            json!({"errors": true, "items": [{"index": {"status": 201}}, {"delete": {"status": 404}}]})
        );
        assert_eq!(filter(&body, &paths("items.*.result")), json!({"items": [{"index": {"result": "created"}}]}));
        assert_eq!(
            filter(&body, &paths("**.status")),
            json!({"items": [{"index": {"status": 201}}, {"delete": {"status": 404}}]})
        );
        assert_eq!(filter(&body, &paths("nothing")), json!({}));
    }
}
