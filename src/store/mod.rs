//! The central SQL store: one `Store` trait, two backends chosen by URL scheme.
//!
//! `sqlite://PATH` is the embedded default; `postgres://` and `postgresql://` reach PostgreSQL or
//! CockroachDB through one code path that branches on the detected `Dialect` only where the two
//! differ. Each backend owns its SQL and its migrations; nothing outside `store/` writes SQL.

mod catalog;
mod fenced;
mod known;
mod matches;
pub mod postgres;
pub mod sqlite;
mod url;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::catalog::{CatalogLink, CatalogRecord, CatalogTable, StoredCatalogRecord};
use crate::control::lease::{Fence, Lease};
use crate::control::{
    ControlAdvance, ErrorFilter, ErrorResolution, ErrorTally, InboxFile, OutboxEntry, PruneCounts, RunCounts,
    RunRecord, RunTally, SourceStatus, SyncErrorRecord,
};
use crate::matching::record::{
    MatchDecision, MatchFilter, MatchLink, MatchQuality, MatchableOffer, MatchedOffer, MatchingCommit,
};
use crate::product::DistributorProduct;

pub use fenced::FencedStore;
pub use url::redact_url;

/// Schema version this build creates and understands.
pub const SCHEMA_VERSION: i64 = 5;

/// Which database a store talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
    Cockroach,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "SQLite",
            Backend::Postgres => "PostgreSQL",
            Backend::Cockroach => "CockroachDB",
        }
    }
}

/// What `catsync check` and `status` say about the store.
#[derive(Debug, Clone)]
pub struct StoreInfo {
    pub backend: Backend,
    pub server_version: String,
    /// The URL with any password removed.
    pub location: String,
}

/// A distributor product as stored, with its bookkeeping timestamps.
#[derive(Debug, Clone)]
pub struct StoredDistributorProduct {
    pub product: DistributorProduct,
    pub row_version: i64,
    pub first_seen_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// How a feed import ends: what to deactivate and what to record.
#[derive(Debug, Clone)]
pub struct FeedImportEnd {
    /// Full snapshot: SKUs of the distributor missing from the file become inactive.
    pub deactivate_missing: bool,
    pub allow_mass_deactivate: bool,
    /// The run, finished, with `read`, `rejected` and `warnings` filled in; the store adds the rest.
    pub run: RunRecord,
    /// Where `sync_control` moves; `None` for a failed run, whose errors are counted but which
    /// moves no watermark.
    pub advance: Option<ControlAdvance>,
}

/// An import in progress: everything written through it commits together, or not at all.
#[async_trait]
pub trait FeedImport: Send {
    /// Stages products and records row problems. Products may repeat a SKU; the later one wins.
    async fn write(
        &mut self,
        products: Vec<DistributorProduct>,
        problems: Vec<SyncErrorRecord>,
    ) -> Result<(), StoreError>;

    /// Merges, deactivates, records the run and the watermark, and commits — atomically.
    async fn commit(self: Box<Self>, end: FeedImportEnd) -> Result<RunCounts, StoreError>;
}

/// How a catalog sync ends: its last batch, its deletions and its run, committed together.
#[derive(Debug, Clone)]
pub struct CatalogSyncEnd {
    pub records: Vec<CatalogRecord>,
    pub problems: Vec<SyncErrorRecord>,
    /// Airtable ids to soft-delete (`deleted_at`), found missing by a completed reconcile.
    pub delete: Vec<String>,
    /// The run, finished, with `read`, `rejected` and `warnings` filled in; the store adds the rest.
    pub run: RunRecord,
    /// Where `sync_control` moves; `None` for a failed run.
    pub advance: Option<ControlAdvance>,
}

/// A sync of one catalog table in progress. Each `write` commits on its own (a killed sync keeps
/// its finished batches, and rewriting them is a no-op); the watermark moves only in `commit`.
#[async_trait]
pub trait CatalogSync: Send {
    /// Upserts records by id (unchanged content hash: no write; a deleted row comes back), replaces
    /// their link rows, maps new ids in `id_mappings`, and records problems — in one transaction.
    async fn write(&mut self, records: Vec<CatalogRecord>, problems: Vec<SyncErrorRecord>) -> Result<(), StoreError>;

    /// Airtable ids of the rows not deleted.
    async fn live_airtable_ids(&mut self) -> Result<Vec<String>, StoreError>;

