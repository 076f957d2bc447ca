//! The HTTP side of the Elasticsearch/OpenSearch backend: one reqwest client carrying the
//! configured credentials and CA, whole requests retried with exponential backoff and full jitter
//! (429, 5xx, timeouts, dropped connections — safe because every request catsync sends is
//! idempotent), every other answer handed back for the caller to read, and the server identified
//! from `GET /` (elasticsearch-bulk.md §1.1).
//!
//! Secrets live only in the `Authorization` header (marked sensitive); errors name the method, the
//! path and the URL with any password redacted, never a header or a request body.

use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use reqwest::Method;
use serde_json::Value;

use crate::config::Secret;
use crate::search::{SearchError, SearchSettings};
use crate::store::redact_url;

/// How requests are retried and how long one may take.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts per request (and per rejected bulk item) before giving up.
    pub attempts: u32,
    pub first_backoff: Duration,
    pub max_backoff: Duration,
    /// Longer than the server's own bulk `timeout` (1 min), so the server gives up first and says why.
    pub request_timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> RetryPolicy {
        RetryPolicy {
            attempts: 8,
            first_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(30),
            request_timeout: Duration::from_secs(120),
        }
    }
}

impl RetryPolicy {
    /// Full jitter: uniform in [0, min(max, first × 2^(attempt-1))), so clients that were refused
    /// together do not come back together.
    pub(crate) fn backoff(&self, attempt: u32) -> Duration {
        let doubled = self.first_backoff.saturating_mul(1 << attempt.saturating_sub(1).min(20));
        doubled.min(self.max_backoff).mul_f64(fastrand::f64())
    }
}

/// The product behind the URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Product {
    Elasticsearch,
    OpenSearch,
}

/// What `GET /` says about the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerInfo {
    pub product: Product,
    /// As reported, e.g. `8.19.3`.
    pub version: String,
    pub major: u32,
    pub minor: u32,
}

impl ServerInfo {
    /// Identifies the server by the rule of elasticsearch-bulk.md §1.1 and refuses the majors
    /// catsync was not written for. `elastic_header`: the answer carried `X-Elastic-Product: Elasticsearch`.
    pub fn identify(root: &Value, elastic_header: bool) -> Result<ServerInfo, String> {
        let version = &root["version"];
        let number = version["number"].as_str().unwrap_or_default().to_string();
        let mut parts = number.split('.').map(|p| p.parse::<u32>().ok());
        let (major, minor) = (parts.next().flatten(), parts.next().flatten());
        let product = if version["distribution"] == "opensearch" {
            Product::OpenSearch
        } else if elastic_header || version.get("build_flavor").is_some() {
            Product::Elasticsearch
        } else if number == "7.10.2" {
            // OpenSearch 2.1+ with `compatibility.override_main_response_version` impersonates
            // 7.10.2 and drops `distribution`; the real major cannot be told, so trust the setting.
            tracing::warn!("the search server reports version 7.10.2 without a distribution: taken for OpenSearch 2 in compatibility mode");
            return Ok(ServerInfo { product: Product::OpenSearch, version: number, major: 2, minor: 0 });
        } else {
            return Err(format!("it answers GET / as neither Elasticsearch nor OpenSearch (version {number:?})"));
        };
        let (Some(major), Some(minor)) = (major, minor) else {
            return Err(format!("it reports an unreadable version {number:?}"));
        };
        let supported = match product {
            Product::Elasticsearch => (8..=9).contains(&major),
            Product::OpenSearch => (2..=3).contains(&major),
        };
        if !supported {
            return Err(format!(
                "it runs {product:?} {number}; catsync supports Elasticsearch 8 and 9 and OpenSearch 2 and 3"
            ));
        }
        Ok(ServerInfo { product, version: number, major, minor })
    }

    /// Elasticsearch 8.18+ can keep document content out of bulk parse errors, so catalog data
    /// never reaches `sync_errors` or logs through a reason.
    pub(crate) fn hides_source_on_error(&self) -> bool {
        self.product == Product::Elasticsearch && (self.major, self.minor) >= (8, 18)
    }
}

/// A request body.
pub(crate) enum Body {
    Empty,
    Json(Value),
    /// `_bulk` lines, every one ending in `\n`.
    Ndjson(Bytes),
}

/// An answer the caller reads: any status but the retried and the refused ones.
pub(crate) struct Answer {
    pub status: u16,
    pub body: Bytes,
    /// `X-Elastic-Product: Elasticsearch` was present.
    pub elastic_header: bool,
}

