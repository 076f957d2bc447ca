//! A view of a store whose writes carry the fences of the leases a worker holds.
//!
//! The library's jobs (feed import, catalog sync, matching, indexing) write through `&dyn Store`
//! and know nothing of leases; a worker hands them this view instead, and every run whose source
//! belongs to a held job gets that job's fence, which the store checks in each write's transaction.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{
    CatalogRows, CatalogSync, DocumentOffer, FeedImport, OfferRows, Store, StoreError, StoreInfo,
    StoredDistributorProduct,
};
use crate::catalog::{CatalogLink, CatalogTable, StoredCatalogRecord};
use crate::control::lease::{feed_job, job_of_source, Fence, Lease, INDEX_JOB};
use crate::control::{
    ControlAdvance, ErrorFilter, ErrorResolution, ErrorTally, InboxFile, OutboxEntry, PruneCounts, RunCounts,
    RunRecord, RunTally, SourceStatus, SyncErrorRecord,
};
use crate::matching::record::{
    MatchDecision, MatchFilter, MatchLink, MatchQuality, MatchableOffer, MatchedOffer, MatchingCommit,
};

/// `inner` with the fences of `leases` on every write of their jobs.
pub struct FencedStore {
    inner: Arc<dyn Store>,
    fences: BTreeMap<String, Fence>,
}

impl FencedStore {
    pub fn new(inner: Arc<dyn Store>, leases: &[Lease]) -> FencedStore {
        FencedStore { inner, fences: leases.iter().map(|l| (l.job.clone(), l.fence())).collect() }
    }

    fn fence_of_job(&self, job: &str) -> Option<&Fence> {
        self.fences.get(job)
    }

    /// `run` with the fence of its source's job, when this view holds it.
    fn fenced(&self, run: &RunRecord) -> RunRecord {
        let fence = job_of_source(&run.source).and_then(|job| self.fence_of_job(&job).cloned());
        RunRecord { fence: fence.or_else(|| run.fence.clone()), ..run.clone() }
    }
}

#[async_trait]
impl Store for FencedStore {
    fn info(&self) -> &StoreInfo {
        self.inner.info()
    }

    async fn schema_version(&self) -> Result<i64, StoreError> {
        self.inner.schema_version().await
    }

    async fn start_run(&self, run: &RunRecord) -> Result<(), StoreError> {
        self.inner.start_run(&self.fenced(run)).await
    }

    async fn begin_feed_import(&self, distributor: &str, run: &RunRecord) -> Result<Box<dyn FeedImport>, StoreError> {
        self.inner.begin_feed_import(distributor, &self.fenced(run)).await
    }

    async fn sources(&self) -> Result<Vec<SourceStatus>, StoreError> {
        self.inner.sources().await
    }

    async fn source_status(&self, source: &str) -> Result<Option<SourceStatus>, StoreError> {
        self.inner.source_status(source).await
    }

    async fn prepare_catalog_table(&self, table: &CatalogTable) -> Result<(), StoreError> {
        self.inner.prepare_catalog_table(table).await
    }

    async fn catalog_table(&self, name: &str) -> Result<Option<CatalogTable>, StoreError> {
        self.inner.catalog_table(name).await
    }

    async fn begin_catalog_sync(
        &self,
        table: &CatalogTable,
        run: &RunRecord,
    ) -> Result<Box<dyn CatalogSync>, StoreError> {
        self.inner.begin_catalog_sync(table, &self.fenced(run)).await
    }

    async fn catalog_records(&self, table: &CatalogTable) -> Result<Vec<StoredCatalogRecord>, StoreError> {
        self.inner.catalog_records(table).await
    }

    async fn catalog_links(&self, table: &CatalogTable, column: &str) -> Result<Vec<CatalogLink>, StoreError> {
        self.inner.catalog_links(table, column).await
    }

    async fn runs(&self, source: Option<&str>, limit: u32) -> Result<Vec<RunRecord>, StoreError> {
        self.inner.runs(source, limit).await
    }

    async fn sync_errors(&self, limit: u32) -> Result<Vec<SyncErrorRecord>, StoreError> {
        self.inner.sync_errors(limit).await
    }

    async fn error_tallies(&self) -> Result<Vec<ErrorTally>, StoreError> {
        self.inner.error_tallies().await
    }

    async fn run_tallies(&self) -> Result<Vec<RunTally>, StoreError> {
        self.inner.run_tallies().await
    }

    async fn slowest_runs(&self, limit: u32) -> Result<Vec<RunRecord>, StoreError> {
        self.inner.slowest_runs(limit).await
    }

