//! A local Airtable Web API simulator (the reading side), served over real HTTP.
//!
//! catsync cannot reach Airtable from its tests, so its Airtable client is tested against this. It
//! answers the routes of the shared docs' airtable-api.md §2 that a reader uses — list records (GET
//! and `POST …/listRecords`), get record, list bases, base schema, whoami — with Airtable's
//! authentication errors, scopes, rate limits and their penalty, the billing-quota switch,
//! iterators that expire, `filterByFormula`, the emptiness rules and computed fields of §6, and
//! injected faults (§13 is the checklist). Tests change the data the way a person in the Airtable UI
//! would, move the clock, and read a log of the requests.
//!
//! The pieces: `base` (the data model and the fixture format), `cells` (values as read), `formula`
//! (filters), `edit` (UI-style edits), `api` (routing, auth, metadata, get record), `list`
//! (listing and iterators), `limits` (rate limits), `http` (the server, faults, the request log).

mod api;
mod base;
mod cells;
mod edit;
mod formula;
mod http;
mod limits;
mod list;

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use chrono::{DateTime, DurationRound, Utc};
use serde_json::{Map, Value};

pub use crate::dev::server::SimServer;

use base::{Base, Ids};
use cells::ReadOptions;
use limits::RateLimits;

/// The bundled sample base (`samples/airtable/catalog-base.json`, written by
/// `samples/make_airtable_base.py`): Brands, Suppliers and 150 Products using every field type.
pub const SAMPLE_BASE: &str = include_str!("../../../samples/airtable/catalog-base.json");

/// The token `catsync dev airtable-sim` accepts unless told otherwise (shaped like a real PAT).
pub const DEV_TOKEN: &str = "patSIMULATOR00001.0000000000000000000000000000000000000000000000000000000000000000";

/// The user behind every simulator token, and the author of edits made through the simulator.
const SIM_USER_ID: &str = "usrSIMULATOR00001";

/// Limits and lifetimes; the defaults are Airtable's.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Requests per second (any sliding one-second window) to one base.
    pub rate_per_base: u32,
    /// Requests per second of one token.
    pub rate_per_token: u32,
    /// How long every request to a base (or of a token) gets 429 once it went over its rate.
    pub penalty: Duration,
    /// How long an unused list iterator (offset) stays valid.
    pub iterator_idle: Duration,
}

impl Default for SimConfig {
    fn default() -> SimConfig {
        SimConfig {
            rate_per_base: 5,
            rate_per_token: 50,
            penalty: Duration::from_secs(30),
            iterator_idle: Duration::from_secs(60),
        }
    }
}

/// A fault the next request meets, whatever its route. Faults queue up and are used in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// Answer with this status and its usual body (503: `RETRIABLE_ERROR`; 502: a non-JSON page;
    /// 500: `SERVER_ERROR`; 429: `RATE_LIMIT_REACHED` without a penalty), with `Retry-After` if given.
    Status { status: u16, retry_after: Option<u32> },
    /// Answer with this status and an HTML body, as a proxy in front of the API would.
    NonJson(u16),
    /// Close the connection without any response.
    Drop,
    /// Wait this long, then answer normally.
    Slow(Duration),
    /// The next n requests answer 429 `RATE_LIMIT_REACHED`, each starting the penalty of its base and
    /// token like a real excess.
    RateLimit(u32),
}

/// One request as the simulator saw it. The `Authorization` header is never kept.
#[derive(Debug, Clone)]
pub struct LoggedRequest {
    pub method: String,
    /// The path as sent (percent-encoded).
    pub path: String,
    /// The raw query string, without `?`.
    pub query: String,
    pub body: String,
    /// Request headers (lowercase names), `authorization` left out.
    pub headers: Vec<(String, String)>,
    /// The status answered; 0 when the connection was dropped.
    pub status: u16,
    /// When the request arrived (monotonic clock).
    pub at: Instant,
    /// When it arrived on the simulator's clock.
    pub time: DateTime<Utc>,
}

