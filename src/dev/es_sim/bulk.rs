//! `_bulk` (elasticsearch-bulk.md §§4–5): NDJSON framed as the servers parse it — only action lines
//! are parsed up front, so a bad action line, a missing final newline, an `update` carrying a
//! version or a `create` with an external one fails the whole request (400), while a bad document
//! fails only its item — then every item in order, each answered in the request's order with its
//! own status, result or error. Injected item faults take their turn here.

use std::time::Instant;

use serde_json::{json, Map, Value};

use super::api::{Incoming, Reply};
use super::docs::{self, OpKind, VersionType, WriteOp};
use super::errors::{self, EsError};
use super::{index, ItemFault, State};

/// Metadata an action line may carry (§4.3); anything else fails the request.
const METADATA: &[&str] = &[
    "_index",
    "_id",
    "routing",
    "version",
    "version_type",
    "if_seq_no",
    "if_primary_term",
    "retry_on_conflict",
    "require_alias",
    "pipeline",
    "dynamic_templates",
    "_source",
    "require_data_stream",
    "list_executed_pipelines",
];

/// One action with its target.
struct Action {
    op: WriteOp,
    index: String,
    require_alias: bool,
    /// The line had no `_id`: one is generated when the item runs (a retry of such a line
    /// duplicates the document).
    generate_id: bool,
}

/// `POST /_bulk` and `POST /{target}/_bulk`.
pub(crate) fn bulk(state: &mut State, target: Option<&str>, req: &Incoming) -> Result<Reply, EsError> {
    let started = Instant::now();
    let actions = parse(&req.body, target, req.flag("require_alias"))?;
    let mut items = Vec::with_capacity(actions.len());
    let mut touched = Vec::new();
    for mut action in actions {
        if action.generate_id {
            action.op.id = state.generated_id();
        }
        let name = action.op.kind.name();
        let item = match execute(state, &action) {
            Ok((index, written)) => {
                let mut item = docs::written_json(&state.indices[&index], &action.op.id, &written);
                item["status"] = json!(written.status);
                if !touched.contains(&index) {
                    touched.push(index);
                }
                item
            }
            Err((index, error)) => {
                json!({ "_index": index, "_id": action.op.id, "status": error.status, "error": error.object() })
            }
        };
        items.push(json!({ name: item }));
    }
    let forced = req.param("refresh").is_some_and(|r| r.is_empty() || r == "true");
    if forced || req.param("refresh") == Some("wait_for") {
        let now = state.now();
        for name in &touched {
            if let Some(index) = state.indices.get_mut(name) {
                index.refresh(now);
            }
        }
    }
    if forced {
        for item in &mut items {
            if let Some(body) = item.as_object_mut().and_then(|o| o.values_mut().next()) {
                if body.get("error").is_none() {
                    body["forced_refresh"] = json!(true);
                }
            }
        }
    }
    let errors =
        items.iter().any(|i| i.as_object().and_then(|o| o.values().next()).is_some_and(|b| b.get("error").is_some()));
    let took = started.elapsed().as_millis() as u64;
    Ok(Reply::json(200, json!({ "errors": errors, "took": took, "items": items })))
}

/// Runs one item: the concrete index it landed in and what happened, or the index name to report
/// and the error.
fn execute(state: &mut State, action: &Action) -> Result<(String, docs::Written), (String, EsError)> {
    let resolved = if action.op.kind == OpKind::Delete {
        index::resolve_existing_write(state, &action.index)
    } else {
        index::resolve_write(state, &action.index, action.require_alias)
    };
    let name = resolved.map_err(|e| (action.index.clone(), e))?;
    if let Some(error) = take_item_fault(state, &name) {
        return Err((name, error));
    }
    match state.write(&name, &action.op) {
        Ok(written) => Ok((name, written)),
        Err(error) => Err((name, error)),
    }
}

/// The rejection the next item gets, if an `ItemFault::Next` is pending.
fn take_item_fault(state: &mut State, index: &str) -> Option<EsError> {
    let at = state.item_faults.iter().position(|f| matches!(f, ItemFault::Next { .. }))?;
    let ItemFault::Next { count, status } = state.item_faults[at].clone() else { return None };
    if count <= 1 {
        state.item_faults.remove(at);
    } else {
        state.item_faults[at] = ItemFault::Next { count: count - 1, status };
    }
    let uuid = state.indices.get(index).map_or("_na_".to_string(), |i| i.uuid.clone());
    Some(match status {
        429 => EsError::new(
            429,
            "es_rejected_execution_exception",
            format!(
                "rejected execution of primary operation [shard_id=[{index}][0], operation=index] on \
                 EsThreadPoolExecutor[name = sim-node-1/write, queue capacity = 10000, active threads = 2, \
                 queued tasks = 10000, completed tasks = 0]"
            ),
        ),
        503 => EsError::new(
            503,
            "unavailable_shards_exception",
            format!("[{index}][0] primary shard is not active Timeout: [1m], request: [BulkShardRequest [[{index}][0]] containing [1] requests]"),
        )
        .on_shard(index, &uuid),
        other => EsError::new(other, "exception", "simulated item failure").on_shard(index, &uuid),
    })
}

