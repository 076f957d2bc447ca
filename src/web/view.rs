//! What each view shows, as plain structs assembled from `Store` queries in one function per view.
//! The terminal (`catsync status`, `catsync runs`), the HTML report, the live pages and the JSON
//! API all render these same structs, so no two of them can disagree. Nothing here knows HTTP.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::catalog::{CatalogRoles, CatalogTable};
use crate::config::CatalogSection;
use crate::control::lease::{job_of_source, Lease};
use crate::control::{now_micros, ErrorFilter, ErrorTally, RunRecord, RunTally, SourceStatus, SyncErrorRecord};
use crate::matching::record::{MatchFilter, MatchQuality, MatchedOffer};
use crate::matching::{Method, ProductText, Status};
use crate::search::indexer::INDEX_SOURCE;
use crate::store::{CatalogRows, Store, StoreError};

/// Error rates above this fraction are worth a look (yellow)…
pub const ERROR_RATE_WARN: f64 = 0.01;
/// …and above this one need fixing (red).
pub const ERROR_RATE_BAD: f64 = 0.05;

/// How worrying an error rate is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Ok,
    Warn,
    Bad,
}

impl Level {
    pub fn of_error_rate(rate: f64) -> Level {
        match rate {
            r if r > ERROR_RATE_BAD => Level::Bad,
            r if r > ERROR_RATE_WARN => Level::Warn,
            _ => Level::Ok,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Level::Ok => "ok",
            Level::Warn => "warn",
            Level::Bad => "bad",
        }
    }
}

/// `catsync status`, `/` and `/api/status`: where every source stands.
#[derive(Debug, Clone, Serialize)]
pub struct StatusView {
    pub store: StoreSummary,
    pub sources: Vec<SourceView>,
    /// Leases held now (not expired), by job.
    pub leases: Vec<Lease>,
    pub index: IndexFreshness,
    pub generated_at: DateTime<Utc>,
}

/// Which store the figures come from; the location never carries a password.
#[derive(Debug, Clone, Serialize)]
pub struct StoreSummary {
    pub backend: &'static str,
    pub location: String,
}

/// One source's row of the status table.
#[derive(Debug, Clone, Serialize)]
pub struct SourceView {
    #[serde(flatten)]
    pub control: SourceStatus,
    /// Errors per record processed (0–1).
    pub error_rate: f64,
    pub error_level: Level,
    pub last_run: Option<RunRecord>,
    /// The lease of the source's job, while a worker holds it.
    pub lease: Option<Lease>,
}

/// How far the search index lags the store.
#[derive(Debug, Clone, Serialize)]
pub struct IndexFreshness {
    /// Outbox entries waiting for the index.
    pub outbox_depth: u64,
    pub oldest_entry_at: Option<DateTime<Utc>>,
    pub oldest_entry_age_seconds: Option<f64>,
    pub last_run: Option<RunRecord>,
}

pub async fn status(store: &dyn Store) -> Result<StatusView, StoreError> {
    let now = now_micros();
    let leases: Vec<Lease> = store.leases().await?.into_iter().filter(|l| l.expires_at > now).collect();
    let mut sources = Vec::new();
    for control in store.sources().await? {
        let last_run = store.runs(Some(&control.source_table), 1).await?.into_iter().next();
        let error_rate = if control.records_processed > 0 {
            control.error_count as f64 / control.records_processed as f64
        } else {
            0.0
        };
        let job = job_of_source(&control.source_table);
        let lease = leases.iter().find(|l| Some(&l.job) == job.as_ref()).cloned();
        sources.push(SourceView {
            control,
            error_rate,
            error_level: Level::of_error_rate(error_rate),
            last_run,
            lease,
        });
    }
    let info = store.info();
    Ok(StatusView {
        store: StoreSummary { backend: info.backend.name(), location: info.location.clone() },
        sources,
        leases,
        index: freshness(store).await?,
        generated_at: now,
    })
}

async fn freshness(store: &dyn Store) -> Result<IndexFreshness, StoreError> {
    let oldest = store.outbox_oldest().await?;
    Ok(IndexFreshness {
        outbox_depth: store.outbox_depth().await?,
        oldest_entry_at: oldest,
        oldest_entry_age_seconds: oldest.map(|t| seconds_between(t, now_micros())),
        last_run: store.runs(Some(INDEX_SOURCE), 1).await?.into_iter().next(),
    })
}

fn seconds_between(from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    (to - from).num_milliseconds().max(0) as f64 / 1000.0
}

/// `catsync runs`, `/runs` and `/api/runs`: the latest runs, newest first.
#[derive(Debug, Clone, Serialize)]
pub struct RunsView {
    pub source: Option<String>,
    pub runs: Vec<RunRecord>,
}

pub async fn runs(store: &dyn Store, source: Option<&str>, limit: u32) -> Result<RunsView, StoreError> {
    Ok(RunsView { source: source.map(str::to_string), runs: store.runs(source, limit).await? })
}

/// `/errors` and `/api/errors`: the filtered errors with their raw records, and the counts by
/// source and type. (A per-row retry action belongs beside each error.)
#[derive(Debug, Clone, Serialize)]
pub struct ErrorsView {
    pub filter: ErrorFilter,
    pub errors: Vec<SyncErrorRecord>,
    pub tallies: Vec<ErrorTally>,
}

pub async fn errors(store: &dyn Store, filter: ErrorFilter) -> Result<ErrorsView, StoreError> {
    Ok(ErrorsView { errors: store.error_records(&filter).await?, tallies: store.error_tallies().await?, filter })
}

