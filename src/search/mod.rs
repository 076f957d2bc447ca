//! The search index: one `SearchIndex` trait, backends chosen by URL scheme — `tantivy://PATH`
//! (embedded, the default) and `http(s)://` Elasticsearch 8 / OpenSearch 2.
//!
//! Documents are built from the store (`document`) and written whole, each with a version that
//! only grows (`ProductDocument::version`), so a retried or late write never replaces a newer one.
//! Backends never read the store; `catsync index` drains the store's outbox into them.

pub mod document;
pub mod elasticsearch;
pub mod indexer;
mod tantivy;

use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::config::Secret;

/// Index (alias) name when the config names none.
pub const DEFAULT_INDEX: &str = "products";

/// Where the index is and how to reach it: `[search]` resolved with flags and defaults.
#[derive(Debug, Clone)]
pub struct SearchSettings {
    pub url: String,
    pub index: String,
    pub username: Option<String>,
    pub password: Option<Secret>,
    pub api_key: Option<Secret>,
    pub ca_file: Option<PathBuf>,
}

/// Opens the index a URL names: `tantivy://PATH` or `http(s)://…`.
pub async fn open(settings: &SearchSettings) -> Result<Arc<dyn SearchIndex>, SearchError> {
    let scheme = settings.url.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
    match scheme.as_deref() {
        Some("http" | "https") => {
            let index = elasticsearch::connect(settings, elasticsearch::EsOptions::default()).await?;
            Ok(Arc::new(index))
        }
        Some("tantivy") => {
            let path = &settings.url["tantivy://".len()..];
            Ok(Arc::new(self::tantivy::TantivyIndex::open(path.into()).await?))
        }
        _ => Err(SearchError::UnsupportedScheme { url: crate::store::redact_url(&settings.url) }),
    }
}

/// What a document stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DocumentKind {
    /// A catalog product with the offers matched to it.
    Catalog,
    /// A distributor product no catalog product is linked to yet: indexed so that search finds it.
    Unmatched,
}

impl DocumentKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DocumentKind::Catalog => "catalog",
            DocumentKind::Unmatched => "unmatched",
        }
    }
}

/// One distributor's offer of a product.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Offer {
    pub distributor: String,
    pub sku: String,
    pub price: Option<f64>,
    pub quantity: Option<i64>,
}

/// One search document: a catalog product (or an unmatched distributor product) as searched.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProductDocument {
    /// The catalog product's id, or the distributor product's id for `Unmatched`.
    pub id: Uuid,
    /// Grows with every rebuild of the document; backends refuse to replace a newer version.
    pub version: i64,
    pub kind: DocumentKind,
    pub title: String,
    pub brand: Option<String>,
    pub gtin: Option<String>,
    pub mpn: Option<String>,
    pub description: Option<String>,
    /// The catalog's own price, if it has one.
    pub price: Option<f64>,
    /// Every catalog column of the product (or the distributor product's fields), by name.
    pub fields: serde_json::Map<String, serde_json::Value>,
    pub offers: Vec<Offer>,
    /// Lowest offer price (the catalog price when there is no offer price).
    pub lowest_price: Option<f64>,
    /// Sum of the offers' quantities.
    pub total_stock: i64,
    pub offer_count: u32,
}

/// A change to send to the index.
// Upserts are the common case; boxing them would cost an allocation each to save bytes on deletes.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum DocumentChange {
    Upsert(ProductDocument),
    /// The document leaves the index (deleted catalog product, inactive or now-matched offer).
    Delete {
        id: Uuid,
        version: i64,
    },
}

impl DocumentChange {
    pub fn id(&self) -> Uuid {
        match self {
            DocumentChange::Upsert(d) => d.id,
            DocumentChange::Delete { id, .. } => *id,
        }
    }
}

/// What the index did with a batch: every document not listed in `failed` is in the index (or was
/// already there at a newer version, which is as good).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ApplyReport {
    pub accepted: usize,
    /// Documents the index refused for good (a mapping error, say): recorded in `sync_errors`,
    /// not retried forever.
    pub failed: Vec<DocumentFailure>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DocumentFailure {
    pub id: Uuid,
    pub reason: String,
}

/// A search as `catsync search` and the dashboard ask it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SearchQuery {
    /// Words, or an exact GTIN, SKU or MPN (which then ranks first).
    pub text: String,
    pub limit: usize,
    pub brand: Option<String>,
    pub distributor: Option<String>,
    pub in_stock: bool,
    pub min_price: Option<f64>,
    pub max_price: Option<f64>,
}

/// Ranked hits with the total and facet counts.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SearchResults {
    pub total: u64,
    pub results: Vec<SearchHit>,
    pub facets: Facets,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SearchHit {
    pub id: Uuid,
    pub score: f32,
    pub kind: DocumentKind,
    pub title: String,
    pub brand: Option<String>,
    pub gtin: Option<String>,
    pub mpn: Option<String>,
    pub lowest_price: Option<f64>,
    pub total_stock: i64,
    pub offers: Vec<Offer>,
    /// Why it matched, where the backend says so (an exact identifier, the fields that matched).
    pub why: Option<String>,
}

/// Counts of the matching documents by value, most first.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Facets {
    pub brand: Vec<(String, u64)>,
    pub distributor: Vec<(String, u64)>,
}

/// A full rebuild in progress: documents go into a new index that replaces the live one
/// atomically in `finish`; until then searches see the old one. Dropped unfinished, the new
/// index is abandoned and the old one stays.
#[async_trait::async_trait]
pub trait IndexRebuild: Send {
    async fn write(&mut self, documents: Vec<ProductDocument>) -> Result<ApplyReport, SearchError>;

    /// Makes the new index the live one and removes the old.
    async fn finish(self: Box<Self>) -> Result<(), SearchError>;
}

/// The search index seam. Object-safe, used as `Arc<dyn SearchIndex>`.
#[async_trait::async_trait]
pub trait SearchIndex: Send + Sync {
    /// Where the index is, with any secret removed.
    fn location(&self) -> String;

    /// Writes whole documents and deletes, versioned: a change older than what the index holds is
    /// accepted as a no-op. Retries what the backend says is transient; reports permanent failures.
    async fn apply(&self, changes: Vec<DocumentChange>) -> Result<ApplyReport, SearchError>;

    /// Starts a zero-downtime rebuild.
    async fn begin_rebuild(&self) -> Result<Box<dyn IndexRebuild>, SearchError>;

    async fn search(&self, query: &SearchQuery) -> Result<SearchResults, SearchError>;

    /// Documents in the live index (after making recent writes visible).
    async fn count(&self) -> Result<u64, SearchError>;

    /// One document as stored, for tests and `catsync check`.
    async fn document(&self, id: Uuid) -> Result<Option<ProductDocument>, SearchError>;
}

/// Errors of the search seam, written for the person who must fix the setup.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error(
        "unsupported search URL {url:?}: use tantivy://PATH or http(s)://HOST:PORT (Elasticsearch 8, OpenSearch 2)"
    )]
    UnsupportedScheme { url: String },
    #[error("search index at {location}: {reason}")]
    Index { location: String, reason: String },
    #[error("search server at {location} refused the credentials (HTTP {status}): check [search] username/password or api_key")]
    Unauthorized { location: String, status: u16 },
    #[error("search server at {location}: {reason}")]
    Server { location: String, reason: String, retryable: bool },
}
