//! The HTTP client of Airtable's Web API: listing pages, the base schema, retries and errors.
//!
//! Every request takes a slot from the shared `RateLimiter` first. A 429 holds the whole base for
//! the penalty Airtable imposes; 5xx answers, timeouts and dropped connections are retried with
//! exponential backoff and full jitter; every other refusal ends the request with an
//! `AirtableError` that says what to fix. The token is only ever in the `Authorization` header.

use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::limiter::RateLimiter;
use super::schema::BaseSchema;
use crate::config::Secret;

/// Airtable refuses URLs from 16,000 characters; longer queries go in a POST body.
const MAX_URL_LEN: usize = 16_000;
/// How long Airtable answers 429 after an excess, per its documentation.
pub const DEFAULT_PENALTY: Duration = Duration::from_secs(30);

/// How the client waits and retries.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts per request for 5xx answers and network failures.
    pub attempts: u32,
    pub first_backoff: Duration,
    pub max_backoff: Duration,
    /// Wait after a 429 before the base is asked again.
    pub penalty: Duration,
    /// 429s one request may meet before the sync gives up.
    pub rate_limited_attempts: u32,
    pub request_timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> RetryPolicy {
        RetryPolicy {
            attempts: 8,
            first_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            penalty: DEFAULT_PENALTY,
            rate_limited_attempts: 10,
            request_timeout: Duration::from_secs(60),
        }
    }
}

/// What went wrong talking to Airtable, worded for the person who must fix it.
#[derive(Debug, thiserror::Error)]
pub enum AirtableError {
    #[error("Airtable refused the token ({failure}) on {request}: set [airtable] token (or AIRTABLE_TOKEN) to a valid personal access token")]
    Unauthorized { request: String, failure: ApiFailure },
    #[error("Airtable denied {request} ({failure}): the token needs the scopes data.records:read and schema.bases:read and access to this base, and the base and table must exist")]
    Forbidden { request: String, failure: ApiFailure },
    #[error("Airtable has no {request} ({failure}): check the base and table ids in the config")]
    NotFound { request: String, failure: ApiFailure },
    #[error("Airtable rejected {request} ({failure}){hint}")]
    Rejected { request: String, failure: ApiFailure, hint: &'static str },
    #[error("the Airtable workspace's monthly API call quota is spent ({failure}); waiting does not help: upgrade the plan or wait for the next month")]
    BillingLimit { failure: ApiFailure },
    #[error("Airtable dropped the listing's iterator ({failure}); the listing must start again")]
    IteratorExpired { failure: ApiFailure },
    #[error("gave up on {request} after {attempts} attempts: {last}")]
    GaveUp { request: String, attempts: u32, last: String },
    #[error("Airtable sent an unreadable answer to {request}: {reason}")]
    Protocol { request: String, reason: String },
}

impl AirtableError {
    pub fn is_expired_iterator(&self) -> bool {
        matches!(self, AirtableError::IteratorExpired { .. })
    }

    /// `422 INVALID_REQUEST_UNKNOWN`: parameter validation failed.
    pub fn is_invalid_request(&self) -> bool {
        matches!(self, AirtableError::Rejected { failure, .. } if failure.is("INVALID_REQUEST_UNKNOWN"))
    }
}

/// An error answer: HTTP status, and the `type` and `message` of the body when it has them.
#[derive(Debug, Clone)]
pub struct ApiFailure {
    pub status: u16,
    pub kind: Option<String>,
    pub message: Option<String>,
}

impl ApiFailure {
    /// Reads both envelope shapes (`{"error": {"type", "message"}}` and `{"error": "NOT_FOUND"}`);
    /// a body that is neither keeps only the status.
    fn parse(status: u16, body: &[u8]) -> ApiFailure {
        let error = serde_json::from_slice::<Value>(body).ok().and_then(|v| v.get("error").cloned());
        let (kind, message) = match error {
            Some(Value::String(kind)) => (Some(kind), None),
            Some(Value::Object(o)) => (
                o.get("type").and_then(Value::as_str).map(str::to_string),
                o.get("message").and_then(Value::as_str).map(str::to_string),
            ),
            _ => (None, None),
        };
        ApiFailure { status, kind, message }
    }

