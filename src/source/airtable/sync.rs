//! One table's sync run: list what changed since the watermark, upsert it page by page, find
//! deletions when a reconcile is due, and move the watermark with the last batch.
//!
//! The watermark is Airtable's own clock — the `Date` of the first answer of the listing — minus
//! an overlap, never the local clock after the fetch: a record edited while the listing runs is
//! then listed again next time rather than lost. Upserts compare content hashes, so the records
//! the overlap lists twice cost nothing. Each page commits as it arrives; a killed run leaves its
//! watermark where it was and the rerun lists the same window again.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Duration as TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use uuid::Uuid;

use super::cells::{convert_record, CellProblem};
use super::client::{AirtableClient, AirtableError, ListQuery, Page, RawRecord};
use super::mapping::TableMapping;
use crate::catalog::{catalog_source, CatalogRecord};
use crate::control::{ControlAdvance, ErrorType, RunCounts, RunRecord, RunStatus, SyncErrorRecord};
use crate::store::{CatalogSync, CatalogSyncEnd, Store, StoreError};

/// How far before the last watermark the next listing starts. Covers edits Airtable commits a
/// little after its clock read them, and second-resolution modified times.
const OVERLAP: TimeDelta = TimeDelta::seconds(60);
/// Without a `Date` header the local clock before the listing is used, less this margin for skew.
const LOCAL_CLOCK_MARGIN: TimeDelta = TimeDelta::minutes(5);
/// Listings started over after Airtable dropped their iterator, before the run fails.
const LISTING_RESTARTS: u32 = 3;
/// Pages fetched ahead while the store writes.
const PAGES_AHEAD: usize = 4;
/// A reconcile may delete at most this share of a table without `--allow-mass-delete`.
const MASS_DELETE_SHARE: f64 = 0.20;
/// Record ids per `RECORD_ID()` listing of restored records (the filter goes in a POST body).
const RECORDS_BY_ID: usize = 500;
/// Problems quoted in the report; the rest are in `sync_errors`.
const PROBLEMS_SHOWN: usize = 10;

/// What `catsync sync` was asked to do.
#[derive(Debug, Clone, Copy, Default)]
pub struct SyncOptions {
    /// List every record, not only those modified since the watermark.
    pub full: bool,
    /// Run the deletion check now, whatever `reconcile_every` says.
    pub reconcile: bool,
    pub allow_mass_delete: bool,
}

/// What `sync_control.watermark` holds for an Airtable table.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct AirtableWatermark {
    /// Airtable's clock at the start of the last successful listing.
    modified_since: DateTime<Utc>,
    /// `TableMapping::fingerprint` of that run: a changed mapping means a full sync.
    mapping: String,
    runs_since_reconcile: u32,
    /// Column → field id as last resolved: a field renamed since is still found.
    #[serde(default)]
    fields: BTreeMap<String, String>,
}

/// The field ids the last successful sync of store table `into` resolved (column → field id).
pub async fn remembered_fields(store: &dyn Store, into: &str) -> Result<BTreeMap<String, String>, StoreError> {
    let watermark = store.source_status(&catalog_source(into)).await?.and_then(|s| s.watermark);
    Ok(watermark.and_then(|w| serde_json::from_str::<AirtableWatermark>(&w).ok()).map(|w| w.fields).unwrap_or_default())
}

/// What happened to one table.
#[derive(Debug, Clone, Serialize)]
pub struct TableReport {
    pub table: String,
    pub airtable_table: String,
    pub base: String,
    pub run_id: Uuid,
    pub status: RunStatus,
    /// `full` or `incremental`.
    pub mode: &'static str,
    pub reconciled: bool,
    pub counts: RunCounts,
    pub pages: u64,
    pub listing_restarts: u32,
    pub elapsed_seconds: f64,
    pub records_per_second: f64,
    pub problems: Vec<String>,
    pub error: Option<String>,
}

impl TableReport {
    /// The report of a table that failed before its listing started.
    pub fn failed(section: &crate::config::AirtableTableSection, run: &RunRecord, reason: String) -> TableReport {
        TableReport {
            table: section.into.get_ref().clone(),
            airtable_table: section.table.clone(),
            base: section.base.get_ref().clone(),
            run_id: run.id,
            status: RunStatus::Failed,
            mode: "none",
            reconciled: false,
            counts: RunCounts::default(),
            pages: 0,
            listing_restarts: 0,
            elapsed_seconds: run.elapsed_seconds,
            records_per_second: 0.0,
            problems: Vec::new(),
            error: Some(reason),
        }
    }
}

