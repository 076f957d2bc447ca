//! The Elasticsearch 8 / OpenSearch 2 backend of `SearchIndex`, over plain HTTP(S) with reqwest
//! (elasticsearch-bulk.md is the reference): `client` (auth, CA, retries, server detection),
//! `mapping` (the index definition and the stored document), `bulk` (versioned NDJSON writes read
//! item by item), `rebuild` (a new concrete index swapped in under the alias), `query` (searches
//! and facets).
//!
//! The configured index name is an alias; catsync owns the concrete indices behind it, named
//! `<alias>-<UTC time with milliseconds>-<4 hex digits>`. The first `connect` to a cluster without
//! the alias creates the first of them. Every write is a whole document (`index`) or a `delete`
//! carrying the document's version as an external version — never a partial `_update`, which cannot
//! carry one and would bump the internal version.

mod bulk;
mod client;
mod mapping;
mod query;
mod rebuild;

use std::sync::Arc;

use reqwest::Method;
use serde_json::Value;
use uuid::Uuid;

pub use bulk::BulkLimits;
pub use client::{Product, RetryPolicy, ServerInfo};

use crate::search::{
    ApplyReport, DocumentChange, IndexRebuild, ProductDocument, SearchError, SearchIndex, SearchQuery, SearchResults,
    SearchSettings,
};
use bulk::BulkTarget;
use client::{Body, Client};

/// How the backend writes and retries; `Default` is what `search::open` uses.
#[derive(Debug, Clone, Default)]
pub struct EsOptions {
    pub retry: RetryPolicy,
    pub bulk: BulkLimits,
}

/// An index on an Elasticsearch or OpenSearch cluster, reached through its alias.
pub struct ElasticIndex {
    cluster: Arc<Cluster>,
}

/// What the index, its rebuilds and their requests share.
pub(crate) struct Cluster {
    client: Client,
    alias: String,
    server: ServerInfo,
    limits: BulkLimits,
}

/// Identifies the server, refuses unsupported ones, and creates the first concrete index and the
/// alias when the cluster has no alias of that name yet.
pub async fn connect(settings: &SearchSettings, options: EsOptions) -> Result<ElasticIndex, SearchError> {
    let client = Client::new(settings, options.retry)?;
    check_alias_name(&settings.index).map_err(|reason| SearchError::Index { location: client.shown(), reason })?;
    let server = client.identify().await?;
    let cluster = Cluster { client, alias: settings.index.clone(), server, limits: options.bulk };
    cluster.ensure_alias().await?;
    Ok(ElasticIndex { cluster: Arc::new(cluster) })
}

impl ElasticIndex {
    /// The server as detected from `GET /`.
    pub fn server(&self) -> &ServerInfo {
        &self.cluster.server
    }
}

impl Cluster {
    fn location(&self) -> String {
        format!("{}/{}", self.client.shown(), self.alias)
    }

    /// A bulk writer into `index` (the alias, or a concrete index being rebuilt).
    fn bulk<'a>(&'a self, index: &str) -> BulkTarget<'a> {
        let through_alias = index == self.alias;
        BulkTarget::new(&self.client, index, through_alias, self.server.hides_source_on_error(), &self.limits)
    }

    /// The concrete indices the alias points at (none when it does not exist).
    async fn live_indices(&self) -> Result<Vec<String>, SearchError> {
        let path = format!("/_alias/{}", self.alias);
        let answer = self.client.send(Method::GET, &path, &Body::Empty).await?;
        match answer.status {
            404 => Ok(Vec::new()),
            _ if answer.is_success() => {
                let map: serde_json::Map<String, Value> = serde_json::from_slice(&answer.body).unwrap_or_default();
                Ok(map.into_iter().map(|(name, _)| name).collect())
            }
            _ => Err(self.client.refused(&Method::GET, &path, &answer)),
        }
    }

    async fn ensure_alias(&self) -> Result<(), SearchError> {
        if !self.live_indices().await?.is_empty() {
            return Ok(());
        }
        let clash = self.client.send(Method::HEAD, &format!("/{}", self.alias), &Body::Empty).await?;
        if clash.is_success() {
            return Err(SearchError::Index {
                location: self.location(),
                reason: format!(
                    "an index named {:?} exists, but catsync needs that name for an alias over its own indices: \
                     choose another [search] index, or delete that index",
                    self.alias
                ),
            });
        }
        self.create_index(&mapping::index_body(Some(&self.alias), false)).await.map(drop)
    }

    /// Creates a concrete index with a fresh name; returns the name.
    async fn create_index(&self, body: &Value) -> Result<String, SearchError> {
        let name = rebuild::new_index_name(&self.alias);
        self.client.json(Method::PUT, &format!("/{name}"), &Body::Json(body.clone())).await?;
        Ok(name)
    }
}