/// A mistake in a call to the simulator's own API (fixtures and edits).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SimError {
    #[error("unknown base {0:?}")]
    UnknownBase(String),
    #[error("base {0} is already loaded")]
    DuplicateBase(String),
    #[error("unknown table {table:?} in base {base}")]
    UnknownTable { base: String, table: String },
    #[error("unknown record {record:?} in table {table:?}")]
    UnknownRecord { table: String, record: String },
    #[error("unknown field {field:?} in table {table:?}")]
    UnknownField { table: String, field: String },
    #[error("table {table:?} already has a field named {name:?}")]
    DuplicateField { table: String, name: String },
    #[error("field {field:?} is computed ({kind}); Airtable sets its value")]
    ComputedField { field: String, kind: String },
    #[error("field {field:?} is the primary field of table {table:?} and cannot be removed")]
    PrimaryField { table: String, field: String },
    #[error("invalid value: {0}")]
    InvalidValue(String),
    #[error("invalid field schema: {0}")]
    InvalidField(String),
    #[error("invalid base fixture: {0}")]
    InvalidFixture(String),
}

/// The simulator: cheap to clone, every clone shares one state.
#[derive(Clone)]
pub struct AirtableSim {
    state: Arc<Mutex<State>>,
}

/// What a token may do.
pub(crate) struct Grant {
    pub scopes: Vec<String>,
    /// Base ids it may read; all when `None`.
    pub bases: Option<Vec<String>>,
}

impl Grant {
    pub(crate) fn allows(&self, base: &str) -> bool {
        self.bases.as_ref().is_none_or(|bases| bases.iter().any(|b| b == base))
    }
}

pub(crate) struct State {
    pub config: SimConfig,
    pub bases: Vec<Base>,
    pub tokens: HashMap<String, Grant>,
    pub faults: VecDeque<Fault>,
    pub billing_exhausted: bool,
    pub iterators: HashMap<String, list::ListIterator>,
    pub log: Vec<LoggedRequest>,
    pub clock_offset: chrono::Duration,
    pub ids: Ids,
    pub limits: RateLimits,
}

impl State {
    /// The simulator's clock: real UTC plus the offset `advance_clock` added.
    pub(crate) fn now(&self) -> DateTime<Utc> {
        Utc::now() + self.clock_offset
    }

    /// The clock at whole seconds: the resolution of record timestamps.
    pub(crate) fn now_secs(&self) -> DateTime<Utc> {
        let now = self.now();
        now.duration_trunc(chrono::Duration::seconds(1)).unwrap_or(now)
    }

    /// A base by id, else by name.
    pub(crate) fn base_index(&self, key: &str) -> Option<usize> {
        self.bases.iter().position(|b| b.id == key).or_else(|| self.bases.iter().position(|b| b.name == key))
    }

    /// The next fault, one request's worth of it.
    pub(crate) fn next_fault(&mut self) -> Option<Fault> {
        loop {
            match self.faults.pop_front()? {
                Fault::RateLimit(0) => continue,
                Fault::RateLimit(n) => {
                    if n > 1 {
                        self.faults.push_front(Fault::RateLimit(n - 1));
                    }
                    return Some(Fault::RateLimit(1));
                }
                other => return Some(other),
            }
        }
    }
}