    /// Writes the last batch, soft-deletes, records the run and the watermark — in one transaction.
    /// Returns the counts of the whole sync (every `write` included).
    async fn commit(self: Box<Self>, end: CatalogSyncEnd) -> Result<RunCounts, StoreError>;
}

/// The central store. Object-safe, used as `Arc<dyn Store>`.
#[async_trait]
pub trait Store: Send + Sync {
    fn info(&self) -> &StoreInfo;

    /// The schema version recorded in the store.
    async fn schema_version(&self) -> Result<i64, StoreError>;

    /// Records a run as started, in its own transaction, so that a killed run stays visible.
    async fn start_run(&self, run: &RunRecord) -> Result<(), StoreError>;

    /// Records a failed run and its errors (for instance an unreadable file).
    async fn fail_run(&self, run: &RunRecord, errors: Vec<SyncErrorRecord>) -> Result<(), StoreError> {
        self.finish_run(run, errors, None).await
    }

    /// Opens the transaction of a feed import for `distributor`.
    async fn begin_feed_import(&self, distributor: &str, run: &RunRecord) -> Result<Box<dyn FeedImport>, StoreError>;

    async fn sources(&self) -> Result<Vec<SourceStatus>, StoreError>;

    /// One source's `sync_control` row, if it ever ran.
    async fn source_status(&self, source: &str) -> Result<Option<SourceStatus>, StoreError>;

    /// Creates the table of a catalog table and its link tables (`<table>__<column>`), or adds the
    /// columns and link tables the config gained; columns the config dropped are left alone.
    /// Idempotent, and safe to run concurrently with itself. Names are validated again (a bad or
    /// reserved name, or a column whose stored type differs, is `StoreError::CatalogSchema` with
    /// what to change in catsync.toml).
    async fn prepare_catalog_table(&self, table: &CatalogTable) -> Result<(), StoreError>;

    /// A catalog table as the store has it (its mapped columns and their types, in order), for
    /// readers that have no Airtable schema at hand; `None` before its first sync.
    async fn catalog_table(&self, name: &str) -> Result<Option<CatalogTable>, StoreError>;

    /// Starts a sync of a prepared catalog table; `run` was recorded by `start_run`, and `commit`
    /// finishes it.
    async fn begin_catalog_sync(
        &self,
        table: &CatalogTable,
        run: &RunRecord,
    ) -> Result<Box<dyn CatalogSync>, StoreError>;

    /// Every row of a catalog table, deleted ones included, ordered by Airtable id (byte order,
    /// whatever the database's collation).
    async fn catalog_records(&self, table: &CatalogTable) -> Result<Vec<StoredCatalogRecord>, StoreError>;

    /// The link rows of a `links` column, ordered by record id (byte order of the UUID, which is also
    /// the order of its hyphenated text) and position.
    async fn catalog_links(&self, table: &CatalogTable, column: &str) -> Result<Vec<CatalogLink>, StoreError>;

    /// Most recent runs first.
    async fn runs(&self, source: Option<&str>, limit: u32) -> Result<Vec<RunRecord>, StoreError>;

    /// Most recent errors first.
    async fn sync_errors(&self, limit: u32) -> Result<Vec<SyncErrorRecord>, StoreError> {
        self.error_records(&ErrorFilter { limit, ..ErrorFilter::default() }).await
    }

    /// Error counts per source and type (ordered by source, then type).
    async fn error_tallies(&self) -> Result<Vec<ErrorTally>, StoreError>;

    /// Runs summed per source and status (ordered by source, then status).
    async fn run_tallies(&self) -> Result<Vec<RunTally>, StoreError>;

    /// The finished runs that took longest, longest first.
    async fn slowest_runs(&self, limit: u32) -> Result<Vec<RunRecord>, StoreError>;

    /// Match rows per status and the histogram of their scores.
    async fn match_quality(&self) -> Result<MatchQuality, StoreError>;

    /// Every product of a distributor, ordered by SKU.
    async fn distributor_products(&self, distributor: &str) -> Result<Vec<StoredDistributorProduct>, StoreError>;

    /// Active distributor products, in no particular order: all of them, or only those new or
    /// changed since they were last matched.
    async fn matchable_offers(&self, only_changed: bool) -> Result<Vec<MatchableOffer>, StoreError>;

