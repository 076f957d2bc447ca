//! The reading endpoints of airtable-api.md §2 behind one entry point, `State::answer`: routing,
//! then authentication, the billing switch, scopes and base access, rate limits, and the route's
//! own work (metadata and get-record here, listing in `list`). Error bodies are Airtable's (§8.2).

use std::time::Instant;

use percent_encoding::percent_decode_str;
use serde_json::{json, Value};

use super::base::is_id;
use super::cells::{self, ReadOptions, RowView};
use super::limits::Key;
use super::list::{ListParams, QueryMode};
use super::{State, SIM_USER_ID};

/// Every API URL must be shorter than this (§3.1).
const MAX_URL: usize = 16_000;
/// Bases per page of `GET /v0/meta/bases`.
const BASES_PAGE: usize = 1000;
const RECORDS_READ: &str = "data.records:read";
const RECORDS_WRITE: &str = "data.records:write";
const SCHEMA_READ: &str = "schema.bases:read";
const PERMISSIONS_MESSAGE: &str = "Invalid permissions, or the requested model was not found. Check that both your \
user and your token have the required permissions, and that the model names and/or ids are correct.";

/// A request, as far as the API cares.
pub(crate) struct Incoming {
    pub method: String,
    /// Percent-encoded, as sent.
    pub path: String,
    pub query: String,
    pub body: String,
    pub token: Option<String>,
    /// Length of the full URL as the client sent it.
    pub url_len: usize,
}

/// An answer, before it becomes HTTP.
#[derive(Debug)]
pub(crate) struct Reply {
    pub status: u16,
    pub body: ReplyBody,
    pub retry_after: Option<u32>,
}

#[derive(Debug)]
pub(crate) enum ReplyBody {
    Json(Value),
    Html(String),
}

impl Reply {
    pub(crate) fn json(status: u16, body: Value) -> Reply {
        Reply { status, body: ReplyBody::Json(body), retry_after: None }
    }

    /// `{"error": {"type": …, "message": …}}`.
    pub(crate) fn error(status: u16, kind: &str, message: Option<&str>) -> Reply {
        let error = match message {
            Some(m) => json!({ "type": kind, "message": m }),
            None => json!({ "type": kind }),
        };
        Reply::json(status, json!({ "error": error }))
    }

    /// The bare-string form Airtable uses for unknown routes and malformed ids.
    pub(crate) fn not_found() -> Reply {
        Reply::json(404, json!({ "error": "NOT_FOUND" }))
    }

    pub(crate) fn invalid_request() -> Reply {
        Reply::error(
            422,
            "INVALID_REQUEST_UNKNOWN",
            Some("Invalid request: parameter validation failed. Check your request data."),
        )
    }

    pub(crate) fn forbidden() -> Reply {
        Reply::error(403, "INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND", Some(PERMISSIONS_MESSAGE))
    }

    pub(crate) fn rate_limited() -> Reply {
        Reply::error(429, "RATE_LIMIT_REACHED", Some("Rate limit exceeded. Please try again later"))
    }

    /// What a fault `Status { status }` answers: the usual body of that status.
    pub(crate) fn canned(status: u16) -> Reply {
        match status {
            401 => Reply::error(401, "AUTHENTICATION_REQUIRED", Some("Authentication required")),
            403 => Reply::forbidden(),
            404 => Reply::not_found(),
            422 => Reply::invalid_request(),
            429 => Reply::rate_limited(),
            500 => Reply::error(500, "SERVER_ERROR", Some("Try again. If the problem persists, contact support.")),
            502 | 504 => Reply::html(status),
            503 => Reply::error(
                503,
                "RETRIABLE_ERROR",
                Some("Server encountered an error while processing your request, and it is safe to retry the request"),
            ),
            _ => Reply::error(status, "UNEXPECTED_ERROR", None),
        }
    }

    /// A proxy's HTML error page.
    pub(crate) fn html(status: u16) -> Reply {
        let reason =
            axum::http::StatusCode::from_u16(status).ok().and_then(|s| s.canonical_reason()).unwrap_or("Error");
        let page = format!(
            "<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n<center><h1>{status} {reason}</h1></center>\r\n</body>\r\n</html>\r\n"
        );
        Reply { status, body: ReplyBody::Html(page), retry_after: None }
    }
}