    fn is(&self, kind: &str) -> bool {
        self.kind.as_deref() == Some(kind)
    }
}

impl std::fmt::Display for ApiFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HTTP {}", self.status)?;
        if let Some(kind) = &self.kind {
            write!(f, " {kind}")?;
        }
        if let Some(message) = &self.message {
            write!(f, ": {message}")?;
        }
        Ok(())
    }
}

/// One record as listed, fields keyed by field id.
#[derive(Debug, Clone, Deserialize)]
pub struct RawRecord {
    pub id: String,
    #[serde(rename = "createdTime")]
    pub created_time: String,
    #[serde(default)]
    pub fields: Map<String, Value>,
}

/// One page of a listing, and the server's clock when it answered.
#[derive(Debug)]
pub struct Page {
    pub records: Vec<RawRecord>,
    pub offset: Option<String>,
    /// The `Date` header: Airtable's clock, which incremental watermarks are taken from.
    pub server_time: Option<DateTime<Utc>>,
}

#[derive(Deserialize)]
struct PageBody {
    records: Vec<RawRecord>,
    offset: Option<String>,
}

/// What a listing asks for. The same query is resent with each page's offset.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    /// Field ids; the answer is keyed by them too.
    pub fields: Vec<String>,
    pub filter: Option<String>,
}

/// Counters of what the client did, for run metrics and the benchmark.
#[derive(Debug, Default)]
pub struct ClientStats {
    requests: AtomicU64,
    rate_limited: AtomicU64,
    retries: AtomicU64,
}

/// `ClientStats` at one moment.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct RequestCounts {
    pub requests: u64,
    /// 429 answers met (each paused its base for the penalty).
    pub rate_limited: u64,
    /// Requests sent again after a 429, a 5xx or a network failure.
    pub retries: u64,
}

impl ClientStats {
    pub fn snapshot(&self) -> RequestCounts {
        RequestCounts {
            requests: self.requests.load(Relaxed),
            rate_limited: self.rate_limited.load(Relaxed),
            retries: self.retries.load(Relaxed),
        }
    }
}

/// A client for one token, shared by every table sync of a process.
#[derive(Clone)]
pub struct AirtableClient {
    http: reqwest::Client,
    api_url: String,
    token: Secret,
    limiter: Arc<RateLimiter>,
    policy: RetryPolicy,
    stats: Arc<ClientStats>,
}

