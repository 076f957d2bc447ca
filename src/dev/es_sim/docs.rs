//! Writing one document (elasticsearch-bulk.md §§4.2–4.4, §8, §11), shared by `_bulk` and the
//! one-document APIs: `index`, `create`, `update` (partial `doc`, `upsert`, `doc_as_upsert`,
//! `detect_noop`) and `delete`, with internal versions, external versions (`external`: strictly
//! greater wins; `external_gte`: greater or equal), `if_seq_no`/`if_primary_term`, and delete
//! tombstones that keep a version for `index.gc_deletes`. Parsing and mapping come before the
//! version check, as on a shard. Also `PUT|POST|GET|DELETE /{index}/_doc/{id}`, `_create`, `_update`.

use serde_json::{json, Map, Value};

use super::api::{Incoming, Reply};
use super::errors::{self, EsError};
use super::index::{self, Doc, Index, Tombstone};
use super::{mapping, Flavour, ItemFault, State};

/// Every shard of the simulator is on its first primary term.
pub(crate) const PRIMARY_TERM: u64 = 1;

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum OpKind {
    Index,
    Create,
    Update,
    Delete,
}

impl OpKind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            OpKind::Index => "index",
            OpKind::Create => "create",
            OpKind::Update => "update",
            OpKind::Delete => "delete",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum VersionType {
    Internal,
    External,
    ExternalGte,
}

impl VersionType {
    pub(crate) fn parse(text: &str) -> Result<VersionType, EsError> {
        match text {
            "internal" => Ok(VersionType::Internal),
            "external" => Ok(VersionType::External),
            "external_gte" => Ok(VersionType::ExternalGte),
            other => Err(errors::illegal_argument(format!("No version type match [{other}]"))),
        }
    }
}

/// One write, from a bulk line pair or a one-document request.
#[derive(Debug, Clone)]
pub(crate) struct WriteOp {
    pub kind: OpKind,
    pub id: String,
    /// The document (index, create) or update body, as sent: parsed when applied, so that a bad
    /// document fails only its own item.
    pub body: String,
    pub version: Option<u64>,
    pub version_type: VersionType,
    pub if_seq_no: Option<u64>,
    pub if_primary_term: Option<u64>,
}

impl WriteOp {
    /// The request-validation problems of this write, in the servers' words.
    pub(crate) fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let external = self.version_type != VersionType::Internal;
        if self.kind == OpKind::Create && external {
            problems.push("create operations only support internal versioning. use index instead".to_string());
        }
        if !external && self.version.is_some() {
            problems.push(
                "internal versioning can not be used for optimistic concurrency control. Please use `if_seq_no` \
                 and `if_primary_term` instead"
                    .to_string(),
            );
        }
        if external && self.version.is_none() {
            let name = if self.version_type == VersionType::External { "EXTERNAL" } else { "EXTERNAL_GTE" };
            problems.push(format!("illegal version value [-3] for version type [{name}]"));
        }
        if self.if_seq_no.is_some() && external {
            problems.push("compare and write operations can not be used with versioning".to_string());
        }
        if self.if_seq_no.is_some() && self.if_primary_term.unwrap_or(0) == 0 {
            problems.push("ifSeqNo is set, but primary term is [0]".to_string());
        }
        problems
    }
}

/// A write that was carried out (or found to be a no-op).
pub(crate) struct Written {
    pub result: &'static str,
    pub status: u16,
    pub version: u64,
    pub seq_no: u64,
}

/// `{"_index", "_id", "_version", "result", "_shards", "_seq_no", "_primary_term"}`.
pub(crate) fn written_json(index: &Index, id: &str, written: &Written) -> Value {
    let shards = if written.result == "noop" {
        json!({ "total": 0, "successful": 0, "failed": 0 })
    } else {
        index.write_shards()
    };
    json!({
        "_index": index.name, "_id": id, "_version": written.version, "result": written.result,
        "_shards": shards, "_seq_no": written.seq_no, "_primary_term": PRIMARY_TERM,
    })
}

/// Partial-update merge: objects merge recursively, everything else is replaced.
fn merge(into: &mut Value, doc: &Value) {
    match (into, doc) {
        (Value::Object(target), Value::Object(changes)) => {
            for (key, value) in changes {
                match target.get_mut(key) {
                    Some(existing) if existing.is_object() && value.is_object() => merge(existing, value),
                    _ => {
                        target.insert(key.clone(), value.clone());
                    }
                }
            }
        }
        (into, doc) => *into = doc.clone(),
    }
}

/// A document or update body; what is not JSON fails as a parse error of the flavour.
fn parse_json(text: &str, flavour: Flavour, id: &str) -> Result<Value, EsError> {
    serde_json::from_str(text).map_err(|e| {
        let cause = EsError::new(400, "json_parse_exception", format!("{e}"));
        mapping::unparsable(flavour, id, text, cause)
    })
}

