//! `catsync index`: keeps the search index in step with the store through the outbox.
//!
//! Every store write that changes a document records the rows it changed in `search_outbox` in
//! its own transaction. A run reads a batch of entries, rebuilds the documents they touch from
//! the store as it is now, writes them whole with a fresh version, and deletes the entries only
//! after the index accepted the batch: killed anywhere, the next run sends some documents again,
//! and never misses one. `--full` builds a new index beside the live one, switches atomically, and
//! then acknowledges exactly the entries it had seen before it started reading.
//!
//! Versions come from the clock (microseconds), never below the last one recorded, so each
//! document's versions grow from run to run. One run at a time per index (the scheduler's lease
//! keeps it so); the backends drop a write older than what they hold.

use std::collections::{BTreeSet, HashMap};

use serde::Serialize;
use uuid::Uuid;

use super::document::{catalog_document, unmatched_document};
use super::{ApplyReport, DocumentChange, SearchError, SearchIndex};
use crate::catalog::{CatalogRoles, CatalogTable};
use crate::control::{
    now_micros, ControlAdvance, ErrorType, OutboxEntity, OutboxEntry, RunCounts, RunRecord, RunStatus, SyncErrorRecord,
};
use crate::store::{CatalogRows, DocumentOffer, OfferRows, Store, StoreError};

/// The `sync_runs`/`sync_control` source of index runs.
pub const INDEX_SOURCE: &str = "index";

/// Outbox entries per batch, and catalog products per page of a rebuild.
const BATCH: u32 = 2_000;

/// Distributor products per page of a rebuild: large pages keep the store's round trips few.
const PAGE: u32 = 10_000;

/// The catalog table and its roles; without one, only distributor products are indexed.
#[derive(Clone, Copy)]
pub struct CatalogSource<'a> {
    pub table: &'a CatalogTable,
    pub roles: &'a CatalogRoles,
}

/// What a run did.
#[derive(Debug, Clone, Serialize)]
pub struct IndexReport {
    pub run_id: Uuid,
    pub status: RunStatus,
    pub full: bool,
    /// Outbox entries read and acknowledged.
    pub entries: u64,
    pub upserted: u64,
    pub deleted: u64,
    /// Documents the index refused for good (in `sync_errors`).
    pub failed: u64,
    /// Documents in the index afterwards.
    pub documents: u64,
    pub outbox_left: u64,
    pub seconds: f64,
    pub error: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Search(#[from] SearchError),
}

/// Versions that only grow: the clock, but never at or below the last one handed out.
struct Versions {
    last: i64,
}

impl Versions {
    fn next(&mut self) -> i64 {
        self.last = now_micros().timestamp_micros().max(self.last + 1);
        self.last
    }
}

/// Counts and refused documents of a run so far.
#[derive(Default)]
struct Tally {
    entries: u64,
    upserted: u64,
    deleted: u64,
    errors: Vec<SyncErrorRecord>,
}

impl Tally {
    fn add(&mut self, run: &RunRecord, changes: &[DocumentChange], applied: ApplyReport) {
        for change in changes {
            match change {
                DocumentChange::Upsert(_) => self.upserted += 1,
                DocumentChange::Delete { .. } => self.deleted += 1,
            }
        }
        self.refused(run, applied);
    }

    fn refused(&mut self, run: &RunRecord, applied: ApplyReport) {
        self.errors.extend(applied.failed.into_iter().map(|f| refused(run, f.id, &f.reason)));
    }
}

fn refused(run: &RunRecord, id: Uuid, reason: &str) -> SyncErrorRecord {
    SyncErrorRecord {
        id: Uuid::new_v4(),
        run_id: run.id,
        source_table: INDEX_SOURCE.into(),
        record_id: Some(id.to_string()),
        error_type: ErrorType::Rejected,
        error_message: format!("the search index refused document {id}: {reason}"),
        record_data: serde_json::json!({ "document": id }),
        created_at: now_micros(),
        resolved: false,
        resolved_at: None,
        resolution_notes: None,
    }
}

/// One index run in progress: where it reads and writes, and what it did so far.
struct Job<'a> {
    store: &'a dyn Store,
    index: &'a dyn SearchIndex,
    catalog: Option<CatalogSource<'a>>,
    versions: Versions,
    run: RunRecord,
    tally: Tally,
}

