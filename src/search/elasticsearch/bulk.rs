//! Writing changes with `_bulk` (elasticsearch-bulk.md §§4–7): whole documents as `index` actions
//! and deletes as `delete` actions, each with the document's version as an external version, so
//! a retried or late line never replaces a newer one. Lines are NDJSON, every one ending in `\n`.
//!
//! Changes are cut lazily into batches bounded by bytes and by documents, and a few batches are in
//! flight at once (the next one is built only when a slot frees: backpressure). Each answer is
//! read item by item, in request order: applied, superseded (409: the index holds this version or
//! a newer one) and already-deleted (404 `not_found`) items are accepted; items refused for load
//! (429, 503) are sent again alone after a backoff, a bounded number of times; anything else is a
//! permanent `DocumentFailure` for that document only. A body the server finds too large (413) is
//! split in two.

use bytes::{BufMut, Bytes, BytesMut};
use futures_util::{stream, StreamExt, TryStreamExt};
use reqwest::Method;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::HashMap;
use uuid::Uuid;

use super::client::{Body, Client};
use super::mapping::StoredDocument;
use crate::search::{ApplyReport, DocumentChange, DocumentFailure, SearchError};

/// Where and how a bulk writes.
#[derive(Debug, Clone)]
pub struct BulkLimits {
    /// A batch is sent once its body reaches this size (the official bulk helpers flush at 5 MB).
    pub batch_bytes: usize,
    pub batch_documents: usize,
    /// Bulk requests in flight at once.
    pub in_flight: usize,
}

impl Default for BulkLimits {
    fn default() -> BulkLimits {
        BulkLimits { batch_bytes: 5_000_000, batch_documents: 1_000, in_flight: 3 }
    }
}

/// One document's lines, ready to send.
struct Line {
    id: Uuid,
    ndjson: Bytes,
}

/// What one item's answer means.
enum Outcome {
    Accepted,
    Retry(String),
    Failed(String),
    Stop(SearchError),
}

/// An item of a bulk answer, as `filter_path` leaves it.
#[derive(Deserialize)]
struct ItemAnswer {
    status: u16,
    #[serde(default)]
    error: Option<Value>,
}

#[derive(Deserialize)]
struct BulkAnswer {
    #[serde(default)]
    items: Vec<HashMap<String, ItemAnswer>>,
}

/// A bulk endpoint: the index or alias every line goes to.
pub(crate) struct BulkTarget<'a> {
    pub client: &'a Client,
    /// `/{index}/_bulk?…`
    pub path: String,
    pub limits: &'a BulkLimits,
}

impl<'a> BulkTarget<'a> {
    /// `require_alias`: writes through the live alias must not auto-create an index of that name
    /// when the alias is missing. `hide_source`: keep document content out of error reasons.
    pub(crate) fn new(
        client: &'a Client,
        target: &str,
        require_alias: bool,
        hide_source: bool,
        limits: &'a BulkLimits,
    ) -> Self {
        // Every item keeps `status`, so items stay in request order even when the rest is filtered;
        // `error` keeps the reason of a whole-request refusal.
        let mut path =
            format!("/{target}/_bulk?filter_path=error,items.*.status,items.*.error.type,items.*.error.reason");
        if require_alias {
            path.push_str("&require_alias=true");
        }
        if hide_source {
            path.push_str("&include_source_on_error=false");
        }
        BulkTarget { client, path, limits }
    }

    /// Writes every change; the report lists what the index refused for good.
    pub(crate) async fn write(&self, changes: Vec<DocumentChange>) -> Result<ApplyReport, SearchError> {
        let mut report = ApplyReport::default();
        let mut lines = Vec::with_capacity(changes.len());
        for change in &changes {
            match encode(change) {
                Ok(line) => lines.push(line),
                Err(failure) => report.failed.push(failure),
            }
        }
        let batches = Batches { lines: lines.into_iter().peekable(), limits: self.limits };
        stream::iter(batches)
            .map(|batch| self.send(batch))
            .buffer_unordered(self.limits.in_flight.max(1))
            .try_fold(report, |mut total, part| async move {
                total.accepted += part.accepted;
                total.failed.extend(part.failed);
                Ok(total)
            })
            .await
    }