impl AirtableSim {
    pub fn new(config: SimConfig) -> AirtableSim {
        let state = State {
            config,
            bases: Vec::new(),
            tokens: HashMap::new(),
            faults: VecDeque::new(),
            billing_exhausted: false,
            iterators: HashMap::new(),
            log: Vec::new(),
            clock_offset: chrono::Duration::zero(),
            ids: Ids::new(),
            limits: RateLimits::default(),
        };
        AirtableSim { state: Arc::new(Mutex::new(state)) }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Loads a base from fixture JSON (the base schema plus `records` per table); returns its id.
    pub fn load_base(&self, json: &Value) -> Result<String, SimError> {
        let mut state = self.lock();
        let base = Base::from_fixture(json, &mut state.ids)?;
        if state.bases.iter().any(|b| b.id == base.id) {
            return Err(SimError::DuplicateBase(base.id));
        }
        let id = base.id.clone();
        state.bases.push(base);
        Ok(id)
    }

    /// A token that may read the listed bases (`None`: all) with these scopes, e.g.
    /// `data.records:read` and `schema.bases:read`. Adding a token again replaces its grant.
    pub fn add_token(&self, token: &str, scopes: &[&str], bases: Option<&[&str]>) {
        let grant = Grant {
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            bases: bases.map(|b| b.iter().map(|s| s.to_string()).collect()),
        };
        self.lock().tokens.insert(token.to_string(), grant);
    }

    /// Binds `addr` (port 0: any free port) and serves until the returned server is shut down or dropped.
    pub async fn serve(&self, addr: SocketAddr) -> std::io::Result<SimServer> {
        http::serve(self.clone(), addr).await
    }

    /// Creates a record, as a person would in the Airtable UI; returns its id. `table` is a table
    /// name or id, field keys are names or ids.
    pub fn create_record(&self, base: &str, table: &str, fields: Map<String, Value>) -> Result<String, SimError> {
        self.lock().create_record(base, table, fields)
    }

    /// Changes the given cells of a record; a JSON `null` clears a cell.
    pub fn update_record(
        &self,
        base: &str,
        table: &str,
        record: &str,
        fields: Map<String, Value>,
    ) -> Result<(), SimError> {
        self.lock().update_record(base, table, record, fields)
    }

    /// Deletes a record: gone from listings, 404 on get.
    pub fn delete_record(&self, base: &str, table: &str, record: &str) -> Result<(), SimError> {
        self.lock().delete_record(base, table, record)
    }

    /// Brings a deleted record back from the trash, with the same id.
    pub fn restore_record(&self, base: &str, table: &str, record: &str) -> Result<(), SimError> {
        self.lock().restore_record(base, table, record)
    }

    pub fn rename_field(&self, base: &str, table: &str, field: &str, new_name: &str) -> Result<(), SimError> {
        self.lock().rename_field(base, table, field, new_name)
    }

    /// Adds a field from its schema (`name`, `type`, `options`; `id` optional); returns its id. A
    /// link field without `inverseLinkFieldId` gets an inverse field in the linked table, as in the UI.
    pub fn add_field(&self, base: &str, table: &str, field_schema: Value) -> Result<String, SimError> {
        self.lock().add_field(base, table, field_schema)
    }

    pub fn remove_field(&self, base: &str, table: &str, field: &str) -> Result<(), SimError> {
        self.lock().remove_field(base, table, field)
    }

    /// The ids of a table's live records, in creation order; empty for an unknown base or table.
    pub fn record_ids(&self, base: &str, table: &str) -> Vec<String> {
        let state = self.lock();
        let Ok((bi, ti)) = state.locate(base, table) else { return Vec::new() };
        state.bases[bi].tables[ti].records.iter().filter(|r| !r.deleted).map(|r| r.id.clone()).collect()
    }

    /// A live record's fields by name, as a listing would return them (computed fields included,
    /// empty cells left out); `None` for an unknown or deleted record.
    pub fn record(&self, base: &str, table: &str, record: &str) -> Option<Value> {
        let mut state = self.lock();
        let (bi, ti) = state.locate(base, table).ok()?;
        let now = state.now();
        let State { bases, ids, .. } = &mut *state;
        let (base, table) = (&bases[bi], &bases[bi].tables[ti]);
        let rec = table.live_record(record)?;
        let opts = ReadOptions { only: None, by_id: false, comment_count: false };
        Some(cells::fields_json(&cells::RowView { base, table, rec, now }, &opts, ids))
    }

    /// Queues a fault for the next request.
    pub fn inject(&self, fault: Fault) {
        self.lock().faults.push_back(fault);
    }

    /// While on, every authenticated request gets 429 `PUBLIC_API_BILLING_LIMIT_EXCEEDED`.
    pub fn set_billing_exhausted(&self, on: bool) {
        self.lock().billing_exhausted = on;
    }

    /// Ends every list iterator, as a server restart would: their offsets get 422
    /// `LIST_RECORDS_ITERATOR_NOT_AVAILABLE`.
    pub fn expire_iterators(&self) {
        for it in self.lock().iterators.values_mut() {
            it.expired = true;
        }
    }

    /// Every request so far, oldest first.
    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.lock().log.clone()
    }

    pub fn clear_log(&self) {
        self.lock().log.clear();
    }

    /// Moves the simulator's clock (modified times, `Date` headers, `NOW()`) by this much more.
    pub fn advance_clock(&self, by: chrono::Duration) {
        self.lock().clock_offset += by;
    }
}