#[derive(Debug, thiserror::Error)]
enum SyncError {
    #[error(transparent)]
    Airtable(#[from] AirtableError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("refusing to delete {would} of {live} records of {table} ({percent:.0}%, more than 20%): the listing looks incomplete; nothing was deleted. If they really were deleted in Airtable, re-run with --allow-mass-delete")]
    MassDeletion { table: String, would: usize, live: usize, percent: f64 },
}

/// The plan of one run, decided from the watermark before anything is fetched.
struct Plan {
    full: bool,
    reconcile: bool,
    filter: Option<String>,
    runs_since_reconcile: u32,
}

/// Syncs one table as one run. Airtable and row-level failures end up in the report and in
/// `sync_errors`; only a store that cannot record the run is an `Err`.
pub async fn sync_table(
    store: &dyn Store,
    client: &AirtableClient,
    mapping: &TableMapping,
    options: SyncOptions,
) -> Result<TableReport, StoreError> {
    store.prepare_catalog_table(&mapping.catalog).await?;
    let source = mapping.catalog.source();
    let previous = store.source_status(&source).await?.and_then(|s| s.watermark);
    let plan = plan(previous.as_deref(), mapping, options);
    let mut run = RunRecord::start(&source);
    store.start_run(&run).await?;
    let mut sync = store.begin_catalog_sync(&mapping.catalog, &run).await?;
    let mut listing = Listing::new(mapping, run.clone());
    let outcome = listing.run(&mut *sync, client, &plan, options.allow_mass_delete).await;
    let mut problems = std::mem::take(&mut listing.pending_problems);
    let records = std::mem::take(&mut listing.pending);
    run.counts = listing.counts;
    let (delete, advance) = match outcome {
        Ok((delete, server_time)) => {
            run.finish(RunStatus::Succeeded, None);
            (delete, Some(plan.advance(mapping, &listing, server_time)))
        }
        Err(e) => {
            let message = e.to_string();
            tracing::error!(table = %mapping.catalog.name, "{message}");
            run.finish(RunStatus::Failed, Some(message.clone()));
            let data = serde_json::json!({"base": mapping.base, "table": mapping.table_id});
            problems.push(SyncErrorRecord::new(&run, ErrorType::File, None, message, data));
            (Vec::new(), None)
        }
    };
    let status = run.status;
    let error = run.message.clone();
    let end = CatalogSyncEnd { records, problems, delete, run: run.clone(), advance };
    let counts = sync.commit(end).await?.with_reader_counts(&listing.counts);
    run.counts = counts;
    run.finish(status, error.clone());
    Ok(TableReport {
        table: mapping.catalog.name.clone(),
        airtable_table: mapping.table_name.clone(),
        base: mapping.base.clone(),
        run_id: run.id,
        status,
        mode: plan.mode(),
        reconciled: plan.reconcile && status == RunStatus::Succeeded,
        counts,
        pages: listing.pages,
        listing_restarts: listing.restarts,
        elapsed_seconds: run.elapsed_seconds,
        records_per_second: run.rows_per_second,
        problems: listing.shown,
        error,
    })
}

impl Plan {
    fn mode(&self) -> &'static str {
        if self.full {
            "full"
        } else {
            "incremental"
        }
    }

    /// Where `sync_control` moves after this plan ran to its end.
    fn advance(&self, mapping: &TableMapping, listing: &Listing, server_time: DateTime<Utc>) -> ControlAdvance {
        let watermark = AirtableWatermark {
            modified_since: server_time,
            mapping: mapping.fingerprint(),
            runs_since_reconcile: if self.reconcile { 0 } else { self.runs_since_reconcile + 1 },
            fields: mapping.field_ids(),
        };
        let metrics = serde_json::json!({
            "mode": self.mode(),
            "reconciled": self.reconcile,
            "pages": listing.pages,
            "listing_restarts": listing.restarts,
        });
        ControlAdvance { watermark: Some(serde_json::to_string(&watermark).expect("a watermark serializes")), metrics }
    }
}

fn plan(previous: Option<&str>, mapping: &TableMapping, options: SyncOptions) -> Plan {
    let previous = previous
        .and_then(|w| serde_json::from_str::<AirtableWatermark>(w).ok())
        .filter(|w| w.mapping == mapping.fingerprint());
    let Some(w) = previous.filter(|_| !options.full) else { return FULL };
    let reconcile = options.reconcile || w.runs_since_reconcile + 1 >= mapping.reconcile_every;
    if reconcile && mapping.follows_other_records() {
        // Such values change without moving LAST_MODIFIED_TIME(); a listing of every field costs
        // the same requests as an id sweep, and refreshes them.
        return FULL;
    }
    Plan {
        full: false,
        reconcile,
        filter: Some(modified_since_formula(w.modified_since - OVERLAP)),
        runs_since_reconcile: w.runs_since_reconcile,
    }
}

/// A listing of every record, which is a reconcile for free.
const FULL: Plan = Plan { full: true, reconcile: true, filter: None, runs_since_reconcile: 0 };