/// Runs one index run (incremental, or `full`) and records it.
pub async fn run_index(
    store: &dyn Store,
    index: &dyn SearchIndex,
    catalog: Option<CatalogSource<'_>>,
    full: bool,
) -> Result<IndexReport, IndexError> {
    let run = RunRecord::start(INDEX_SOURCE);
    store.start_run(&run).await?;
    let versions = Versions { last: last_version(store).await? };
    let mut job = Job { store, index, catalog, versions, run, tally: Tally::default() };
    let result = async {
        if full {
            job.rebuild().await?;
        }
        job.drain().await
    }
    .await;
    let Job { mut run, tally, versions, .. } = job;
    run.counts = RunCounts {
        read: tally.entries,
        inserted: tally.upserted,
        deactivated: tally.deleted,
        rejected: tally.errors.len() as u64,
        ..RunCounts::default()
    };
    let failed = tally.errors.len() as u64;
    let (status, error) = match &result {
        Ok(()) => (RunStatus::Succeeded, None),
        Err(e) => (RunStatus::Failed, Some(e.to_string())),
    };
    run.finish(status, error.clone());
    let advance = result.is_ok().then(|| ControlAdvance {
        watermark: Some(serde_json::json!({ "version": versions.last }).to_string()),
        metrics: serde_json::json!({ "upserted": tally.upserted, "deleted": tally.deleted, "failed": failed }),
    });
    store.finish_run(&run, tally.errors, advance).await?;
    result?;
    Ok(IndexReport {
        run_id: run.id,
        status,
        full,
        entries: tally.entries,
        upserted: tally.upserted,
        deleted: tally.deleted,
        failed,
        documents: index.count().await?,
        outbox_left: store.outbox_depth().await?,
        seconds: run.elapsed_seconds,
        error,
    })
}

/// The last version a run recorded (0 before the first).
async fn last_version(store: &dyn Store) -> Result<i64, StoreError> {
    let watermark = store.source_status(INDEX_SOURCE).await?.and_then(|s| s.watermark);
    let parsed = watermark.and_then(|w| serde_json::from_str::<serde_json::Value>(&w).ok());
    Ok(parsed.and_then(|w| w["version"].as_i64()).unwrap_or(0))
}

