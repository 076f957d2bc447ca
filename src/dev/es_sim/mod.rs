//! A local Elasticsearch 8 / OpenSearch 2 cluster simulator (one node, one shard per index), served
//! over real HTTP and stateful.
//!
//! No cluster is reachable from catsync's tests, so its search-index client is tested against
//! this. It follows the shared docs' elasticsearch-bulk.md: the root document of each flavour,
//! basic and API-key auth, indices with settings, mappings and aliases, `_bulk` framed and versioned
//! as the servers do it (external versions, `if_seq_no`, delete tombstones kept for
//! `index.gc_deletes` of the simulator's movable clock), per-item errors, near-real-time search
//! (writes become searchable on refresh), a small query language with `terms` aggregations, the
//! request size limit, and faults tests inject: whole-request statuses, slow answers, dropped
//! connections, and per-item rejections and mapping errors in the next bulk.
//!
//! The pieces: `api` (routing, parameters, content types, the root document), `auth`
//! (credentials), `errors` (error bodies), `index` (indices, aliases, settings), `mapping` (field
//! types, dynamic mapping, parse errors), `docs` (versioned writes and the one-document APIs),
//! `bulk` (NDJSON and items), `query` (query matching), `search` (`_search`, `_count`, aggregations),
//! `http` (the server, faults, the request log, `filter_path`).

mod api;
mod auth;
mod bulk;
mod docs;
mod errors;
mod http;
mod index;
mod mapping;
mod query;
mod search;

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use serde_json::Value;

pub use crate::dev::server::SimServer;

use index::Index;

/// Which server the simulator answers as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavour {
    /// Elasticsearch 8.19: `X-Elastic-Product` header, API keys, `document_parsing_exception`.
    Elasticsearch,
    /// OpenSearch 2.19: `version.distribution: "opensearch"`, basic auth only, plain-text 401s,
    /// `mapper_parsing_exception`.
    OpenSearch,
}

/// How the simulated cluster is set up.
#[derive(Debug, Clone)]
pub struct EsConfig {
    pub flavour: Flavour,
    /// `http.max_content_length`: larger request bodies get 413.
    pub max_content_length: usize,
}

impl EsConfig {
    /// The servers' defaults (100 MB bodies).
    pub fn new(flavour: Flavour) -> EsConfig {
        EsConfig { flavour, max_content_length: 100 * 1024 * 1024 }
    }
}

/// A whole-request fault: the next request (or the next one whose path contains a given text) meets
/// it. Faults queue up and are used in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// Answer with this status and the server's body for it without doing anything: 429
    /// `es_rejected_execution_exception` (coordinating node), 503 `cluster_block_exception`, 500
    /// `internal_server_error`-like, 502/504 a proxy's HTML page, 413 an empty body.
    Status(u16),
    /// Wait this long, then answer normally.
    Slow(Duration),
    /// Close the connection without any response and without doing anything.
    Drop,
    /// Carry the request out, then close the connection without the response: the "applied but
    /// not acknowledged" case.
    DropAfterApply,
}

/// A per-item fault of `_bulk` (and of the one-document write APIs, for `Unmappable`).
#[derive(Debug, Clone, PartialEq)]
pub enum ItemFault {
    /// The next `count` bulk items fail with this status and nothing is written for them: 429
    /// `es_rejected_execution_exception`, 503 `unavailable_shards_exception`.
    Next { count: u32, status: u16 },
    /// Every write of this document id fails with a 400 parse error, as a value that does not fit
    /// the mapping would, until `clear_item_faults` (a permanent error stays permanent).
    Unmappable(String),
}

/// One request as the simulator saw it, credentials included so tests can assert them.
#[derive(Debug, Clone)]
pub struct LoggedRequest {
    pub method: String,
    /// The path as sent (percent-encoded).
    pub path: String,
    /// The raw query string, without `?`.
    pub query: String,
    /// Request headers (lowercase names), `authorization` included.
    pub headers: Vec<(String, String)>,
    pub content_type: Option<String>,
    pub body: String,
    /// The status answered; 0 when the connection was dropped.
    pub status: u16,
    /// When the request arrived (monotonic clock).
    pub at: Instant,
}

impl LoggedRequest {
    /// The first value of a header (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// A live document as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredDoc {
    pub source: Value,
    pub version: u64,
    pub seq_no: u64,
}

/// The simulator: cheap to clone, every clone shares one state.
#[derive(Clone)]
pub struct EsSim {
    state: Arc<Mutex<State>>,
}

pub(crate) struct State {
    pub config: EsConfig,
    /// Basic-auth users and their passwords; with no user and no key, auth is off.
    pub users: BTreeMap<String, String>,
    /// API key id → key.
    pub api_keys: BTreeMap<String, String>,
    pub indices: BTreeMap<String, Index>,
    /// Faults with the text the request path must contain (`None`: any request).
    pub faults: VecDeque<(Option<String>, Fault)>,
    pub item_faults: Vec<ItemFault>,
    pub log: Vec<LoggedRequest>,
    pub clock_offset: Duration,
    /// Feeds index uuids and generated document ids.
    pub serial: u64,
}

impl State {
    /// The simulator's clock: the monotonic clock plus what `advance_clock` added.
    pub(crate) fn now(&self) -> Instant {
        Instant::now() + self.clock_offset
    }

    pub(crate) fn flavour(&self) -> Flavour {
        self.config.flavour
    }

    /// A fresh 22-character id in the URL-safe base64 alphabet, shaped like the servers' uuids.
    pub(crate) fn next_uuid(&mut self) -> String {
        self.serial += 1;
        let bytes = xxhash_rust::xxh3::xxh3_128(&self.serial.to_le_bytes()).to_be_bytes();
        auth::encode(&bytes).replace('+', "-").replace('/', "_").trim_end_matches('=').to_string()
    }