    async fn match_quality(&self) -> Result<MatchQuality, StoreError> {
        self.inner.match_quality().await
    }

    async fn match_links(&self) -> Result<Vec<MatchLink>, StoreError> {
        self.inner.match_links().await
    }

    async fn outbox_oldest(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.inner.outbox_oldest().await
    }

    async fn distributor_products(&self, distributor: &str) -> Result<Vec<StoredDistributorProduct>, StoreError> {
        self.inner.distributor_products(distributor).await
    }

    async fn matchable_offers(&self, only_changed: bool) -> Result<Vec<MatchableOffer>, StoreError> {
        self.inner.matchable_offers(only_changed).await
    }

    async fn product_matches(&self, filter: &MatchFilter) -> Result<Vec<MatchedOffer>, StoreError> {
        self.inner.product_matches(filter).await
    }

    async fn match_rejections(&self) -> Result<Vec<(Uuid, Uuid)>, StoreError> {
        self.inner.match_rejections().await
    }

    async fn matched_catalog(&self) -> Result<Vec<(Uuid, String)>, StoreError> {
        self.inner.matched_catalog().await
    }

    async fn commit_matching(&self, commit: MatchingCommit) -> Result<RunCounts, StoreError> {
        let run = self.fenced(&commit.run);
        self.inner.commit_matching(MatchingCommit { run, ..commit }).await
    }

    async fn search_outbox(&self, limit: u32) -> Result<Vec<OutboxEntry>, StoreError> {
        self.inner.search_outbox(limit).await
    }

    async fn acknowledge_outbox(&self, ids: &[i64], fence: Option<&Fence>) -> Result<(), StoreError> {
        self.inner.acknowledge_outbox(ids, fence.or(self.fence_of_job(INDEX_JOB))).await
    }

    async fn outbox_depth(&self) -> Result<u64, StoreError> {
        self.inner.outbox_depth().await
    }

    async fn catalog_rows(
        &self,
        table: &CatalogTable,
        rows: &CatalogRows,
    ) -> Result<Vec<StoredCatalogRecord>, StoreError> {
        self.inner.catalog_rows(table, rows).await
    }

    async fn document_offers(&self, rows: &OfferRows) -> Result<Vec<DocumentOffer>, StoreError> {
        self.inner.document_offers(rows).await
    }

    async fn finish_run(
        &self,
        run: &RunRecord,
        errors: Vec<SyncErrorRecord>,
        advance: Option<ControlAdvance>,
    ) -> Result<(), StoreError> {
        self.inner.finish_run(&self.fenced(run), errors, advance).await
    }

    async fn decide_match(&self, id: Uuid, decision: &MatchDecision, note: Option<&str>) -> Result<bool, StoreError> {
        self.inner.decide_match(id, decision, note).await
    }

    async fn acquire_lease(&self, job: &str, holder: &str, ttl: Duration) -> Result<Option<Lease>, StoreError> {
        self.inner.acquire_lease(job, holder, ttl).await
    }

    async fn renew_lease(&self, lease: &Lease, ttl: Duration) -> Result<Lease, StoreError> {
        self.inner.renew_lease(lease, ttl).await
    }

    async fn release_lease(&self, lease: &Lease) -> Result<(), StoreError> {
        self.inner.release_lease(lease).await
    }

    async fn leases(&self) -> Result<Vec<Lease>, StoreError> {
        self.inner.leases().await
    }

    async fn inbox_file_imported(&self, file: &InboxFile) -> Result<bool, StoreError> {
        self.inner.inbox_file_imported(file).await
    }

    async fn record_inbox_file(&self, file: &InboxFile, run_id: Uuid, fence: Option<&Fence>) -> Result<(), StoreError> {
        let fence = fence.or(self.fence_of_job(&feed_job(&file.distributor)));
        self.inner.record_inbox_file(file, run_id, fence).await
    }

    async fn error_records(&self, filter: &ErrorFilter) -> Result<Vec<SyncErrorRecord>, StoreError> {
        self.inner.error_records(filter).await
    }

    async fn resolve_errors(&self, resolutions: &[ErrorResolution], fence: Option<&Fence>) -> Result<(), StoreError> {
        self.inner.resolve_errors(resolutions, fence).await
    }

    async fn prune(
        &self,
        runs_before: Option<DateTime<Utc>>,
        errors_before: Option<DateTime<Utc>>,
    ) -> Result<PruneCounts, StoreError> {
        self.inner.prune(runs_before, errors_before).await
    }
}
