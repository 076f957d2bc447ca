//! The servers' error bodies (elasticsearch-bulk.md §12): one `EsError` renders both as a bulk
//! item's `error` object and as the whole-request envelope `{"error": {"root_cause": […], "type",
//! "reason", …}, "status"}`; the flat `{"error": "<text>", "status"}` form is for the few errors
//! the REST layer answers itself (content types, unknown routes).

use serde_json::{json, Map, Value};

/// An exception as the server reports it.
#[derive(Debug, Clone)]
pub(crate) struct EsError {
    pub status: u16,
    pub kind: String,
    pub reason: String,
    /// Fields beside `type` and `reason`, e.g. `index_uuid`, `shard`, `index`.
    pub extra: Map<String, Value>,
    pub caused_by: Option<Box<EsError>>,
    /// What `root_cause` names when it is not the error itself (a search wraps shard failures).
    pub root: Option<Box<EsError>>,
}

impl EsError {
    pub(crate) fn new(status: u16, kind: &str, reason: impl Into<String>) -> EsError {
        EsError {
            status,
            kind: kind.to_string(),
            reason: reason.into(),
            extra: Map::new(),
            caused_by: None,
            root: None,
        }
    }

    pub(crate) fn with(mut self, key: &str, value: impl Into<Value>) -> EsError {
        self.extra.insert(key.to_string(), value.into());
        self
    }

    pub(crate) fn caused_by(mut self, cause: EsError) -> EsError {
        self.caused_by = Some(Box::new(cause));
        self
    }

    /// Adds the `index_uuid`, `shard` and `index` a shard-level failure carries.
    pub(crate) fn on_shard(self, index: &str, uuid: &str) -> EsError {
        self.with("index_uuid", uuid).with("shard", "0").with("index", index)
    }

    /// `{"type", "reason", …extra, "caused_by"}`: a bulk item's `error`, or one `root_cause`.
    pub(crate) fn object(&self) -> Value {
        let mut object = Map::new();
        object.insert("type".into(), self.kind.clone().into());
        object.insert("reason".into(), self.reason.clone().into());
        object.extend(self.extra.clone());
        if let Some(cause) = &self.caused_by {
            object.insert("caused_by".into(), cause.object());
        }
        Value::Object(object)
    }

    /// The whole-request body.
    pub(crate) fn body(&self) -> Value {
        let root = self.root.as_deref().unwrap_or(self);
        let mut root_cause = root.object();
        if let Some(object) = root_cause.as_object_mut() {
            object.remove("caused_by");
        }
        let mut error = self.object();
        if let Some(object) = error.as_object_mut() {
            object.insert("root_cause".into(), json!([root_cause]));
        }
        json!({ "error": error, "status": self.status })
    }
}

/// The flat form: `{"error": "<text>", "status": n}`.
pub(crate) fn flat(status: u16, text: &str) -> Value {
    json!({ "error": text, "status": status })
}

pub(crate) fn index_not_found(name: &str) -> EsError {
    EsError::new(404, "index_not_found_exception", format!("no such index [{name}]"))
        .with("resource.type", "index_or_alias")
        .with("resource.id", name)
        .with("index_uuid", "_na_")
        .with("index", name)
}

pub(crate) fn illegal_argument(reason: impl Into<String>) -> EsError {
    EsError::new(400, "illegal_argument_exception", reason)
}

/// `action_request_validation_exception`: every problem numbered, each ending in `;`.
pub(crate) fn validation(problems: &[String]) -> EsError {
    let listed: String = problems.iter().enumerate().map(|(i, p)| format!("{}: {p};", i + 1)).collect();
    EsError::new(400, "action_request_validation_exception", format!("Validation Failed: {listed}"))
}

/// `[id]: version conflict, <detail>` (409) on one shard of `index`.
pub(crate) fn version_conflict(id: &str, detail: &str, index: &str, uuid: &str) -> EsError {
    EsError::new(409, "version_conflict_engine_exception", format!("[{id}]: version conflict, {detail}"))
        .on_shard(index, uuid)
}

/// A query or aggregation the parser does not understand.
pub(crate) fn parsing(reason: impl Into<String>) -> EsError {
    EsError::new(400, "parsing_exception", reason)
}