enum Route {
    ListBases,
    BaseSchema(String),
    Whoami,
    List {
        base: String,
        table: String,
    },
    ListPost {
        base: String,
        table: String,
    },
    GetRecord {
        base: String,
        table: String,
        record: String,
    },
    /// Creating, updating or deleting records: not simulated.
    Write {
        base: String,
    },
}

impl Route {
    fn parse(method: &str, path: &str) -> Option<Route> {
        let rest = path.strip_prefix("/v0/")?;
        let segments: Vec<String> =
            rest.split('/').map(|s| percent_decode_str(s).decode_utf8_lossy().into_owned()).collect();
        let seg: Vec<&str> = segments.iter().map(String::as_str).collect();
        let route = match (method, seg.as_slice()) {
            ("GET", ["meta", "bases"]) => Route::ListBases,
            ("GET", ["meta", "bases", base, "tables"]) if is_id(base, "app") => Route::BaseSchema(base.to_string()),
            ("GET", ["meta", "whoami"]) => Route::Whoami,
            (_, [base, ..]) if !is_id(base, "app") => return None,
            (_, [_, ""] | [_, _, ""]) => return None,
            ("GET", [base, table]) => Route::List { base: base.to_string(), table: table.to_string() },
            ("POST", [base, table, "listRecords"]) => {
                Route::ListPost { base: base.to_string(), table: table.to_string() }
            }
            ("GET", [base, table, record]) => {
                Route::GetRecord { base: base.to_string(), table: table.to_string(), record: record.to_string() }
            }
            ("POST" | "PATCH" | "PUT" | "DELETE", [base, _] | [base, _, _]) => Route::Write { base: base.to_string() },
            _ => return None,
        };
        Some(route)
    }

    /// The scope it needs, the base it reads, and whether it counts against the base's rate.
    fn needs(&self) -> (Option<&'static str>, Option<&str>, bool) {
        match self {
            Route::ListBases => (Some(SCHEMA_READ), None, false),
            Route::BaseSchema(base) => (Some(SCHEMA_READ), Some(base), false),
            Route::Whoami => (None, None, false),
            Route::List { base, .. } | Route::ListPost { base, .. } | Route::GetRecord { base, .. } => {
                (Some(RECORDS_READ), Some(base), true)
            }
            Route::Write { base } => (Some(RECORDS_WRITE), Some(base), true),
        }
    }
}

impl State {
    /// Answers one request (faults aside).
    pub(crate) fn answer(&mut self, req: &Incoming, at: Instant) -> Reply {
        if req.url_len >= MAX_URL {
            return Reply::error(414, "URI_TOO_LONG", Some("The request URL must be shorter than 16000 characters"));
        }
        let Some(route) = Route::parse(&req.method, &req.path) else { return Reply::not_found() };
        let Some(token) = req.token.as_deref().filter(|t| self.tokens.contains_key(*t)) else {
            return Reply::canned(401);
        };
        if self.billing_exhausted {
            return Reply::error(
                429,
                "PUBLIC_API_BILLING_LIMIT_EXCEEDED",
                Some("You have exceeded the monthly API call limit for this workspace's plan."),
            );
        }
        let grant = &self.tokens[token];
        let (scope, base, per_base) = route.needs();
        if scope.is_some_and(|s| !grant.scopes.iter().any(|g| g == s)) {
            return Reply::forbidden();
        }
        let bi = match base {
            Some(base) => match self.bases.iter().position(|b| b.id == base).filter(|_| grant.allows(base)) {
                Some(bi) => Some(bi),
                None => return Reply::forbidden(),
            },
            None => None,
        };
        let mut keys = vec![(Key::Token(token.to_string()), self.config.rate_per_token)];
        if let (true, Some(base)) = (per_base, base) {
            keys.push((Key::Base(base.to_string()), self.config.rate_per_base));
        }
        if !self.limits.admit(&keys, at, self.config.penalty) {
            return Reply::rate_limited();
        }
        match &route {
            Route::ListBases => self.list_bases(token, &req.query),
            Route::BaseSchema(_) => self.base_schema(bi.unwrap_or_default(), &req.query),
            Route::Whoami => Reply::json(200, json!({ "id": SIM_USER_ID })),
            Route::List { table, .. } => {
                let params = ListParams::from_query(&req.query, QueryMode::List);
                self.list_table(bi.unwrap_or_default(), table, params, at)
            }
            Route::ListPost { table, .. } => {
                let params = ListParams::from_body(&req.body, &req.query);
                self.list_table(bi.unwrap_or_default(), table, params, at)
            }
            Route::GetRecord { table, record, .. } => {
                self.get_record(bi.unwrap_or_default(), table, record, &req.query)
            }
            Route::Write { .. } => Reply::not_found(),
        }
    }