    /// Sends one batch until every item is accepted, failed for good, or out of attempts.
    async fn send(&self, mut pending: Vec<Line>) -> Result<ApplyReport, SearchError> {
        let mut report = ApplyReport::default();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let body = Body::Ndjson(join(&pending));
            let answer = self.client.send(Method::POST, &self.path, &body).await?;
            if answer.status == 413 {
                return self.split(pending).await;
            }
            if !answer.is_success() {
                return Err(self.client.refused(&Method::POST, &self.path, &answer));
            }
            let items = serde_json::from_slice::<BulkAnswer>(&answer.body).map(|a| a.items).unwrap_or_default();
            if items.len() != pending.len() {
                return Err(SearchError::Server {
                    location: self.client.describe(&Method::POST, &self.path),
                    reason: format!("answered {} items for {} lines", items.len(), pending.len()),
                    retryable: false,
                });
            }
            let location = self.client.describe(&Method::POST, &self.path);
            let mut rejected = Vec::new();
            for (line, item) in pending.into_iter().zip(items) {
                match item.into_values().next().map(|item| outcome(item, &location)) {
                    Some(Outcome::Accepted) => report.accepted += 1,
                    Some(Outcome::Retry(reason)) => rejected.push((line, reason)),
                    Some(Outcome::Failed(reason)) => report.failed.push(DocumentFailure { id: line.id, reason }),
                    Some(Outcome::Stop(error)) => return Err(error),
                    None => report.failed.push(DocumentFailure { id: line.id, reason: "empty bulk item".into() }),
                }
            }
            if rejected.is_empty() {
                return Ok(report);
            }
            if attempt >= self.client.policy.attempts {
                report.failed.extend(rejected.into_iter().map(|(line, reason)| DocumentFailure {
                    id: line.id,
                    reason: format!("still refused after {attempt} attempts: {reason}"),
                }));
                return Ok(report);
            }
            let wait = self.client.policy.backoff(attempt);
            tracing::warn!(
                items = rejected.len(),
                attempt,
                "the search server refused items for load; retrying in {wait:?}"
            );
            tokio::time::sleep(wait).await;
            pending = rejected.into_iter().map(|(line, _)| line).collect();
        }
    }

    /// A body over `http.max_content_length`: each half on its own; one document alone fails.
    async fn split(&self, mut pending: Vec<Line>) -> Result<ApplyReport, SearchError> {
        if pending.len() == 1 {
            let reason = "larger than the server accepts in one request (http.max_content_length)".to_string();
            return Ok(ApplyReport { accepted: 0, failed: vec![DocumentFailure { id: pending[0].id, reason }] });
        }
        let second = pending.split_off(pending.len() / 2);
        let mut report = Box::pin(self.send(pending)).await?;
        let rest = Box::pin(self.send(second)).await?;
        report.accepted += rest.accepted;
        report.failed.extend(rest.failed);
        Ok(report)
    }
}

/// The action line and, for an upsert, the document line.
fn encode(change: &DocumentChange) -> Result<Line, DocumentFailure> {
    let (action, version, document) = match change {
        DocumentChange::Upsert(document) => ("index", document.version, Some(StoredDocument::new(document))),
        DocumentChange::Delete { version, .. } => ("delete", *version, None),
    };
    let id = change.id();
    if version < 0 {
        let reason = format!("version {version} is negative; external versions start at 0");
        return Err(DocumentFailure { id, reason });
    }
    let meta = json!({action: {"_id": id, "version": version, "version_type": "external"}});
    let mut out = BytesMut::new().writer();
    let written = serde_json::to_writer(&mut out, &meta).and_then(|()| match &document {
        Some(document) => {
            out.get_mut().put_u8(b'\n');
            serde_json::to_writer(&mut out, document)
        }
        None => Ok(()),
    });
    written.map_err(|e| DocumentFailure { id, reason: format!("cannot be written as JSON: {e}") })?;
    let mut ndjson = out.into_inner();
    ndjson.put_u8(b'\n');
    Ok(Line { id, ndjson: ndjson.freeze() })
}

