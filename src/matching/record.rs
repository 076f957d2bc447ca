//! What matching keeps in the store: `product_matches` rows, the decisions people make on them,
//! and the state that makes a rematch incremental. Plain types; `store/` persists them.

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::{Method, Status};
use crate::control::{ControlAdvance, RunRecord};

/// The `sync_runs`/`sync_control` source of matching runs.
pub const MATCHING_SOURCE: &str = "matching";

/// The `id_mappings.target_system` of a distributor SKU's catalog product.
pub const CATALOG_SYSTEM: &str = "catalog";

/// One row of `product_matches`: a distributor product's link (or proposed link) to a catalog product.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProductMatch {
    pub distributor_product_id: Uuid,
    pub distributor: String,
    /// The catalog product (a row id of the `[catalog]` table).
    pub product_id: Uuid,
    /// 0–1.
    pub score: f64,
    pub method: Method,
    pub status: Status,
    /// Which features agreed (`Evidence` as JSON; `{"manual": true}` for a person's link).
    pub evidence: serde_json::Value,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// When a person confirmed or rejected it.
    pub decided_at: Option<DateTime<Utc>>,
    pub note: Option<String>,
}

/// A `product_matches` row reduced to what planning a run needs, read for every row at once.
#[derive(Debug, Clone, PartialEq)]
pub struct MatchLink {
    pub distributor_product_id: Uuid,
    pub distributor: String,
    pub product_id: Uuid,
    pub status: Status,
}

/// An active distributor product as matching reads it.
#[derive(Debug, Clone)]
pub struct MatchableOffer {
    pub id: Uuid,
    pub distributor: String,
    pub sku: String,
    pub gtin: Option<String>,
    pub mpn: Option<String>,
    pub brand: Option<String>,
    pub title: Option<String>,
    pub price: Option<f64>,
    pub content_hash: String,
    /// The content hash it had when it was last matched; `None` if never matched.
    pub matched_hash: Option<String>,
}

/// A `product_matches` row with the distributor product it belongs to.
#[derive(Debug, Clone)]
pub struct MatchedOffer {
    pub product_match: ProductMatch,
    pub offer: MatchableOffer,
}

/// Which `product_matches` rows to list.
#[derive(Debug, Clone, Default)]
pub struct MatchFilter {
    pub status: Option<Status>,
    pub distributor: Option<String>,
    /// Only these distributor products.
    pub ids: Option<Vec<Uuid>>,
    /// Only rows of active distributor products.
    pub active_only: bool,
    pub limit: Option<u32>,
}

/// Everything a matching run changes, committed in one transaction with its run.
#[derive(Debug, Clone)]
pub struct MatchingCommit {
    /// New or changed automatic/review rows. A row a person decided meanwhile is left alone.
    pub upserts: Vec<ProductMatch>,
    /// Distributor products whose automatic or review row goes (no candidate left).
    pub unlinked: Vec<Uuid>,
    /// Distributor products examined, with the content hash they were matched at.
    pub examined: Vec<(Uuid, String)>,
    /// Catalog products (id, content hash) as matched, new or changed since the last run…
    pub catalog_changed: Vec<(Uuid, String)>,
    /// …and those gone from the catalog.
    pub catalog_removed: Vec<Uuid>,
    pub run: RunRecord,
    pub advance: ControlAdvance,
}

/// What a person decides about one distributor product's match.
#[derive(Debug, Clone, PartialEq)]
pub enum MatchDecision {
    /// The proposed link is right (or, with a product, link to that product instead: `manual`).
    Confirm { product: Option<Uuid> },
    /// The proposed link is wrong: the pair is never proposed again.
    Reject,
    /// Forget the decision (rejected pairs stay rejected): the next run matches the product again.
    Reset,
}

impl MatchDecision {
    pub fn name(&self) -> &'static str {
        match self {
            MatchDecision::Confirm { .. } => "confirm",
            MatchDecision::Reject => "reject",
            MatchDecision::Reset => "reset",
        }
    }
}

/// How the matches stand: rows per status and a histogram of their scores.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct MatchQuality {
    /// Rows per status, in `Status` order; a status without rows is absent.
    pub by_status: Vec<(Status, u64)>,
    /// `histogram[i]` counts the rows with a score in [i/10, (i+1)/10); a score of 1 is in the last.
    pub histogram: [u64; SCORE_BUCKETS],
}

/// How many buckets the score histogram has.
pub const SCORE_BUCKETS: usize = 10;