/// Records modified at or after `since`: inclusive at second resolution (modified times have no
/// finer grain), compared as dates through `DATETIME_PARSE`, never as strings.
pub fn modified_since_formula(since: DateTime<Utc>) -> String {
    let at = since.format("%Y-%m-%dT%H:%M:%S.000Z");
    format!(
        "OR(IS_SAME(LAST_MODIFIED_TIME(),DATETIME_PARSE('{at}'),'second'),IS_AFTER(LAST_MODIFIED_TIME(),DATETIME_PARSE('{at}')))"
    )
}

/// The state of one run's listing: what was seen, what waits to be written.
struct Listing<'a> {
    mapping: &'a TableMapping,
    run: RunRecord,
    /// Records listed with their fields in this run.
    listed: HashSet<String>,
    /// The last page, written by `commit` together with the watermark.
    pending: Vec<CatalogRecord>,
    pending_problems: Vec<SyncErrorRecord>,
    counts: RunCounts,
    pages: u64,
    restarts: u32,
    shown: Vec<String>,
}

impl<'a> Listing<'a> {
    fn new(mapping: &'a TableMapping, run: RunRecord) -> Listing<'a> {
        Listing {
            mapping,
            run,
            listed: HashSet::new(),
            pending: Vec::new(),
            pending_problems: Vec::new(),
            counts: RunCounts::default(),
            pages: 0,
            restarts: 0,
            shown: Vec::new(),
        }
    }

    /// Lists and writes; returns the Airtable ids to delete and the new watermark time.
    async fn run(
        &mut self,
        sync: &mut dyn CatalogSync,
        client: &AirtableClient,
        plan: &Plan,
        allow_mass_delete: bool,
    ) -> Result<(Vec<String>, DateTime<Utc>), SyncError> {
        let local_start = Utc::now();
        let mut pages = self.listen(client, self.records_query(plan.filter.clone()));
        let mut server_time = None;
        while let Some(page) = self.next_page(&mut pages).await? {
            server_time = server_time.or(Some(page.server_time.unwrap_or(local_start - LOCAL_CLOCK_MARGIN)));
            self.take_page(sync, page.records).await?;
        }
        let server_time = server_time.expect("a finished listing has at least one page");
        if !plan.reconcile {
            return Ok((Vec::new(), server_time));
        }
        let mut alive = self.listed.clone();
        if !plan.full {
            alive.extend(self.sweep_ids(client).await?);
        }
        let live = sync.live_airtable_ids().await?;
        self.fetch_returned(sync, client, &alive, &live).await?;
        Ok((self.deletions(&alive, live, allow_mass_delete)?, server_time))
    }

    /// Records the sweep saw that the store lacks or holds as deleted — restored from Airtable's
    /// trash, or missed — are fetched by id: their modified time may be older than the watermark.
    async fn fetch_returned(
        &mut self,
        sync: &mut dyn CatalogSync,
        client: &AirtableClient,
        alive: &HashSet<String>,
        live: &[String],
    ) -> Result<(), SyncError> {
        let live: HashSet<&String> = live.iter().collect();
        // Ids go into a formula: only well-formed ones (letters and digits), whatever the server sent.
        let mut returned: Vec<&String> = alive
            .iter()
            .filter(|id| !live.contains(id) && !self.listed.contains(*id))
            .filter(|id| id.bytes().all(|b| b.is_ascii_alphanumeric()))
            .collect();
        returned.sort();
        for chunk in returned.chunks(RECORDS_BY_ID) {
            let ids: Vec<String> = chunk.iter().map(|id| format!("RECORD_ID()='{id}'")).collect();
            let mut pages = self.listen(client, self.records_query(Some(format!("OR({})", ids.join(",")))));
            while let Some(page) = self.next_page(&mut pages).await? {
                self.take_page(sync, page.records).await?;
            }
        }
        Ok(())
    }

    /// A listing of every mapped field, keyed by field id.
    fn records_query(&self, filter: Option<String>) -> ListQuery {
        ListQuery { fields: self.mapping.fields.iter().map(|f| f.field_id.clone()).collect(), filter }
    }

    /// Starts the listing in its own task, so the next page is fetched while this one is written.
    fn listen(&mut self, client: &AirtableClient, query: ListQuery) -> mpsc::Receiver<Listed> {
        let (tx, rx) = mpsc::channel(PAGES_AHEAD);
        let client = client.clone();
        let (base, table) = (self.mapping.base.clone(), self.mapping.table_id.clone());
        tokio::spawn(async move { list_pages(&client, &base, &table, &query, tx).await });
        rx
    }

    /// The next page of a listing, counting restarts on the way; `None` once it is complete.
    async fn next_page(&mut self, pages: &mut mpsc::Receiver<Listed>) -> Result<Option<Page>, SyncError> {
        loop {
            match pages.recv().await {
                Some(Listed::Page(page)) => return Ok(Some(page)),
                Some(Listed::Restarted) => self.restarts += 1,
                Some(Listed::Failed(e)) => return Err(e.into()),
                None => return Ok(None),
            }
        }
    }

    async fn take_page(&mut self, sync: &mut dyn CatalogSync, records: Vec<RawRecord>) -> Result<(), SyncError> {
        self.pages += 1;
        let mut batch = Vec::with_capacity(records.len());
        let mut problems = Vec::new();
        for raw in records {
            if !self.listed.insert(raw.id.clone()) {
                // Listed again after an iterator restart: written already, unless it changed.
                self.counts.read -= 1;
            }
            self.counts.read += 1;
            let (record, cell_problems) = convert_record(self.mapping, &raw);
            if cell_problems.iter().any(|p| p.kind == ErrorType::Rejected) {
                self.counts.rejected += 1;
            } else if !cell_problems.is_empty() {
                self.counts.warnings += 1;
            }
            problems.extend(cell_problems.into_iter().map(|p| self.problem(&raw, p)));
            batch.push(record);
        }
        let previous = std::mem::replace(&mut self.pending, batch);
        let previous_problems = std::mem::replace(&mut self.pending_problems, problems);
        if !previous.is_empty() || !previous_problems.is_empty() {
            sync.write(previous, previous_problems).await?;
        }
        Ok(())
    }

    fn problem(&mut self, raw: &RawRecord, p: CellProblem) -> SyncErrorRecord {
        let message = format!(
            "{} record {}, field {:?} (column {}): {}",
            self.mapping.table_name, raw.id, p.field, p.column, p.message
        );
        if self.shown.len() < PROBLEMS_SHOWN {
            self.shown.push(message.clone());
        }
        let data = serde_json::json!({
            "base": self.mapping.base,
            "table": self.mapping.table_id,
            "field": p.field,
            "column": p.column,
            "record": {"id": raw.id, "createdTime": raw.created_time, "fields": raw.fields},
        });
        SyncErrorRecord::new(&self.run, p.kind, Some(raw.id.clone()), message, data)
    }

    /// Lists only record ids (the primary field, the smallest request) to learn the live set.
    async fn sweep_ids(&mut self, client: &AirtableClient) -> Result<HashSet<String>, SyncError> {
        let query = ListQuery { fields: vec![self.mapping.primary_field_id.clone()], filter: None };
        let mut pages = self.listen(client, query);
        let mut alive = HashSet::new();
        while let Some(page) = self.next_page(&mut pages).await? {
            alive.extend(page.records.into_iter().map(|r| r.id));
            self.pages += 1;
        }
        Ok(alive)
    }

    /// Stored live records the completed listing did not see were deleted in Airtable.
    fn deletions(
        &self,
        alive: &HashSet<String>,
        live: Vec<String>,
        allow_mass_delete: bool,
    ) -> Result<Vec<String>, SyncError> {
        let live_count = live.len();
        let gone: Vec<String> = live.into_iter().filter(|id| !alive.contains(id)).collect();
        let share = gone.len() as f64 / live_count.max(1) as f64;
        if share > MASS_DELETE_SHARE && !allow_mass_delete {
            return Err(SyncError::MassDeletion {
                table: self.mapping.catalog.name.clone(),
                would: gone.len(),
                live: live_count,
                percent: share * 100.0,
            });
        }
        Ok(gone)
    }
}

/// What the listing task hands over.
enum Listed {
    Page(Page),
    /// Airtable dropped the iterator; the pages start again from the first.
    Restarted,
    Failed(AirtableError),
}

/// Fetches pages back to back (Airtable drops idle iterators) and starts over when it drops one
/// anyway — or refuses an offset as an invalid request, which has been seen for stale offsets too.
/// Upserts by id make the pages listed twice harmless. Stops when the receiver is gone.
async fn list_pages(client: &AirtableClient, base: &str, table: &str, query: &ListQuery, tx: mpsc::Sender<Listed>) {
    let mut restarts = 0;
    let mut offset: Option<String> = None;
    loop {
        let message = match client.list_page(base, table, query, offset.as_deref()).await {
            Ok(page) => {
                offset = page.offset.clone();
                Listed::Page(page)
            }
            Err(e)
                if restarts < LISTING_RESTARTS
                    && (e.is_expired_iterator() || offset.is_some() && e.is_invalid_request()) =>
            {
                restarts += 1;
                offset = None;
                tracing::warn!(base, table, restarts, "Airtable dropped the listing's iterator; listing again");
                Listed::Restarted
            }
            Err(e) => {
                let _ = tx.send(Listed::Failed(e)).await;
                return;
            }
        };
        let done = matches!(&message, Listed::Page(_)) && offset.is_none();
        if tx.send(message).await.is_err() || done {
            return;
        }
    }
}