/// `catsync matches`, `/matches` and `/api/matches`: distributor products beside their catalog
/// products, with the evidence.
#[derive(Debug, Clone, Serialize)]
pub struct MatchesView {
    pub status: Option<Status>,
    pub matches: Vec<MatchItem>,
}

/// One match: the distributor product beside the catalog product it is (or may be) linked to.
#[derive(Debug, Clone, Serialize)]
pub struct MatchItem {
    pub id: Uuid,
    pub distributor: String,
    pub sku: String,
    pub status: Status,
    pub method: Method,
    pub score: f64,
    pub offer: ProductSide,
    pub product: ProductSide,
    pub product_id: Uuid,
    pub evidence: serde_json::Value,
    pub updated_at: DateTime<Utc>,
    pub decided_at: Option<DateTime<Utc>>,
    pub note: Option<String>,
}

/// What identifies a product to a person comparing two.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ProductSide {
    pub title: String,
    pub brand: String,
    pub mpn: String,
    pub gtin: String,
    pub price: Option<f64>,
}

impl ProductSide {
    fn of(text: &ProductText) -> ProductSide {
        ProductSide {
            title: text.title.clone(),
            brand: text.brand.clone(),
            mpn: text.mpn.clone(),
            gtin: text.gtin.clone(),
            price: text.price,
        }
    }
}

/// The `[catalog]` table as the store has it, with its column roles; `None` before its first sync.
pub async fn catalog(
    store: &dyn Store,
    section: &CatalogSection,
) -> Result<Option<(CatalogTable, CatalogRoles)>, StoreError> {
    let table = store.catalog_table(section.table.get_ref()).await?;
    Ok(table.map(|t| {
        let roles = CatalogRoles::new(section, &t);
        (t, roles)
    }))
}

/// The matches `filter` selects; catalog sides are blank without a catalog.
pub async fn matches(
    store: &dyn Store,
    catalog: Option<&(CatalogTable, CatalogRoles)>,
    filter: &MatchFilter,
) -> Result<MatchesView, StoreError> {
    let found = store.product_matches(filter).await?;
    let mut products = HashMap::new();
    if let Some((table, roles)) = catalog {
        // Only the listed matches' catalog products, not the whole catalog.
        let ids: Vec<Uuid> = found.iter().map(|m| m.product_match.product_id).collect();
        for row in store.catalog_rows(table, &CatalogRows::Ids(ids)).await? {
            products.insert(row.record.id, ProductSide::of(&roles.product_text(&row)));
        }
    }
    let matches = found
        .iter()
        .map(|m| match_item(m, products.get(&m.product_match.product_id).cloned().unwrap_or_default()))
        .collect();
    Ok(MatchesView { status: filter.status, matches })
}

fn match_item(m: &MatchedOffer, product: ProductSide) -> MatchItem {
    let (pm, o) = (&m.product_match, &m.offer);
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    MatchItem {
        id: pm.distributor_product_id,
        distributor: pm.distributor.clone(),
        sku: o.sku.clone(),
        status: pm.status,
        method: pm.method,
        score: pm.score,
        offer: ProductSide {
            title: text(&o.title),
            brand: text(&o.brand),
            mpn: text(&o.mpn),
            gtin: text(&o.gtin),
            price: o.price,
        },
        product,
        product_id: pm.product_id,
        evidence: pm.evidence.clone(),
        updated_at: pm.updated_at,
        decided_at: pm.decided_at,
        note: pm.note.clone(),
    }
}

/// `catsync report --html`: everything above in one document, plus history for the charts.
#[derive(Debug, Clone, Serialize)]
pub struct ReportView {
    pub status: StatusView,
    /// The latest runs, oldest first (the charts' x axis).
    pub history: Vec<RunRecord>,
    pub errors: ErrorsView,
    pub slowest: Vec<RunRecord>,
    pub quality: MatchQuality,
}

/// Runs the report's charts show.
const REPORT_HISTORY: u32 = 500;
/// Recent errors the report quotes with their raw records.
const REPORT_ERRORS: u32 = 20;
/// Slowest runs the report lists.
const REPORT_SLOWEST: u32 = 10;

pub async fn report(store: &dyn Store) -> Result<ReportView, StoreError> {
    let mut history = store.runs(None, REPORT_HISTORY).await?;
    history.reverse();
    Ok(ReportView {
        status: status(store).await?,
        history,
        errors: errors(store, ErrorFilter { limit: REPORT_ERRORS, ..ErrorFilter::default() }).await?,
        slowest: store.slowest_runs(REPORT_SLOWEST).await?,
        quality: store.match_quality().await?,
    })
}

/// `/metrics`: what Prometheus scrapes, read from the store at scrape time because runs happen
/// in other processes.
#[derive(Debug, Clone, Serialize)]
pub struct MetricsView {
    pub status: StatusView,
    pub runs: Vec<RunTally>,
    pub errors: Vec<ErrorTally>,
    pub quality: MatchQuality,
}

pub async fn metrics(store: &dyn Store) -> Result<MetricsView, StoreError> {
    Ok(MetricsView {
        status: status(store).await?,
        runs: store.run_tallies().await?,
        errors: store.error_tallies().await?,
        quality: store.match_quality().await?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_rates_above_one_percent_warn_and_above_five_percent_are_bad() {
        assert_eq!(Level::of_error_rate(0.0), Level::Ok);
        assert_eq!(Level::of_error_rate(0.01), Level::Ok);
        assert_eq!(Level::of_error_rate(0.0101), Level::Warn);
        assert_eq!(Level::of_error_rate(0.05), Level::Warn);
        assert_eq!(Level::of_error_rate(0.0501), Level::Bad);
    }
}
