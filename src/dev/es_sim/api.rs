//! The REST layer behind one entry point, `State::answer`: routing (with 405 for a known path and
//! the wrong method), authentication, the strict `Content-Type` check (§2), unknown query
//! parameters refused as the servers refuse them, the root document of each flavour (§1.1), and
//! dispatch to the endpoints of `index`, `docs`, `bulk` and `search`.

use std::collections::BTreeMap;

use percent_encoding::percent_decode_str;
use serde_json::{json, Value};

use super::errors::{self, EsError};
use super::{auth, bulk, docs, index, search, Flavour, State};

/// A request, as far as the API cares.
pub(crate) struct Incoming {
    pub method: String,
    /// Percent-encoded, as sent.
    pub path: String,
    pub params: BTreeMap<String, String>,
    pub body: String,
    pub content_type: Option<String>,
    pub authorization: Option<String>,
}

impl Incoming {
    pub(crate) fn param(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }

    /// A boolean parameter: present without a value, or `true`.
    pub(crate) fn flag(&self, name: &str) -> bool {
        self.param(name).is_some_and(|v| v.is_empty() || v == "true")
    }

    /// The body as JSON; an empty body is `None`.
    pub(crate) fn json(&self) -> Result<Option<Value>, EsError> {
        if self.body.trim().is_empty() {
            return Ok(None);
        }
        serde_json::from_str(&self.body)
            .map(Some)
            .map_err(|e| EsError::new(400, "x_content_parse_exception", format!("[{}:{}] {e}", e.line(), e.column())))
    }
}

/// An answer, before it becomes HTTP.
#[derive(Debug)]
pub(crate) struct Reply {
    pub status: u16,
    pub body: ReplyBody,
    pub headers: Vec<(&'static str, String)>,
}

#[derive(Debug)]
pub(crate) enum ReplyBody {
    Json(Value),
    Text(String),
    Empty,
}

impl Reply {
    pub(crate) fn json(status: u16, body: Value) -> Reply {
        Reply { status, body: ReplyBody::Json(body), headers: Vec::new() }
    }

    pub(crate) fn text(status: u16, text: &str) -> Reply {
        Reply { status, body: ReplyBody::Text(text.to_string()), headers: Vec::new() }
    }

    pub(crate) fn empty(status: u16) -> Reply {
        Reply { status, body: ReplyBody::Empty, headers: Vec::new() }
    }

    pub(crate) fn header(mut self, name: &'static str, value: &str) -> Reply {
        self.headers.push((name, value.to_string()));
        self
    }

    /// `{"acknowledged": true}`.
    pub(crate) fn acknowledged() -> Reply {
        Reply::json(200, json!({ "acknowledged": true }))
    }