/// Splits the body into actions, as the coordinating node does.
fn parse(body: &str, target: Option<&str>, require_alias: bool) -> Result<Vec<Action>, EsError> {
    if body.is_empty() {
        return Err(EsError::new(400, "parse_exception", "request body is required"));
    }
    if !body.ends_with('\n') {
        return Err(errors::illegal_argument("The bulk request must be terminated by a newline [\\n]"));
    }
    let lines: Vec<&str> = body.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l)).collect();
    let mut actions = Vec::new();
    let mut problems = Vec::new();
    let mut at = 0;
    while at < lines.len() {
        let line_no = at + 1;
        let line = lines[at];
        at += 1;
        if line.trim().is_empty() {
            continue;
        }
        let (kind, meta) = action_line(line, line_no)?;
        let needs_source = kind != OpKind::Delete;
        let source = if needs_source {
            // The last element of the split is the empty remainder after the final newline.
            match lines.get(at).filter(|_| at + 1 < lines.len()) {
                Some(source) => {
                    at += 1;
                    source.to_string()
                }
                None => {
                    problems.push("source is missing".to_string());
                    String::new()
                }
            }
        } else {
            String::new()
        };
        let string = |key: &str| meta.get(key).map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string));
        let number = |key: &str| -> Result<Option<u64>, EsError> {
            match meta.get(key) {
                None => Ok(None),
                Some(v) => v.as_u64().or_else(|| v.as_str().and_then(|s| s.parse().ok())).map(Some).ok_or_else(|| {
                    errors::illegal_argument(format!(
                        "Malformed action/metadata line [{line_no}], [{key}] is not a number"
                    ))
                }),
            }
        };
        let version_type = match meta.get("version_type").and_then(Value::as_str) {
            Some(text) => VersionType::parse(text)?,
            None => VersionType::Internal,
        };
        let version = number("version")?;
        if kind == OpKind::Update && (version.is_some() || version_type != VersionType::Internal) {
            return Err(errors::illegal_argument(
                "Update requests do not support versioning. Please use `if_seq_no` and `if_primary_term` instead",
            ));
        }
        if kind == OpKind::Update {
            check_update_body(&source, line_no + 1)?;
        }
        let index = string("_index").or_else(|| target.map(str::to_string));
        let id = string("_id");
        if index.is_none() {
            problems.push("index is missing".to_string());
        }
        if id.is_none() && matches!(kind, OpKind::Update | OpKind::Delete) {
            problems.push("id is missing".to_string());
        }
        let generate_id = id.is_none();
        let op = WriteOp {
            kind,
            id: id.unwrap_or_default(),
            body: source,
            version,
            version_type,
            if_seq_no: number("if_seq_no")?,
            if_primary_term: number("if_primary_term")?,
        };
        problems.extend(op.problems());
        let require_alias = meta.get("require_alias").and_then(Value::as_bool).unwrap_or(require_alias);
        actions.push(Action { op, index: index.unwrap_or_default(), require_alias, generate_id });
    }
    if actions.is_empty() {
        problems.push("no requests added".to_string());
    }
    if problems.is_empty() {
        Ok(actions)
    } else {
        Err(errors::validation(&problems))
    }
}

/// An action line: one key naming the action, whose object holds only known metadata.
fn action_line(line: &str, line_no: usize) -> Result<(OpKind, Map<String, Value>), EsError> {
    let malformed =
        |detail: String| errors::illegal_argument(format!("Malformed action/metadata line [{line_no}], {detail}"));
    let value: Value = serde_json::from_str(line)
        .map_err(|e| EsError::new(400, "x_content_parse_exception", format!("[{line_no}:{}] {e}", e.column())))?;
    let Value::Object(object) = value else {
        return Err(malformed(format!("expected START_OBJECT or END_OBJECT but found [{}]", token_name(&value))));
    };
    let mut entries = object.into_iter();
    let Some((action, meta)) = entries.next() else {
        return Err(malformed("expected FIELD_NAME but found [END_OBJECT]".to_string()));
    };
    let kind = match action.as_str() {
        "index" => OpKind::Index,
        "create" => OpKind::Create,
        "update" => OpKind::Update,
        "delete" => OpKind::Delete,
        other => {
            return Err(malformed(format!(
                "expected field [create], [delete], [index] or [update] but found [{other}]"
            )))
        }
    };
    let Value::Object(meta) = meta else {
        return Err(malformed(format!("expected START_OBJECT but found [{}]", token_name(&meta))));
    };
    if entries.next().is_some() {
        return Err(malformed("expected END_OBJECT but found [FIELD_NAME]".to_string()));
    }
    if let Some(unknown) = meta.keys().find(|k| !METADATA.contains(&k.as_str())) {
        return Err(errors::illegal_argument(format!(
            "Action/metadata line [{line_no}] contains an unknown parameter [{unknown}]"
        )));
    }
    Ok((kind, meta))
}

/// Update bodies are parsed on the coordinating node, so a bad one fails the whole request.
fn check_update_body(source: &str, line_no: usize) -> Result<(), EsError> {
    if source.is_empty() {
        return Ok(());
    }
    match serde_json::from_str::<Value>(source) {
        Ok(Value::Object(body)) => match body.keys().find(|k| !docs::UPDATE_FIELDS.contains(&k.as_str())) {
            Some(unknown) => Err(errors::parsing(format!("[UpdateRequest] unknown field [{unknown}]"))),
            None => Ok(()),
        },
        Ok(other) => {
            Err(errors::parsing(format!("[{line_no}:1] Expected START_OBJECT but found [{}]", token_name(&other))))
        }
        Err(e) => Err(EsError::new(400, "x_content_parse_exception", format!("[{line_no}:{}] {e}", e.column()))),
    }
}

/// The Jackson token a JSON value starts with, for error messages.
fn token_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "VALUE_NULL",
        Value::Bool(true) => "VALUE_TRUE",
        Value::Bool(false) => "VALUE_FALSE",
        Value::Number(n) if n.is_f64() => "VALUE_NUMBER_FLOAT",
        Value::Number(_) => "VALUE_NUMBER_INT",
        Value::String(_) => "VALUE_STRING",
        Value::Array(_) => "START_ARRAY",
        Value::Object(_) => "START_OBJECT",
    }
}