impl AirtableClient {
    pub fn new(api_url: &str, token: Secret, policy: RetryPolicy) -> AirtableClient {
        let http = reqwest::Client::builder()
            .timeout(policy.request_timeout)
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("catsync/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("the TLS backend initializes");
        AirtableClient {
            http,
            api_url: api_url.trim_end_matches('/').to_string(),
            token,
            limiter: Arc::new(RateLimiter::default()),
            policy,
            stats: Arc::default(),
        }
    }

    /// What this client (and its clones) sent so far.
    pub fn request_counts(&self) -> RequestCounts {
        self.stats.snapshot()
    }

    /// Tables, fields and views of a base. Paced as a request to the base: whether Airtable counts
    /// metadata calls per base is not documented, and pacing one call costs nothing.
    pub async fn base_schema(&self, base: &str) -> Result<BaseSchema, AirtableError> {
        let path = format!("/v0/meta/bases/{}/tables", encode(base));
        let (body, _) = self.send(base, Method::GET, &path, None).await?;
        parse(&format!("GET {path}"), &body)
    }

    /// One page of records of `table` (id or name) in `base`.
    pub async fn list_page(
        &self,
        base: &str,
        table: &str,
        query: &ListQuery,
        offset: Option<&str>,
    ) -> Result<Page, AirtableError> {
        let path = format!("/v0/{}/{}", encode(base), encode(table));
        let params = query_string(query, offset);
        let (body, server_time) = if self.api_url.len() + path.len() + 1 + params.len() < MAX_URL_LEN {
            self.send(base, Method::GET, &format!("{path}?{params}"), None).await?
        } else {
            let json = post_body(query, offset);
            self.send(base, Method::POST, &format!("{path}/listRecords"), Some(json)).await?
        };
        let page: PageBody = parse(&format!("list {path}"), &body)?;
        Ok(Page { records: page.records, offset: page.offset, server_time })
    }

    /// Sends one request with pacing and retries; returns the body and the `Date` header.
    async fn send(
        &self,
        base: &str,
        method: Method,
        path_and_query: &str,
        body: Option<Value>,
    ) -> Result<(bytes::Bytes, Option<DateTime<Utc>>), AirtableError> {
        // The request as errors name it: no query string (it may hold record data), no token.
        let request = format!("{method} {}", path_and_query.split('?').next().unwrap_or_default());
        let (mut failures, mut rate_limited) = (0u32, 0u32);
        loop {
            self.limiter.acquire(base).await;
            self.stats.requests.fetch_add(1, Relaxed);
            let mut builder = self
                .http
                .request(method.clone(), format!("{}{path_and_query}", self.api_url))
                .bearer_auth(self.token.expose());
            if let Some(body) = &body {
                builder = builder.json(body);
            }
            let outcome = match builder.send().await {
                Ok(response) => self.read(response).await,
                Err(e) => Err(Retry::After(None, describe(&e))),
            };
            match outcome {
                Ok(answer) => return Ok(answer),
                Err(Retry::Fatal(failure)) => return Err(classify(&request, failure)),
                Err(Retry::RateLimited(failure)) => {
                    self.stats.rate_limited.fetch_add(1, Relaxed);
                    rate_limited += 1;
                    if rate_limited > self.policy.rate_limited_attempts {
                        let last = failure.to_string();
                        return Err(AirtableError::GaveUp { request, attempts: rate_limited, last });
                    }
                    self.stats.retries.fetch_add(1, Relaxed);
                    let until = tokio::time::Instant::now() + self.policy.penalty;
                    tracing::warn!(%request, "Airtable answered 429; pausing this base for {:?}", self.policy.penalty);
                    self.limiter.hold(base, until);
                }
                Err(Retry::After(retry_after, last)) => {
                    failures += 1;
                    if failures >= self.policy.attempts {
                        return Err(AirtableError::GaveUp { request, attempts: failures, last });
                    }
                    self.stats.retries.fetch_add(1, Relaxed);
                    // A Retry-After of hours would stall the sync; beyond the penalty, fail and rerun later.
                    let wait = retry_after.map_or_else(|| self.backoff(failures), |w| w.min(self.policy.penalty));
                    tracing::warn!(%request, attempt = failures, "{last}; retrying in {wait:?}");
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    async fn read(&self, response: reqwest::Response) -> Result<(bytes::Bytes, Option<DateTime<Utc>>), Retry> {
        let status = response.status();
        let server_time = response
            .headers()
            .get(reqwest::header::DATE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| DateTime::parse_from_rfc2822(v).ok())
            .map(|t| t.with_timezone(&Utc));
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let body = response.bytes().await.map_err(|e| Retry::After(None, describe(&e)))?;
        if status.is_success() {
            return Ok((body, server_time));
        }
        let failure = ApiFailure::parse(status.as_u16(), &body);
        Err(match status {
            StatusCode::TOO_MANY_REQUESTS if failure.is("PUBLIC_API_BILLING_LIMIT_EXCEEDED") => Retry::Fatal(failure),
            StatusCode::TOO_MANY_REQUESTS => Retry::RateLimited(failure),
            s if s.is_server_error() => Retry::After(retry_after, failure.to_string()),
            _ => Retry::Fatal(failure),
        })
    }

    /// Full jitter: uniform in [0, min(max, first × 2^(n-1))), so retrying clients spread out.
    fn backoff(&self, failures: u32) -> Duration {
        let ceiling = self.policy.first_backoff.saturating_mul(1 << failures.saturating_sub(1).min(16));
        ceiling.min(self.policy.max_backoff).mul_f64(fastrand::f64())
    }
}

enum Retry {
    RateLimited(ApiFailure),
    After(Option<Duration>, String),
    Fatal(ApiFailure),
}

fn classify(request: &str, failure: ApiFailure) -> AirtableError {
    let request = request.to_string();
    if failure.is("LIST_RECORDS_ITERATOR_NOT_AVAILABLE") || failure.is("INVALID_OFFSET_VALUE") {
        return AirtableError::IteratorExpired { failure };
    }
    match failure.status {
        401 => AirtableError::Unauthorized { request, failure },
        403 => AirtableError::Forbidden { request, failure },
        404 => AirtableError::NotFound { request, failure },
        429 => AirtableError::BillingLimit { failure },
        _ => {
            let hint = match failure.kind.as_deref() {
                Some("INVALID_FILTER_BY_FORMULA") => ": a field named in the filter no longer exists; run `catsync check` to see schema drift",
                Some("UNKNOWN_FIELD_NAME") => ": a mapped field no longer exists in Airtable; run `catsync check` and update [airtable.tables.columns]",
                Some(k) if k.starts_with("VIEW_") => ": the view does not exist",
                _ => "",
            };
            AirtableError::Rejected { request, failure, hint }
        }
    }
}

/// A network error without the URL (reqwest puts the whole URL, query included, in its messages).
fn describe(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_body() || e.is_decode() {
        "connection dropped while reading the answer"
    } else {
        "connection failed"
    };
    let mut cause = std::error::Error::source(e);
    let mut detail = String::new();
    while let Some(c) = cause {
        detail = c.to_string();
        cause = c.source();
    }
    if detail.is_empty() {
        kind.to_string()
    } else {
        format!("{kind} ({detail})")
    }
}

fn parse<T: serde::de::DeserializeOwned>(request: &str, body: &[u8]) -> Result<T, AirtableError> {
    serde_json::from_slice(body).map_err(|e| AirtableError::Protocol { request: request.into(), reason: e.to_string() })
}

/// Everything but RFC 3986's unreserved characters: what `encodeURIComponent` leaves alone, less
/// `!'()*`, which Airtable's docs ask to encode in formulas.
const COMPONENT: &percent_encoding::AsciiSet =
    &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

/// Percent-encodes one path segment or query value.
fn encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, COMPONENT).to_string()
}

fn query_string(query: &ListQuery, offset: Option<&str>) -> String {
    let mut params = vec!["pageSize=100".to_string(), "returnFieldsByFieldId=true".to_string()];
    params.extend(query.fields.iter().map(|f| format!("fields%5B%5D={}", encode(f))));
    if let Some(filter) = &query.filter {
        params.push(format!("filterByFormula={}", encode(filter)));
    }
    if let Some(offset) = offset {
        params.push(format!("offset={}", encode(offset)));
    }
    params.join("&")
}

fn post_body(query: &ListQuery, offset: Option<&str>) -> Value {
    let mut body = serde_json::json!({"pageSize": 100, "returnFieldsByFieldId": true, "fields": query.fields});
    if let Some(filter) = &query.filter {
        body["filterByFormula"] = Value::from(filter.as_str());
    }
    if let Some(offset) = offset {
        body["offset"] = Value::from(offset);
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_error_envelopes_are_read() {
        let f = ApiFailure::parse(422, br#"{"error":{"type":"INVALID_FILTER_BY_FORMULA","message":"bad"}}"#);
        assert_eq!((f.kind.as_deref(), f.message.as_deref()), (Some("INVALID_FILTER_BY_FORMULA"), Some("bad")));
        let f = ApiFailure::parse(404, br#"{"error":"NOT_FOUND"}"#);
        assert_eq!((f.kind.as_deref(), f.message), (Some("NOT_FOUND"), None));
        let f = ApiFailure::parse(502, b"<html>Bad gateway</html>");
        assert_eq!(f.to_string(), "HTTP 502");
    }

    #[test]
    fn queries_encode_every_reserved_character() {
        let q = ListQuery { fields: vec!["fldA".into()], filter: Some("{Name}='a b&c'".into()) };
        let s = query_string(&q, Some("itrX/recY"));
        assert!(s.contains("fields%5B%5D=fldA"));
        assert!(s.contains("filterByFormula=%7BName%7D%3D%27a%20b%26c%27"), "{s}");
        assert!(s.ends_with("offset=itrX%2FrecY"));
    }

    #[test]
    fn an_expired_iterator_is_its_own_error() {
        let f = ApiFailure::parse(422, br#"{"error":{"type":"LIST_RECORDS_ITERATOR_NOT_AVAILABLE"}}"#);
        assert!(matches!(classify("GET /v0/x", f), AirtableError::IteratorExpired { .. }));
    }
}