    /// A `Fault::RateLimit`: 429, and the penalty starts for the request's token and base.
    pub(crate) fn trip(&mut self, req: &Incoming, at: Instant) -> Reply {
        let penalty = self.config.penalty;
        if let Some(token) = req.token.as_deref().filter(|t| self.tokens.contains_key(*t)) {
            self.limits.trip(Key::Token(token.to_string()), at, penalty);
        }
        if let Some((_, Some(base), true)) = Route::parse(&req.method, &req.path).as_ref().map(Route::needs) {
            self.limits.trip(Key::Base(base.to_string()), at, penalty);
        }
        Reply::rate_limited()
    }

    fn list_table(&mut self, bi: usize, table: &str, params: Result<ListParams, Reply>, at: Instant) -> Reply {
        let Some(ti) = self.bases[bi].table(table) else { return Reply::forbidden() };
        match params {
            Ok(params) => self.list(bi, ti, params, at),
            Err(reply) => reply,
        }
    }

    fn list_bases(&self, token: &str, query: &str) -> Reply {
        let mut offset = None;
        for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
            match k.as_ref() {
                "offset" if !v.is_empty() => offset = Some(v.into_owned()),
                "offset" => {}
                _ => return Reply::invalid_request(),
            }
        }
        let grant = &self.tokens[token];
        let visible: Vec<_> = self.bases.iter().filter(|b| grant.allows(&b.id)).collect();
        let start = match &offset {
            Some(o) => match visible.iter().position(|b| &b.id == o) {
                Some(i) => i + 1,
                None => return invalid_offset(o),
            },
            None => 0,
        };
        let page: Vec<Value> = visible
            .iter()
            .skip(start)
            .take(BASES_PAGE)
            .map(|b| json!({ "id": b.id, "name": b.name, "permissionLevel": b.permission_level }))
            .collect();
        let mut body = json!({ "bases": page });
        if start + BASES_PAGE < visible.len() {
            body["offset"] = json!(visible[start + BASES_PAGE - 1].id);
        }
        Reply::json(200, body)
    }

    fn base_schema(&self, bi: usize, query: &str) -> Reply {
        let mut visible = false;
        for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
            match (k.as_ref(), v.as_ref()) {
                ("include" | "include[]", "visibleFieldIds") => visible = true,
                _ => return Reply::invalid_request(),
            }
        }
        Reply::json(200, self.bases[bi].schema_json(visible))
    }

    /// One record; a record of another table of the base is found too (§4).
    fn get_record(&mut self, bi: usize, table: &str, record: &str, query: &str) -> Reply {
        let params = match ListParams::from_query(query, QueryMode::Record) {
            Ok(p) => p,
            Err(reply) => return reply,
        };
        let base = &self.bases[bi];
        if base.table(table).is_none() {
            return Reply::forbidden();
        }
        let found = base.tables.iter().find_map(|t| t.live_record(record).map(|r| (t, r)));
        let Some((table, rec)) = found else {
            return Reply::error(404, "MODEL_ID_NOT_FOUND", Some("Record not found"));
        };
        let now = self.now();
        let opts = ReadOptions { only: None, by_id: params.by_id, comment_count: false };
        Reply::json(200, cells::record_json(&RowView { base, table, rec, now }, &opts, &mut self.ids))
    }
}

/// 422 `INVALID_OFFSET_VALUE`.
pub(crate) fn invalid_offset(offset: &str) -> Reply {
    Reply::error(422, "INVALID_OFFSET_VALUE", Some(&format!("The value of offset {offset} is invalid")))
}