fn join(lines: &[Line]) -> Bytes {
    let mut body = BytesMut::with_capacity(lines.iter().map(|l| l.ndjson.len()).sum());
    for line in lines {
        body.extend_from_slice(&line.ndjson);
    }
    body.freeze()
}

/// Classifies one item (elasticsearch-bulk.md §5.1); `location` names the request in errors.
fn outcome(item: ItemAnswer, location: &str) -> Outcome {
    let kind = item.error.as_ref().and_then(|e| e["type"].as_str()).unwrap_or_default().to_string();
    let reason = match &item.error {
        Some(error) => format!("{kind}: {}", error["reason"].as_str().unwrap_or_default()),
        None => format!("HTTP {}", item.status),
    };
    match item.status {
        200..=299 => Outcome::Accepted,
        // External versions: the index already holds this version or a newer one.
        409 if kind == "version_conflict_engine_exception" => Outcome::Accepted,
        // A delete of a document that is not there: `result: not_found`, no error.
        404 if item.error.is_none() => Outcome::Accepted,
        404 if kind == "index_not_found_exception" => Outcome::Stop(SearchError::Index {
            location: location.to_string(),
            reason: format!("the index is gone ({reason}); run `catsync index --full` to create it again"),
        }),
        401 | 403 => Outcome::Stop(SearchError::Unauthorized { location: location.to_string(), status: item.status }),
        429 | 500 | 502 | 503 | 504 => Outcome::Retry(reason),
        _ => Outcome::Failed(reason),
    }
}

/// Changes cut into batches as they are needed.
struct Batches<'a, I: Iterator<Item = Line>> {
    lines: std::iter::Peekable<I>,
    limits: &'a BulkLimits,
}

impl<I: Iterator<Item = Line>> Iterator for Batches<'_, I> {
    type Item = Vec<Line>;

    fn next(&mut self) -> Option<Vec<Line>> {
        let mut batch = vec![self.lines.next()?];
        let mut bytes = batch[0].ndjson.len();
        while let Some(next) = self.lines.peek() {
            if batch.len() >= self.limits.batch_documents || bytes + next.ndjson.len() > self.limits.batch_bytes {
                break;
            }
            bytes += next.ndjson.len();
            batch.extend(self.lines.next());
        }
        Some(batch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(status: u16, error: Option<Value>) -> ItemAnswer {
        ItemAnswer { status, error }
    }

    fn outcome_of(item: ItemAnswer) -> Outcome {
        outcome(item, "POST http://es/products/_bulk")
    }

    #[test]
    fn items_are_classified_as_the_servers_mean_them() {
        assert!(matches!(outcome_of(item(201, None)), Outcome::Accepted));
        let conflict = json!({"type": "version_conflict_engine_exception", "reason": "current version [3]"});
        assert!(matches!(outcome_of(item(409, Some(conflict))), Outcome::Accepted));
        assert!(matches!(outcome_of(item(404, None)), Outcome::Accepted));
        let busy = json!({"type": "es_rejected_execution_exception", "reason": "queue full"});
        assert!(matches!(outcome_of(item(429, Some(busy))), Outcome::Retry(_)));
        let unmappable = json!({"type": "document_parsing_exception", "reason": "[1:2] failed to parse"});
        match outcome_of(item(400, Some(unmappable))) {
            Outcome::Failed(reason) => assert_eq!(reason, "document_parsing_exception: [1:2] failed to parse"),
            _ => panic!("a mapping error is permanent"),
        }
    }

    #[test]
    fn deletes_have_one_line_and_documents_two() {
        let line = encode(&DocumentChange::Delete { id: Uuid::nil(), version: 7 }).unwrap();
        let text = std::str::from_utf8(&line.ndjson).unwrap();
        assert_eq!(text.matches('\n').count(), 1);
        assert!(text.ends_with('\n'));
        assert!(encode(&DocumentChange::Delete { id: Uuid::nil(), version: -1 }).is_err());
    }
}
