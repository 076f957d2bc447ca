//! Elasticsearch/OpenSearch indices for tests: the simulator over real HTTP in either flavour, or a
//! real cluster when `CATSYNC_TEST_ES` names one (`CATSYNC_TEST_ES_USER`, `CATSYNC_TEST_ES_PASSWORD`
//! and `CATSYNC_TEST_ES_CA` optional), each opened with quick retries. A shared conformance suite
//! can add an Elasticsearch arm with `EsTarget::simulated(Flavour::Elasticsearch).await.dyn_index()`.

use std::sync::Arc;
use std::time::Duration;

use catsync::config::Secret;
use catsync::dev::es_sim::{EsSim, Flavour, SimServer};
use catsync::search::elasticsearch::{self, ElasticIndex, EsOptions, RetryPolicy};
use catsync::search::{SearchIndex, SearchSettings};
use serde_json::Value;

pub const REAL_CLUSTER: &str = "CATSYNC_TEST_ES";

/// Retries in milliseconds, so tests that meet faults stay fast.
pub fn quick_options() -> EsOptions {
    let retry = RetryPolicy {
        attempts: 5,
        first_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(50),
        request_timeout: Duration::from_secs(30),
    };
    EsOptions { retry, ..EsOptions::default() }
}

/// Settings for an index named `alias` at `url`, without credentials.
pub fn settings(url: &str, alias: &str) -> SearchSettings {
    SearchSettings {
        url: url.to_string(),
        index: alias.to_string(),
        username: None,
        password: None,
        api_key: None,
        ca_file: None,
    }
}

/// An opened index and what keeps its cluster reachable; tests end with `cleanup`.
pub struct EsTarget {
    pub index: Arc<ElasticIndex>,
    pub settings: SearchSettings,
    /// The simulator, for faults and the request log; `None` on a real cluster.
    pub sim: Option<EsSim>,
    server: Option<SimServer>,
    http: reqwest::Client,
}

impl EsTarget {
    /// A fresh simulator of this flavour, served on a free local port.
    pub async fn serve(flavour: Flavour) -> (EsSim, SimServer) {
        let sim = EsSim::new(flavour);
        let server = sim.serve_local().await.expect("the simulator binds a local port");
        (sim, server)
    }

    /// An index on a fresh simulator, under the alias `products`.
    pub async fn simulated(flavour: Flavour) -> EsTarget {
        let (sim, server) = EsTarget::serve(flavour).await;
        let settings = settings(&server.url(), "products");
        let index = elasticsearch::connect(&settings, quick_options()).await.expect("the simulator is supported");
        EsTarget {
            index: Arc::new(index),
            settings,
            sim: Some(sim),
            server: Some(server),
            http: reqwest::Client::new(),
        }
    }

    /// An index under a fresh alias on the cluster `CATSYNC_TEST_ES` names; `None` (said loudly)
    /// when the variable is unset.
    pub async fn real() -> Option<EsTarget> {
        let Ok(url) = std::env::var(REAL_CLUSTER) else {
            eprintln!("SKIPPED: set {REAL_CLUSTER} to an Elasticsearch 8 / OpenSearch 2 URL to run this test on a real cluster");
            return None;
        };
        let mut settings = settings(&url, &format!("catsync-test-{:08x}", fastrand::u32(..)));
        settings.username = std::env::var("CATSYNC_TEST_ES_USER").ok();
        settings.password = std::env::var("CATSYNC_TEST_ES_PASSWORD").ok().map(Secret::new);
        settings.ca_file = std::env::var("CATSYNC_TEST_ES_CA").ok().map(Into::into);
        let index = elasticsearch::connect(&settings, quick_options()).await.expect("the test cluster is reachable");
        let mut http = reqwest::Client::builder();
        if let Some(ca) = &settings.ca_file {
            let pem = std::fs::read(ca).expect("CATSYNC_TEST_ES_CA is readable");
            http = http.add_root_certificate(reqwest::Certificate::from_pem(&pem).expect("a PEM certificate"));
        }
        let http = http.build().unwrap();
        Some(EsTarget { index: Arc::new(index), settings, sim: None, server: None, http })
    }

    pub fn dyn_index(&self) -> Arc<dyn SearchIndex> {
        self.index.clone()
    }

    pub fn alias(&self) -> &str {
        &self.settings.index
    }

    /// A request straight to the cluster (with the test's credentials): status and JSON answer.
    pub async fn call(&self, method: reqwest::Method, path: &str) -> (u16, Value) {
        let mut request = self.http.request(method, format!("{}{path}", self.settings.url.trim_end_matches('/')));
        if let (Some(user), Some(password)) = (&self.settings.username, &self.settings.password) {
            request = request.basic_auth(user, Some(password.expose()));
        }
        let response = request.send().await.expect("the cluster answers");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// The concrete indices the alias points at, sorted.
    pub async fn alias_indices(&self) -> Vec<String> {
        let (_, body) = self.call(reqwest::Method::GET, &format!("/_alias/{}", self.alias())).await;
        sorted_keys(&body)
    }

    /// Every index named after the alias, sorted.
    pub async fn indices(&self) -> Vec<String> {
        let (_, body) = self.call(reqwest::Method::GET, &format!("/{}-*/_alias", self.alias())).await;
        sorted_keys(&body)
    }

    /// Deletes what the test created on a real cluster; the simulator just stops.
    pub async fn cleanup(self) {
        if self.server.is_none() {
            for index in self.indices().await {
                self.call(reqwest::Method::DELETE, &format!("/{index}")).await;
            }
        }
    }
}

fn sorted_keys(body: &Value) -> Vec<String> {
    let mut keys: Vec<String> = body.as_object().map(|o| o.keys().cloned().collect()).unwrap_or_default();
    keys.sort();
    keys
}