    /// `product_matches` rows with their distributor products, best score first (ties by id).
    async fn product_matches(&self, filter: &MatchFilter) -> Result<Vec<MatchedOffer>, StoreError>;

    /// Every `product_matches` row of an active distributor product, reduced to its link.
    async fn match_links(&self) -> Result<Vec<MatchLink>, StoreError>;

    /// Every (distributor product, catalog product) pair a person rejected.
    async fn match_rejections(&self) -> Result<Vec<(Uuid, Uuid)>, StoreError>;

    /// The catalog products (id, content hash) as the last matching run saw them.
    async fn matched_catalog(&self) -> Result<Vec<(Uuid, String)>, StoreError>;

    /// Writes a matching run: its rows, `id_mappings` of the links, the incremental state, the run
    /// and `sync_control` — in one transaction. Automatic and review rows of distributor products
    /// no longer active go too. Rows a person decided are never changed.
    async fn commit_matching(&self, commit: MatchingCommit) -> Result<RunCounts, StoreError>;

    /// The search outbox's oldest `limit` entries.
    async fn search_outbox(&self, limit: u32) -> Result<Vec<OutboxEntry>, StoreError>;

    /// Deletes outbox entries once the index holds what they announced; with a fence, only while
    /// its lease holds (checked in the same transaction).
    async fn acknowledge_outbox(&self, ids: &[i64], fence: Option<&Fence>) -> Result<(), StoreError>;

    /// How many outbox entries wait for the index.
    async fn outbox_depth(&self) -> Result<u64, StoreError>;

    /// When the oldest entry still waiting for the index was written; `None` when none waits.
    async fn outbox_oldest(&self) -> Result<Option<DateTime<Utc>>, StoreError>;

    /// Rows of a catalog table by id (deleted ones included), or one page of its live rows in id order.
    async fn catalog_rows(
        &self,
        table: &CatalogTable,
        rows: &CatalogRows,
    ) -> Result<Vec<StoredCatalogRecord>, StoreError>;

    /// Distributor products as search documents need them, with their standing link.
    async fn document_offers(&self, rows: &OfferRows) -> Result<Vec<DocumentOffer>, StoreError>;

    /// Records a finished run with its errors; `advance` moves `sync_control` (a succeeded run),
    /// without it the errors count against the source and nothing moves.
    async fn finish_run(
        &self,
        run: &RunRecord,
        errors: Vec<SyncErrorRecord>,
        advance: Option<ControlAdvance>,
    ) -> Result<(), StoreError>;

    /// Applies a person's decision to one distributor product's match (and its `id_mappings`) in
    /// one transaction; `false` when there is nothing to decide (no such match, or for a manual
    /// link no such active distributor product).
    async fn decide_match(&self, id: Uuid, decision: &MatchDecision, note: Option<&str>) -> Result<bool, StoreError>;

    /// Takes the lease of `job` for `holder` for `ttl` (by the database's clock) if nobody holds
    /// it: no row yet, or its lease expired or was released. The token is one more than the
    /// row's last. `None` while another holder's lease runs.
    async fn acquire_lease(&self, job: &str, holder: &str, ttl: Duration) -> Result<Option<Lease>, StoreError>;

    /// Extends a held lease to `ttl` from now; `StoreError::LeaseLost` once it expired or was
    /// taken over.
    async fn renew_lease(&self, lease: &Lease, ttl: Duration) -> Result<Lease, StoreError>;

    /// Ends a held lease now (the row and its token stay); a lease already lost is left alone.
    async fn release_lease(&self, lease: &Lease) -> Result<(), StoreError>;

    /// Every job's lease row, by job.
    async fn leases(&self) -> Result<Vec<Lease>, StoreError>;

    /// Whether `catsync run` already imported this inbox file with this fingerprint.
    async fn inbox_file_imported(&self, file: &InboxFile) -> Result<bool, StoreError>;

    /// Remembers an inbox file imported by run `run_id` (under `fence`, when given).
    async fn record_inbox_file(&self, file: &InboxFile, run_id: Uuid, fence: Option<&Fence>) -> Result<(), StoreError>;

    /// `sync_errors` rows a filter picks, newest first.
    async fn error_records(&self, filter: &ErrorFilter) -> Result<Vec<SyncErrorRecord>, StoreError>;