impl State {
    /// Applies one write to the concrete index `name`.
    pub(crate) fn write(&mut self, name: &str, op: &WriteOp) -> Result<Written, EsError> {
        let now = self.now();
        let flavour = self.flavour();
        let forced = self.item_faults.iter().any(|f| matches!(f, ItemFault::Unmappable(id) if *id == op.id));
        let index = self.indices.get_mut(name).ok_or_else(|| errors::index_not_found(name))?;
        let uuid = index.uuid.clone();
        let on_shard = |e: EsError| e.on_shard(name, &uuid);
        let live = index.docs.get(&op.id).cloned();
        let tombstone = if live.is_none() { index.live_tombstone(&op.id, now).map(|t| t.version) } else { None };

        let source = match op.kind {
            OpKind::Delete => None,
            OpKind::Index | OpKind::Create => Some(parse_json(&op.body, flavour, &op.id).map_err(on_shard)?),
            OpKind::Update => {
                let body = parse_json(&op.body, flavour, &op.id).map_err(on_shard)?;
                if body.get("script").is_some() {
                    return Err(errors::illegal_argument("the simulator does not run scripts; send `doc` instead"));
                }
                match &live {
                    Some(doc) => {
                        let mut merged = doc.source.clone();
                        merge(&mut merged, body.get("doc").unwrap_or(&Value::Object(Map::new())));
                        let detect_noop = body.get("detect_noop").and_then(Value::as_bool).unwrap_or(true);
                        if detect_noop && merged == doc.source {
                            check_seq_no(op, live.as_ref()).map_err(on_shard)?;
                            return Ok(Written {
                                result: "noop",
                                status: 200,
                                version: doc.version,
                                seq_no: doc.seq_no,
                            });
                        }
                        Some(merged)
                    }
                    None => {
                        let as_upsert = body.get("doc_as_upsert").and_then(Value::as_bool).unwrap_or(false);
                        let upsert = if as_upsert { body.get("doc") } else { body.get("upsert") };
                        match upsert {
                            Some(doc) => Some(doc.clone()),
                            None => {
                                let missing = EsError::new(
                                    404,
                                    "document_missing_exception",
                                    format!("[{}]: document missing", op.id),
                                );
                                return Err(on_shard(missing));
                            }
                        }
                    }
                }
            }
        };
        if let Some(source) = &source {
            if forced {
                return Err(on_shard(mapping::forced_failure(&index.mappings, source, &op.id, flavour, &op.body)));
            }
            if let Some(extended) =
                mapping::check_document(&index.mappings, source, &op.id, flavour, &op.body).map_err(on_shard)?
            {
                index.mappings = extended;
            }
        }

        if op.kind == OpKind::Create {
            if let Some(doc) = &live {
                let detail = format!("document already exists (current version [{}])", doc.version);
                return Err(errors::version_conflict(&op.id, &detail, name, &uuid));
            }
        }
        check_seq_no(op, live.as_ref()).map_err(on_shard)?;
        let current = live.as_ref().map(|d| d.version).or(tombstone);
        let version = match (op.version_type, op.version) {
            (VersionType::Internal, _) | (_, None) => current.map_or(1, |c| c + 1),
            (kind, Some(given)) => {
                if let Some(current) = current {
                    let (stale, words) = match kind {
                        VersionType::ExternalGte => (given < current, "is higher than"),
                        _ => (given <= current, "is higher or equal to"),
                    };
                    if stale {
                        let detail = format!("current version [{current}] {words} the one provided [{given}]");
                        return Err(errors::version_conflict(&op.id, &detail, name, &uuid));
                    }
                }
                given
            }
        };

        let seq_no = index.next_seq_no;
        index.next_seq_no += 1;
        let (result, status) = match source {
            Some(source) => {
                index.tombstones.remove(&op.id);
                index.docs.insert(op.id.clone(), Doc { source, version, seq_no });
                if live.is_some() {
                    ("updated", 200)
                } else {
                    ("created", 201)
                }
            }
            None => {
                index.docs.remove(&op.id);
                index.tombstones.insert(op.id.clone(), Tombstone { version, at: now });
                if live.is_some() {
                    ("deleted", 200)
                } else {
                    ("not_found", 404)
                }
            }
        };
        Ok(Written { result, status, version, seq_no })
    }
}

/// `if_seq_no` + `if_primary_term`: the write applies only to exactly that state of the document.
fn check_seq_no(op: &WriteOp, live: Option<&Doc>) -> Result<(), EsError> {
    let Some(seq_no) = op.if_seq_no else { return Ok(()) };
    let term = op.if_primary_term.unwrap_or(0);
    let detail = match live {
        Some(doc) if doc.seq_no == seq_no && term == PRIMARY_TERM => return Ok(()),
        Some(doc) => format!(
            "required seqNo [{seq_no}], primary term [{term}]. current document has seqNo [{}] and primary term [{PRIMARY_TERM}]",
            doc.seq_no
        ),
        None => format!("required seqNo [{seq_no}], primary term [{term}]. but no document was found"),
    };
    Err(EsError::new(409, "version_conflict_engine_exception", format!("[{}]: version conflict, {detail}", op.id)))
}