impl Answer {
    pub(crate) fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// `type: reason` of an error envelope, the flat `error` string, or a short plain-text body.
    pub(crate) fn error_reason(&self) -> String {
        let parsed: Option<Value> = serde_json::from_slice(&self.body).ok();
        match parsed.as_ref().map(|v| &v["error"]) {
            Some(Value::Object(e)) => {
                format!("{}: {}", e["type"].as_str().unwrap_or("error"), e["reason"].as_str().unwrap_or_default())
            }
            Some(Value::String(text)) => text.clone(),
            _ => String::from_utf8_lossy(&self.body).chars().take(200).collect::<String>().trim().to_string(),
        }
    }
}

/// How requests authenticate.
enum Credentials {
    None,
    Basic {
        username: String,
        password: Secret,
    },
    /// The `encoded` form (`base64(id:key)`), sent as is.
    ApiKey(Secret),
}

/// One connection pool to one cluster.
pub(crate) struct Client {
    http: reqwest::Client,
    /// Without a trailing slash.
    base: String,
    credentials: Credentials,
    pub(crate) policy: RetryPolicy,
}

impl Client {
    pub(crate) fn new(settings: &SearchSettings, policy: RetryPolicy) -> Result<Client, SearchError> {
        let shown = redact_url(&settings.url);
        let setup = |reason: String| SearchError::Index { location: shown.clone(), reason };
        let credentials = match (&settings.username, &settings.password, &settings.api_key) {
            (None, None, None) => Credentials::None,
            (None, None, Some(key)) => Credentials::ApiKey(key.clone()),
            (Some(username), Some(password), None) => {
                Credentials::Basic { username: username.clone(), password: password.clone() }
            }
            (_, _, Some(_)) => return Err(setup("[search] sets both api_key and username/password; keep one".into())),
            _ => return Err(setup("[search] username and password go together; set both or neither".into())),
        };
        let mut builder = reqwest::Client::builder()
            .timeout(policy.request_timeout)
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("catsync/", env!("CARGO_PKG_VERSION")));
        if let Some(path) = &settings.ca_file {
            let pem = std::fs::read(path)
                .map_err(|e| setup(format!("cannot read [search] ca_file {}: {e}", path.display())))?;
            let certificate = reqwest::Certificate::from_pem(&pem)
                .map_err(|e| setup(format!("[search] ca_file {} is not a PEM certificate: {e}", path.display())))?;
            builder = builder.add_root_certificate(certificate);
        }
        let http = builder.build().map_err(|e| setup(format!("cannot set up HTTPS: {e}")))?;
        Ok(Client { http, base: settings.url.trim_end_matches('/').to_string(), credentials, policy })
    }

    /// The cluster's URL without its password.
    pub(crate) fn shown(&self) -> String {
        redact_url(&self.base)
    }

    /// How errors name a request: method and path on the redacted URL, never the query string.
    pub(crate) fn describe(&self, method: &Method, path: &str) -> String {
        format!("{method} {}{}", self.shown(), path.split('?').next().unwrap_or_default())
    }

    /// Sends a request, retrying transient failures; 401/403 become `Unauthorized`.
    pub(crate) async fn send(&self, method: Method, path: &str, body: &Body) -> Result<Answer, SearchError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let failure = match self.attempt(method.clone(), path, body).await {
                Ok(answer) if matches!(answer.status, 401 | 403) => {
                    return Err(SearchError::Unauthorized {
                        location: self.describe(&method, path),
                        status: answer.status,
                    })
                }
                Ok(answer) if !matches!(answer.status, 429 | 500 | 502 | 503 | 504) => return Ok(answer),
                Ok(answer) => format!("HTTP {} {}", answer.status, answer.error_reason()),
                Err(network) => network,
            };
            if attempt >= self.policy.attempts {
                return Err(SearchError::Server {
                    location: self.describe(&method, path),
                    reason: format!("gave up after {attempt} attempts: {failure}"),
                    retryable: true,
                });
            }
            let wait = self.policy.backoff(attempt);
            tracing::warn!(request = %self.describe(&method, path), attempt, "{failure}; retrying in {wait:?}");
            tokio::time::sleep(wait).await;
        }
    }

    /// Sends a request that must succeed and reads its JSON answer.
    pub(crate) async fn json(&self, method: Method, path: &str, body: &Body) -> Result<Value, SearchError> {
        let answer = self.send(method.clone(), path, body).await?;
        if !answer.is_success() {
            return Err(self.refused(&method, path, &answer));
        }
        serde_json::from_slice(&answer.body).map_err(|e| SearchError::Server {
            location: self.describe(&method, path),
            reason: format!("unreadable answer: {e}"),
            retryable: false,
        })
    }

    /// The error for an answer the caller cannot use.
    pub(crate) fn refused(&self, method: &Method, path: &str, answer: &Answer) -> SearchError {
        SearchError::Server {
            location: self.describe(method, path),
            reason: format!("HTTP {} {}", answer.status, answer.error_reason()),
            retryable: false,
        }
    }

    /// `GET /`: which server this is, refusing the unsupported.
    pub(crate) async fn identify(&self) -> Result<ServerInfo, SearchError> {
        let answer = self.send(Method::GET, "/", &Body::Empty).await?;
        if !answer.is_success() {
            return Err(self.refused(&Method::GET, "/", &answer));
        }
        let root: Value = serde_json::from_slice(&answer.body).unwrap_or_default();
        ServerInfo::identify(&root, answer.elastic_header).map_err(|reason| SearchError::Index {
            location: self.shown(),
            reason: format!("not a supported search server: {reason}"),
        })
    }

    async fn attempt(&self, method: Method, path: &str, body: &Body) -> Result<Answer, String> {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header(ACCEPT, HeaderValue::from_static("application/json"));
        request = match &self.credentials {
            Credentials::None => request,
            Credentials::Basic { username, password } => request.basic_auth(username, Some(password.expose())),
            Credentials::ApiKey(key) => {
                let mut value = HeaderValue::from_str(&format!("ApiKey {}", key.expose()))
                    .map_err(|_| "the [search] api_key holds characters a header cannot carry".to_string())?;
                value.set_sensitive(true);
                request.header(AUTHORIZATION, value)
            }
        };
        request = match body {
            Body::Empty => request,
            Body::Json(value) => request.header(CONTENT_TYPE, "application/json").body(value.to_string()),
            Body::Ndjson(lines) => request.header(CONTENT_TYPE, "application/x-ndjson").body(lines.clone()),
        };
        let response = request.send().await.map_err(network_failure)?;
        let status = response.status().as_u16();
        let elastic_header =
            response.headers().get("x-elastic-product").is_some_and(|v| v.as_bytes() == b"Elasticsearch");
        let body = response.bytes().await.map_err(network_failure)?;
        Ok(Answer { status, body, elastic_header })
    }
}