    /// Marks errors resolved now, each with its note, in one transaction (under `fence`, when given).
    async fn resolve_errors(&self, resolutions: &[ErrorResolution], fence: Option<&Fence>) -> Result<(), StoreError>;

    /// Deletes finished runs that started before `runs_before` (a run with unresolved errors stays)
    /// and resolved errors resolved before `errors_before`. Unresolved errors are never deleted.
    async fn prune(
        &self,
        runs_before: Option<DateTime<Utc>>,
        errors_before: Option<DateTime<Utc>>,
    ) -> Result<PruneCounts, StoreError>;
}

/// Which catalog rows `catalog_rows` reads.
#[derive(Debug, Clone, PartialEq)]
pub enum CatalogRows {
    Ids(Vec<Uuid>),
    /// Live rows with an id above `after`, in id order.
    LiveAfter {
        after: Option<Uuid>,
        limit: u32,
    },
}

/// Which distributor products `document_offers` reads.
#[derive(Debug, Clone, PartialEq)]
pub enum OfferRows {
    /// These, active or not.
    Ids(Vec<Uuid>),
    /// The active ones linked (automatically or confirmed) to these catalog products.
    LinkedTo(Vec<Uuid>),
    /// Active ones with no standing link and an id above `after`, in id order.
    UnlinkedAfter { after: Option<Uuid>, limit: u32 },
}

/// A distributor product as a search document shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct DocumentOffer {
    pub id: Uuid,
    pub distributor: String,
    pub sku: String,
    pub gtin: Option<String>,
    pub mpn: Option<String>,
    pub brand: Option<String>,
    pub title: Option<String>,
    pub description: Option<String>,
    pub price: Option<f64>,
    pub quantity: Option<i64>,
    pub active: bool,
    /// The catalog product it is linked to (auto or confirmed), if any.
    pub linked_product: Option<Uuid>,
}

/// Errors of the store seam; `is_retryable` tells transient conflicts from real failures.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("unsupported store URL {url:?}: use sqlite://PATH, postgres://USER@HOST:PORT/DB or postgresql://… (CockroachDB too)")]
    UnsupportedScheme { url: String },
    #[error("invalid store URL {url:?}: {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error("cannot open the store at {location}: {reason}")]
    Connect { location: String, reason: String },
    #[error("{context}: {reason}")]
    Database { context: String, reason: String, retryable: bool },
    #[error("refusing to deactivate {would} of {active} active products of {distributor} ({percent:.0}%, more than 20%): the file looks truncated or incomplete; nothing was changed. If the distributor really dropped them, re-run with --allow-mass-deactivate")]
    MassDeactivation { distributor: String, would: u64, active: u64, percent: f64 },
    #[error("store table {table:?}: {reason}")]
    CatalogSchema { table: String, reason: String },
    #[error("lease lost: job {job} (token {token}) was taken over by another worker or its lease expired; this write was rolled back and the job stops here (the holder now: see catsync status)")]
    LeaseLost { job: String, token: i64 },
    #[error(
        "the store's schema is at version {found}, newer than this catsync understands ({supported}); upgrade catsync"
    )]
    SchemaTooNew { found: i64, supported: i64 },
}

impl StoreError {
    /// The lease of `fence` is no longer held (its token was taken over).
    pub(crate) fn lease_lost(fence: &Fence) -> StoreError {
        StoreError::LeaseLost { job: fence.job.clone(), token: fence.token }
    }

    /// The outcome of a fence check that rewrote `touched` lease rows: one, or the lease is lost.
    pub(crate) fn fence_checked(fence: &Fence, touched: u64) -> Result<(), StoreError> {
        match touched {
            1 => Ok(()),
            _ => Err(StoreError::lease_lost(fence)),
        }
    }

    /// A serialization conflict or lock timeout: running the same work again may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, StoreError::Database { retryable: true, .. })
    }
}

/// Opens the store a URL names, creating or migrating its schema.
pub async fn open(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    let scheme = url.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
    match scheme.as_deref() {
        Some("sqlite") => Ok(Arc::new(sqlite::SqliteStore::open(url).await?)),
        Some("postgres" | "postgresql") => Ok(Arc::new(postgres::PgStore::open(url).await?)),
        _ => Err(StoreError::UnsupportedScheme { url: redact_url(url) }),
    }
}