/// A numeric query parameter.
pub(crate) fn number_param(req: &Incoming, name: &str) -> Result<Option<u64>, EsError> {
    req.param(name)
        .map(|v| {
            v.parse().map_err(|_| {
                errors::illegal_argument(format!("Failed to parse long parameter [{name}] with value [{v}]"))
            })
        })
        .transpose()
}

/// `PUT|POST|GET|HEAD|DELETE /{index}/_doc[/{id}]`.
pub(crate) fn doc_endpoint(state: &mut State, index: &str, id: Option<&str>, req: &Incoming) -> Result<Reply, EsError> {
    match (req.method.as_str(), id) {
        ("GET" | "HEAD", Some(id)) => get(state, index, id, req),
        ("DELETE", Some(id)) => write_endpoint(state, index, Some(id), OpKind::Delete, req),
        _ if req.param("op_type") == Some("create") => write_endpoint(state, index, id, OpKind::Create, req),
        _ => write_endpoint(state, index, id, OpKind::Index, req),
    }
}

/// One write through the one-document APIs; its outcome in the write-response shape, or the error envelope.
pub(crate) fn write_endpoint(
    state: &mut State,
    target: &str,
    id: Option<&str>,
    kind: OpKind,
    req: &Incoming,
) -> Result<Reply, EsError> {
    let version_type = req.param("version_type").map(VersionType::parse).transpose()?.unwrap_or(VersionType::Internal);
    let id = match id {
        Some(id) => id.to_string(),
        None => state.generated_id(),
    };
    let op = WriteOp {
        kind,
        id,
        body: req.body.clone(),
        version: number_param(req, "version")?,
        version_type,
        if_seq_no: number_param(req, "if_seq_no")?,
        if_primary_term: number_param(req, "if_primary_term")?,
    };
    apply_one(state, target, &op, req)
}

/// `POST /{index}/_update/{id}`: no external versions (the REST layer refuses `version` outright).
pub(crate) fn update_endpoint(state: &mut State, target: &str, id: &str, req: &Incoming) -> Result<Reply, EsError> {
    if req.param("version").is_some() || req.param("version_type").is_some() {
        return Err(errors::validation(&[
            "internal versioning can not be used for optimistic concurrency control. Please use `if_seq_no` and \
             `if_primary_term` instead"
                .to_string(),
        ]));
    }
    if let Some(Value::Object(body)) = req.json()? {
        if let Some(unknown) = body.keys().find(|k| !UPDATE_FIELDS.contains(&k.as_str())) {
            return Err(errors::parsing(format!("[UpdateRequest] unknown field [{unknown}]")));
        }
    }
    write_endpoint(state, target, Some(id), OpKind::Update, req)
}

/// The fields an update body may have (§4.4).
pub(crate) const UPDATE_FIELDS: &[&str] =
    &["doc", "doc_as_upsert", "upsert", "script", "scripted_upsert", "detect_noop", "_source"];

fn apply_one(state: &mut State, target: &str, op: &WriteOp, req: &Incoming) -> Result<Reply, EsError> {
    let problems = op.problems();
    if !problems.is_empty() {
        return Err(errors::validation(&problems));
    }
    let name = if op.kind == OpKind::Delete {
        index::resolve_existing_write(state, target)?
    } else {
        index::resolve_write(state, target, req.flag("require_alias"))?
    };
    let written = state.write(&name, op)?;
    if matches!(req.param("refresh"), Some("" | "true" | "wait_for")) {
        let now = state.now();
        state.indices.get_mut(&name).expect("written to").refresh(now);
    }
    Ok(Reply::json(written.status, written_json(&state.indices[&name], &op.id, &written)))
}

/// `GET /{index}/_doc/{id}`: real time, whatever was refreshed.
fn get(state: &State, target: &str, id: &str, req: &Incoming) -> Result<Reply, EsError> {
    let names = index::resolve_read(state, target)?;
    let [name] = names.as_slice() else {
        return Err(errors::illegal_argument(format!(
            "alias [{target}] has more than one index associated with it [{}], can't execute a single index op",
            names.join(", ")
        )));
    };
    let Some(doc) = state.indices[name].docs.get(id) else {
        return Ok(Reply::json(404, json!({ "_index": name, "_id": id, "found": false })));
    };
    let mut body = json!({
        "_index": name, "_id": id, "_version": doc.version, "_seq_no": doc.seq_no,
        "_primary_term": PRIMARY_TERM, "found": true,
    });
    if req.param("_source") != Some("false") {
        body["_source"] = doc.source.clone();
    }
    Ok(Reply::json(200, body))
}