impl Job<'_> {
    /// Sends the documents of the outbox's entries, batch by batch, acknowledging each batch once
    /// the index accepted it.
    async fn drain(&mut self) -> Result<(), IndexError> {
        loop {
            let entries = self.store.search_outbox(BATCH).await?;
            if entries.is_empty() {
                return Ok(());
            }
            let changes = self.changes_for(&entries).await?;
            let applied = self.index.apply(changes.clone()).await?;
            self.tally.add(&self.run, &changes, applied);
            let ids: Vec<i64> = entries.iter().map(|e| e.id).collect();
            self.store.acknowledge_outbox(&ids, None).await?;
            self.tally.entries += ids.len() as u64;
        }
    }

    /// The documents the entries touch, rebuilt from the store as it is now.
    async fn changes_for(&mut self, entries: &[OutboxEntry]) -> Result<Vec<DocumentChange>, StoreError> {
        let version = self.versions.next();
        let named = |kind: OutboxEntity| -> BTreeSet<Uuid> {
            entries.iter().filter(|e| e.entity == kind).map(|e| e.entity_id).collect()
        };
        let offer_ids = named(OutboxEntity::Offer).into_iter().collect();
        let offers = self.store.document_offers(&OfferRows::Ids(offer_ids)).await?;
        let mut products = named(OutboxEntity::Product);
        products.extend(offers.iter().filter_map(|o| o.linked_product));
        let mut changes: Vec<DocumentChange> = offers.iter().map(|o| offer_change(o, version)).collect();
        if let Some(catalog) = self.catalog {
            let ids = products.into_iter().collect();
            let records = self.store.catalog_rows(catalog.table, &CatalogRows::Ids(ids)).await?;
            let (live, deleted): (Vec<_>, Vec<_>) = records.iter().partition(|r| r.deleted_at.is_none());
            changes.extend(deleted.iter().map(|r| DocumentChange::Delete { id: r.record.id, version }));
            changes.extend(catalog_documents(self.store, catalog, &live, version).await?);
        }
        Ok(changes)
    }

    /// Builds every document into a new index and switches to it, then acknowledges the entries
    /// that were in the outbox before the first page was read (later ones are drained after).
    async fn rebuild(&mut self) -> Result<(), IndexError> {
        let seen: Vec<i64> = self.store.search_outbox(u32::MAX).await?.iter().map(|e| e.id).collect();
        let version = self.versions.next();
        let mut rebuild = self.index.begin_rebuild().await?;
        if let Some(catalog) = self.catalog {
            let mut after = None;
            loop {
                let rows = CatalogRows::LiveAfter { after, limit: BATCH };
                let page = self.store.catalog_rows(catalog.table, &rows).await?;
                let Some(last) = page.last() else { break };
                after = Some(last.record.id);
                let live: Vec<_> = page.iter().collect();
                let changes = catalog_documents(self.store, catalog, &live, version).await?;
                self.write_rebuild(&mut *rebuild, changes).await?;
            }
        }
        // The next page is read while the index writes this one.
        let store = self.store;
        let page_after =
            |after| async move { store.document_offers(&OfferRows::UnlinkedAfter { after, limit: PAGE }).await };
        let mut page = page_after(None).await?;
        while let Some(last) = page.last() {
            let changes = page.iter().map(|o| offer_change(o, version)).collect();
            let (next, written) = tokio::join!(page_after(Some(last.id)), self.write_rebuild(&mut *rebuild, changes));
            written?;
            page = next?;
        }
        rebuild.finish().await?;
        for chunk in seen.chunks(BATCH as usize) {
            self.store.acknowledge_outbox(chunk, None).await?;
        }
        self.tally.entries += seen.len() as u64;
        Ok(())
    }

    /// A rebuild writes only upserts: what is not in the store is simply not in the new index.
    async fn write_rebuild(
        &mut self,
        rebuild: &mut dyn super::IndexRebuild,
        changes: Vec<DocumentChange>,
    ) -> Result<(), IndexError> {
        let documents: Vec<_> = changes
            .into_iter()
            .filter_map(|c| match c {
                DocumentChange::Upsert(d) => Some(d),
                DocumentChange::Delete { .. } => None,
            })
            .collect();
        self.tally.upserted += documents.len() as u64;
        let applied = rebuild.write(documents).await?;
        self.tally.refused(&self.run, applied);
        Ok(())
    }
}

/// An offer has its own document only while it is active and linked to no catalog product.
fn offer_change(o: &DocumentOffer, version: i64) -> DocumentChange {
    if o.active && o.linked_product.is_none() {
        DocumentChange::Upsert(unmatched_document(o, version))
    } else {
        DocumentChange::Delete { id: o.id, version }
    }
}

/// Documents of live catalog rows, each with its active linked offers.
async fn catalog_documents(
    store: &dyn Store,
    catalog: CatalogSource<'_>,
    live: &[&crate::catalog::StoredCatalogRecord],
    version: i64,
) -> Result<Vec<DocumentChange>, StoreError> {
    let ids: Vec<Uuid> = live.iter().map(|r| r.record.id).collect();
    let linked = if ids.is_empty() { Vec::new() } else { store.document_offers(&OfferRows::LinkedTo(ids)).await? };
    let mut by_product: HashMap<Uuid, Vec<&DocumentOffer>> = HashMap::new();
    for offer in &linked {
        if let Some(product) = offer.linked_product {
            by_product.entry(product).or_default().push(offer);
        }
    }
    Ok(live
        .iter()
        .map(|r| {
            let offers = by_product.get(&r.record.id).map_or(&[][..], Vec::as_slice);
            DocumentChange::Upsert(catalog_document(catalog.table, catalog.roles, r, offers, version))
        })
        .collect())
}