/// A network failure with its causes but without the URL reqwest would put in it.
fn network_failure(error: reqwest::Error) -> String {
    let error = error.without_url();
    let mut text = error.to_string();
    let mut cause = std::error::Error::source(&error);
    while let Some(inner) = cause {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        cause = inner.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn servers_are_told_apart_by_the_detection_rule() {
        let os = json!({"version": {"distribution": "opensearch", "number": "2.19.1"}});
        assert_eq!(ServerInfo::identify(&os, false).unwrap().product, Product::OpenSearch);
        let es = json!({"version": {"number": "8.19.3", "build_flavor": "default"}});
        let info = ServerInfo::identify(&es, false).unwrap();
        assert_eq!((info.product, info.major, info.minor), (Product::Elasticsearch, 8, 19));
        assert!(info.hides_source_on_error());
        let header_only = json!({"version": {"number": "9.0.1"}});
        assert_eq!(ServerInfo::identify(&header_only, true).unwrap().product, Product::Elasticsearch);
        let compat = json!({"version": {"number": "7.10.2"}});
        assert_eq!(ServerInfo::identify(&compat, false).unwrap().product, Product::OpenSearch);
    }

    #[test]
    fn unsupported_majors_and_strangers_are_refused() {
        let old = json!({"version": {"number": "7.17.9", "build_flavor": "default"}});
        assert!(ServerInfo::identify(&old, true).unwrap_err().contains("Elasticsearch 7.17.9"));
        let os1 = json!({"version": {"distribution": "opensearch", "number": "1.3.14"}});
        assert!(ServerInfo::identify(&os1, false).is_err());
        assert!(ServerInfo::identify(&json!({"tagline": "hello"}), false).unwrap_err().contains("neither"));
    }

    #[test]
    fn backoff_grows_and_stays_under_the_cap() {
        let policy = RetryPolicy { first_backoff: Duration::from_millis(100), ..RetryPolicy::default() };
        assert!(policy.backoff(1) < Duration::from_millis(100));
        assert!(policy.backoff(30) <= policy.max_backoff);
    }
}