#[async_trait::async_trait]
impl SearchIndex for ElasticIndex {
    fn location(&self) -> String {
        self.cluster.location()
    }

    async fn apply(&self, changes: Vec<DocumentChange>) -> Result<ApplyReport, SearchError> {
        self.cluster.bulk(&self.cluster.alias).write(changes).await
    }

    async fn begin_rebuild(&self) -> Result<Box<dyn IndexRebuild>, SearchError> {
        rebuild::begin(self.cluster.clone()).await
    }

    async fn search(&self, query: &SearchQuery) -> Result<SearchResults, SearchError> {
        let path = format!("/{}/_search", self.cluster.alias);
        let body = Body::Json(query::search_body(query));
        let answer = self.cluster.client.json(Method::POST, &path, &body).await?;
        query::results(&answer, &self.location())
    }

    async fn count(&self) -> Result<u64, SearchError> {
        let client = &self.cluster.client;
        let alias = &self.cluster.alias;
        client.json(Method::POST, &format!("/{alias}/_refresh"), &Body::Empty).await?;
        let answer = client.json(Method::GET, &format!("/{alias}/_count"), &Body::Empty).await?;
        answer["count"].as_u64().ok_or_else(|| SearchError::Server {
            location: client.describe(&Method::GET, &format!("/{alias}/_count")),
            reason: "the answer has no count".into(),
            retryable: false,
        })
    }

    async fn document(&self, id: Uuid) -> Result<Option<ProductDocument>, SearchError> {
        let path = format!("/{}/_doc/{id}", self.cluster.alias);
        let client = &self.cluster.client;
        let answer = client.send(Method::GET, &path, &Body::Empty).await?;
        if answer.status == 404 {
            return Ok(None);
        }
        if !answer.is_success() {
            return Err(client.refused(&Method::GET, &path, &answer));
        }
        let found: Value = serde_json::from_slice(&answer.body).unwrap_or_default();
        query::stored_document(&found["_source"], &self.location()).map(Some)
    }
}

/// The index-name rules (elasticsearch-bulk.md §2), with room for the suffix of concrete names.
fn check_alias_name(alias: &str) -> Result<(), String> {
    let problem = if alias.is_empty() {
        Some("is empty")
    } else if alias.len() > 200 {
        Some("is longer than 200 bytes")
    } else if alias.chars().any(|c| c.is_uppercase()) {
        Some("has capital letters")
    } else if alias.chars().any(|c| "\\/*?\"<>|,# :".contains(c)) {
        Some("contains one of \\ / * ? \" < > | , # : or a space")
    } else if alias.starts_with(['-', '_', '+']) {
        Some("starts with -, _ or +")
    } else {
        None
    };
    match problem {
        Some(problem) => Err(format!("[search] index {alias:?} {problem}; Elasticsearch index names cannot")),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::check_alias_name;

    #[test]
    fn alias_names_follow_the_index_name_rules() {
        assert!(check_alias_name("products").is_ok());
        assert!(check_alias_name("catalog_v2.products").is_ok());
        for bad in ["", "Products", "a/b", "_hidden", "two words"] {
            assert!(check_alias_name(bad).is_err(), "{bad:?}");
        }
    }
}