    /// A document id for a write that has none: 20 URL-safe characters, as the servers generate.
    pub(crate) fn generated_id(&mut self) -> String {
        self.next_uuid().chars().take(20).collect()
    }

    /// The next fault for a request to `path`.
    pub(crate) fn next_fault(&mut self, path: &str) -> Option<Fault> {
        let at = self.faults.iter().position(|(on, _)| on.as_deref().is_none_or(|part| path.contains(part)))?;
        self.faults.remove(at).map(|(_, fault)| fault)
    }
}

impl EsSim {
    /// A simulator of this flavour with the servers' defaults.
    pub fn new(flavour: Flavour) -> EsSim {
        EsSim::with_config(EsConfig::new(flavour))
    }

    pub fn with_config(config: EsConfig) -> EsSim {
        let state = State {
            config,
            users: BTreeMap::new(),
            api_keys: BTreeMap::new(),
            indices: BTreeMap::new(),
            faults: VecDeque::new(),
            item_faults: Vec::new(),
            log: Vec::new(),
            clock_offset: Duration::ZERO,
            serial: 0,
        };
        EsSim { state: Arc::new(Mutex::new(state)) }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Binds `addr` (port 0: any free port) and serves until the returned server is shut down or dropped.
    pub async fn serve(&self, addr: SocketAddr) -> std::io::Result<SimServer> {
        http::serve(self.clone(), addr).await
    }

    /// Serves on a free port of 127.0.0.1.
    pub async fn serve_local(&self) -> std::io::Result<SimServer> {
        self.serve(SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    /// Adds a basic-auth user; from the first user or key on, every request must authenticate.
    pub fn add_user(&self, username: &str, password: &str) {
        self.lock().users.insert(username.to_string(), password.to_string());
    }

    /// Adds an API key and returns its `encoded` form (`base64(id:key)`), what
    /// `Authorization: ApiKey <encoded>` carries. OpenSearch accepts no API keys, so there it only
    /// turns auth on.
    pub fn add_api_key(&self, id: &str, key: &str) -> String {
        self.lock().api_keys.insert(id.to_string(), key.to_string());
        auth::encode(format!("{id}:{key}").as_bytes())
    }

    /// Creates an index as `PUT /{name}` with this body would (settings, mappings, aliases).
    /// The error is the reason the server would answer.
    pub fn create_index(&self, name: &str, body: &Value) -> Result<(), String> {
        let mut state = self.lock();
        index::create(&mut state, name, body).map(|_| ()).map_err(|e| e.reason)
    }

    /// Queues a fault for the next request.
    pub fn inject(&self, fault: Fault) {
        self.lock().faults.push_back((None, fault));
    }

    /// Queues a fault for the next request whose path contains `path_part`, e.g. `"_bulk"`.
    pub fn inject_on(&self, path_part: &str, fault: Fault) {
        self.lock().faults.push_back((Some(path_part.to_string()), fault));
    }

    /// Adds a per-item fault.
    pub fn inject_items(&self, fault: ItemFault) {
        self.lock().item_faults.push(fault);
    }

    pub fn clear_item_faults(&self) {
        self.lock().item_faults.clear();
    }

    /// Every request so far, oldest first.
    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.lock().log.clone()
    }

    pub fn clear_log(&self) {
        self.lock().log.clear();
    }

    /// Moves the simulator's clock (`index.gc_deletes`, `index.refresh_interval`) forward.
    pub fn advance_clock(&self, by: Duration) {
        self.lock().clock_offset += by;
    }

    /// The names of all indices, sorted.
    pub fn indices(&self) -> Vec<String> {
        self.lock().indices.keys().cloned().collect()
    }

    /// The live documents of an index (or of an alias's write index) by id, as a real-time get sees
    /// them; empty when there is no such index.
    pub fn documents(&self, index_or_alias: &str) -> BTreeMap<String, StoredDoc> {
        let state = self.lock();
        let Some(name) = index::write_target(&state, index_or_alias) else { return BTreeMap::new() };
        state.indices[&name].docs.iter().map(|(id, doc)| (id.clone(), doc.stored())).collect()
    }

    /// One live document of an index or of an alias's write index.
    pub fn document(&self, index_or_alias: &str, id: &str) -> Option<StoredDoc> {
        let state = self.lock();
        let name = index::write_target(&state, index_or_alias)?;
        state.indices[&name].docs.get(id).map(|doc| doc.stored())
    }

    /// Every alias with the indices it points at, sorted.
    pub fn aliases(&self) -> BTreeMap<String, Vec<String>> {
        let state = self.lock();
        let mut aliases: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (name, index) in &state.indices {
            for alias in index.aliases.keys() {
                aliases.entry(alias.clone()).or_default().push(name.clone());
            }
        }
        aliases
    }

    /// The index a write through this alias lands in, if it has one.
    pub fn write_index(&self, alias: &str) -> Option<String> {
        let state = self.lock();
        index::write_index_of_alias(&state, alias).ok().flatten()
    }

    /// An index's settings as flat keys, e.g. `index.refresh_interval` → `"-1"` (lists as JSON arrays).
    pub fn settings(&self, index: &str) -> Option<BTreeMap<String, Value>> {
        self.lock().indices.get(index).map(|i| i.settings.clone())
    }

    /// An index's mappings, dynamic additions included.
    pub fn mapping(&self, index: &str) -> Option<Value> {
        self.lock().indices.get(index).map(|i| i.mappings.clone())
    }
}