    /// What an injected `Fault::Status` answers: the usual body of that status.
    pub(crate) fn canned(status: u16) -> Reply {
        let error = match status {
            413 => return Reply::empty(413),
            502 | 504 => {
                let reason = axum::http::StatusCode::from_u16(status).ok().and_then(|s| s.canonical_reason());
                let title = format!("{status} {}", reason.unwrap_or("Error"));
                return Reply::text(status, &format!("<html><head><title>{title}</title></head><body><center><h1>{title}</h1></center></body></html>"))
                    .header("content-type", "text/html");
            }
            429 => EsError::new(
                429,
                "es_rejected_execution_exception",
                "rejected execution of coordinating operation [coordinating_and_primary_bytes=104857600, \
                 replica_bytes=0, all_bytes=104857600, coordinating_operation_bytes=5242880, \
                 max_coordinating_and_primary_bytes=107374182]",
            ),
            503 => EsError::new(503, "cluster_block_exception", "blocked by: [SERVICE_UNAVAILABLE/2/no master];"),
            _ => EsError::new(status, "exception", "simulated server failure"),
        };
        error.into()
    }
}

impl From<EsError> for Reply {
    fn from(error: EsError) -> Reply {
        Reply::json(error.status, error.body())
    }
}

/// What a route does; `target` is the index expression of the path.
enum Endpoint {
    Root,
    Health,
    Bulk(Option<String>),
    UpdateAliases,
    GetAlias { index: Option<String>, name: Option<String> },
    Refresh(Option<String>),
    Search(Option<String>),
    Count(Option<String>),
    Index(String),
    Settings(String),
    Mapping(String),
    Doc { index: String, id: Option<String> },
    Create { index: String, id: String },
    Update { index: String, id: String },
}

/// Parameters every endpoint accepts.
const COMMON_PARAMS: &[&str] = &["pretty", "human", "error_trace", "filter_path", "source", "source_content_type"];
const SEARCH_PARAMS: &[&str] = &[
    "q",
    "df",
    "default_operator",
    "analyzer",
    "size",
    "from",
    "sort",
    "track_total_hits",
    "track_scores",
    "_source",
    "_source_includes",
    "_source_excludes",
    "timeout",
    "terminate_after",
    "allow_no_indices",
    "ignore_unavailable",
    "expand_wildcards",
    "preference",
    "routing",
    "request_cache",
    "search_type",
    "scroll",
    "typed_keys",
    "rest_total_hits_as_int",
    "min_score",
    "seq_no_primary_term",
    "version",
    "batched_reduce_size",
    "allow_partial_search_results",
];
const INDEX_ADMIN_PARAMS: &[&str] = &[
    "timeout",
    "master_timeout",
    "wait_for_active_shards",
    "flat_settings",
    "include_defaults",
    "local",
    "preserve_existing",
    "reopen",
    "ignore_unavailable",
    "allow_no_indices",
    "expand_wildcards",
];

/// Parameters of every write, and of the APIs that can return a source.
const WRITE_PARAMS: &[&str] = &["refresh", "routing", "timeout", "wait_for_active_shards", "require_alias", "pipeline"];
const SOURCE_PARAMS: &[&str] = &["_source", "_source_includes", "_source_excludes"];
const BULK: &[&[&str]] = &[
    COMMON_PARAMS,
    WRITE_PARAMS,
    SOURCE_PARAMS,
    &["require_data_stream", "list_executed_pipelines", "include_source_on_error"],
];
const DOC: &[&[&str]] = &[
    COMMON_PARAMS,
    WRITE_PARAMS,
    SOURCE_PARAMS,
    &["version", "version_type", "op_type", "if_seq_no", "if_primary_term", "realtime", "preference", "stored_fields"],
];
/// `version` and `version_type` are known to `_update` only to be refused with a better message.
const UPDATE: &[&[&str]] = &[
    COMMON_PARAMS,
    WRITE_PARAMS,
    SOURCE_PARAMS,
    &["if_seq_no", "if_primary_term", "retry_on_conflict", "lang", "version", "version_type"],
];
const SEARCH: &[&[&str]] = &[COMMON_PARAMS, SEARCH_PARAMS];
const ADMIN: &[&[&str]] = &[COMMON_PARAMS, INDEX_ADMIN_PARAMS];
const HEALTH: &[&[&str]] = &[COMMON_PARAMS, &["wait_for_status", "timeout", "level", "local"]];

/// What `Endpoint::parse` finds: the endpoint, the methods it takes and the parameter groups it knows.
type Found = (Endpoint, &'static [&'static str], &'static [&'static [&'static str]]);

impl Endpoint {
    /// The endpoint of a path, with the methods it takes and the parameters it knows.
    fn parse(path: &str) -> Option<Found> {
        let segments: Vec<String> = path
            .trim_start_matches('/')
            .split('/')
            .filter(|s| !s.is_empty())
            .map(|s| percent_decode_str(s).decode_utf8_lossy().into_owned())
            .collect();
        let seg: Vec<&str> = segments.iter().map(String::as_str).collect();
        const READ: &[&str] = &["GET", "POST"];
        let owned = |s: &str| s.to_string();
        let found = match seg.as_slice() {
            [] => (Endpoint::Root, &["GET", "HEAD"][..], &[COMMON_PARAMS][..]),
            ["_cluster", "health"] => (Endpoint::Health, &["GET"][..], HEALTH),
            ["_bulk"] => (Endpoint::Bulk(None), &["POST", "PUT"][..], BULK),
            ["_aliases"] => (Endpoint::UpdateAliases, &["POST"][..], ADMIN),
            ["_alias"] => (Endpoint::GetAlias { index: None, name: None }, &["GET"][..], ADMIN),
            ["_alias", name] => {
                (Endpoint::GetAlias { index: None, name: Some(owned(name)) }, &["GET", "HEAD"][..], ADMIN)
            }
            ["_refresh"] => (Endpoint::Refresh(None), READ, ADMIN),
            ["_search"] => (Endpoint::Search(None), READ, SEARCH),
            ["_count"] => (Endpoint::Count(None), READ, SEARCH),
            [first, ..] if first.starts_with('_') => return None,
            [index] => (Endpoint::Index(owned(index)), &["GET", "HEAD", "PUT", "DELETE"][..], ADMIN),
            [index, "_bulk"] => (Endpoint::Bulk(Some(owned(index))), &["POST", "PUT"][..], BULK),
            [index, "_alias"] => (Endpoint::GetAlias { index: Some(owned(index)), name: None }, &["GET"][..], ADMIN),
            [index, "_alias", name] => {
                (Endpoint::GetAlias { index: Some(owned(index)), name: Some(owned(name)) }, &["GET", "HEAD"][..], ADMIN)
            }
            [index, "_refresh"] => (Endpoint::Refresh(Some(owned(index))), READ, ADMIN),
            [index, "_search"] => (Endpoint::Search(Some(owned(index))), READ, SEARCH),
            [index, "_count"] => (Endpoint::Count(Some(owned(index))), READ, SEARCH),
            [index, "_settings"] => (Endpoint::Settings(owned(index)), &["GET", "PUT"][..], ADMIN),
            [index, "_mapping"] => (Endpoint::Mapping(owned(index)), &["GET", "PUT", "POST"][..], ADMIN),
            [index, "_doc"] => (Endpoint::Doc { index: owned(index), id: None }, &["POST"][..], DOC),
            [index, "_doc", id] => (
                Endpoint::Doc { index: owned(index), id: Some(owned(id)) },
                &["GET", "HEAD", "PUT", "POST", "DELETE"][..],
                DOC,
            ),
            [index, "_create", id] => {
                (Endpoint::Create { index: owned(index), id: owned(id) }, &["PUT", "POST"][..], DOC)
            }
            [index, "_update", id] => (Endpoint::Update { index: owned(index), id: owned(id) }, &["POST"][..], UPDATE),
            _ => return None,
        };
        Some(found)
    }
}

/// Media types each flavour parses as JSON. Elasticsearch also takes its vendored
/// `compatible-with` types; OpenSearch refuses them (§2).
fn supported_content_type(flavour: Flavour, content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    match essence.as_str() {
        "application/json" | "application/x-ndjson" => true,
        "application/vnd.elasticsearch+json" | "application/vnd.elasticsearch+x-ndjson" => {
            flavour == Flavour::Elasticsearch
        }
        _ => false,
    }
}

impl State {
    pub(crate) fn answer(&mut self, req: &Incoming) -> Reply {
        // Authentication comes first: Elasticsearch 8 checks credentials as the headers arrive.
        if let Err(refusal) = auth::check(self, req.authorization.as_deref(), &req.path) {
            return refusal;
        }
        let Some((endpoint, methods, known)) = Endpoint::parse(&req.path) else {
            let text = format!("no handler found for uri [{}] and method [{}]", req.path, req.method);
            return Reply::json(400, errors::flat(400, &text));
        };
        if !methods.contains(&req.method.as_str()) {
            let text = format!(
                "Incorrect HTTP method for uri [{}] and method [{}], allowed: [{}]",
                req.path,
                req.method,
                methods.join(", ")
            );
            return Reply::json(405, errors::flat(405, &text));
        }
        if !req.body.is_empty() {
            let supported = req.content_type.as_deref().is_some_and(|ct| supported_content_type(self.flavour(), ct));
            if !supported {
                let text = match &req.content_type {
                    None => "Content-Type header is missing".to_string(),
                    Some(ct) => format!("Content-Type header [{ct}] is not supported"),
                };
                return Reply::json(406, errors::flat(406, &text));
            }
        }
        let unknown: Vec<&String> =
            req.params.keys().filter(|p| !known.iter().any(|group| group.contains(&p.as_str()))).collect();
        if !unknown.is_empty() {
            let listed: Vec<String> = unknown.iter().map(|p| format!("[{p}]")).collect();
            let noun = if unknown.len() == 1 { "parameter" } else { "parameters" };
            return errors::illegal_argument(format!(
                "request [{}] contains unrecognized {noun}: {}",
                req.path,
                listed.join(", ")
            ))
            .into();
        }
        let head = req.method == "HEAD";
        let result = match endpoint {
            Endpoint::Root => Ok(Reply::json(200, root_document(self.flavour()))),
            Endpoint::Health => Ok(index::health(self)),
            Endpoint::Bulk(target) => bulk::bulk(self, target.as_deref(), req),
            Endpoint::UpdateAliases => index::update_aliases(self, req),
            Endpoint::GetAlias { index, name } => index::get_alias(self, index.as_deref(), name.as_deref()),
            Endpoint::Refresh(target) => index::refresh_endpoint(self, target.as_deref()),
            Endpoint::Search(target) => search::search(self, target.as_deref(), req),
            Endpoint::Count(target) => search::count(self, target.as_deref(), req),
            Endpoint::Index(name) => index::index_endpoint(self, &name, req),
            Endpoint::Settings(name) => index::settings_endpoint(self, &name, req),
            Endpoint::Mapping(name) => index::mapping_endpoint(self, &name, req),
            Endpoint::Doc { index, id } => docs::doc_endpoint(self, &index, id.as_deref(), req),
            Endpoint::Create { index, id } => docs::write_endpoint(self, &index, Some(&id), docs::OpKind::Create, req),
            Endpoint::Update { index, id } => docs::update_endpoint(self, &index, &id, req),
        };
        let reply = result.unwrap_or_else(Reply::from);
        if head {
            Reply { body: ReplyBody::Empty, ..reply }
        } else {
            reply
        }
    }
}

/// `GET /` as each server answers it (§1.1).
fn root_document(flavour: Flavour) -> Value {
    match flavour {
        Flavour::Elasticsearch => json!({
            "name": "es-sim-node-1",
            "cluster_name": "catsync-sim",
            "cluster_uuid": "Q2F0c3luY1NpbXVsYXRvcg",
            "version": {
                "number": "8.19.3",
                "build_flavor": "default",
                "build_type": "docker",
                "build_hash": "0123abcd4567ef890123abcd4567ef890123abcd",
                "build_date": "2025-09-01T10:00:00.000Z",
                "build_snapshot": false,
                "lucene_version": "9.12.2",
                "minimum_wire_compatibility_version": "7.17.0",
                "minimum_index_compatibility_version": "7.0.0"
            },
            "tagline": "You Know, for Search"
        }),
        Flavour::OpenSearch => json!({
            "name": "os-sim-node-1",
            "cluster_name": "catsync-sim",
            "cluster_uuid": "U2ltdWxhdGVkQ2x1c3Rlcg",
            "version": {
                "distribution": "opensearch",
                "number": "2.19.1",
                "build_type": "tar",
                "build_hash": "4567ef0123abcd4567ef0123abcd4567ef0123ab",
                "build_date": "2025-03-01T12:00:00.000Z",
                "build_snapshot": false,
                "lucene_version": "9.12.1",
                "minimum_wire_compatibility_version": "7.10.0",
                "minimum_index_compatibility_version": "7.0.0"
            },
            "tagline": "The OpenSearch Project: https://opensearch.org/"
        }),
    }
}
