//! PostgreSQL and CockroachDB through one code path.
//!
//! The dialect is detected once from `SELECT version()`. It decides only what must differ: the
//! import path (COPY + merge on PostgreSQL, batched upserts on CockroachDB, which has no
//! temporary tables by default). Every transaction goes through `retry`, which reruns it on
//! SQLSTATE 40001/40P01. No advisory locks, no LISTEN/NOTIFY.

mod catalog;
mod connect;
mod control;
mod documents;
mod import;
mod lease;
mod matches;
mod migrate;
mod outbox;

use std::future::Future;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures_util::pin_mut;
use tokio::sync::Mutex;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::Client;
use uuid::Uuid;

use super::{
    Backend, CatalogRows, CatalogSync, DocumentOffer, FeedImport, OfferRows, Store, StoreError, StoreInfo,
    StoredDistributorProduct,
};
use crate::catalog::{CatalogLink, CatalogTable, StoredCatalogRecord};
use crate::control::lease::{Fence, Lease};
use crate::control::{
    ControlAdvance, ErrorFilter, ErrorResolution, ErrorTally, InboxFile, OutboxEntry, PruneCounts, RunCounts,
    RunRecord, RunTally, SourceStatus, SyncErrorRecord,
};
use crate::matching::record::{
    MatchDecision, MatchFilter, MatchLink, MatchQuality, MatchableOffer, MatchedOffer, MatchingCommit,
};
use connect::ImportPath;
use connect::PgConnect;

/// Attempts of a transaction that keeps hitting serialization conflicts.
const MAX_ATTEMPTS: u32 = 6;

/// A catsync store in PostgreSQL or CockroachDB.
pub struct PgStore {
    connect: PgConnect,
    client: Mutex<Client>,
    import_path: ImportPath,
    info: StoreInfo,
}

impl PgStore {
    pub async fn open(url: &str) -> Result<PgStore, StoreError> {
        let connect = PgConnect::from_url(url)?;
        let mut client = connect.connect().await?;
        let version: String =
            client.query_one("SELECT version()", &[]).await.map_err(db_err("reading the server version"))?.get(0);
        let backend = if version.contains("CockroachDB") { Backend::Cockroach } else { Backend::Postgres };
        migrate::migrate(&mut client).await?;
        let import_path = connect.forced_import.unwrap_or(match backend {
            Backend::Cockroach => ImportPath::BatchUpsert,
            _ => ImportPath::CopyMerge,
        });
        let info = StoreInfo { backend, server_version: version, location: connect.location.clone() };
        tracing::debug!(backend = backend.name(), ?import_path, "store opened");
        Ok(PgStore { connect, client: Mutex::new(client), import_path, info })
    }
}

/// Runs `work` until it succeeds, retrying serialization conflicts with jittered backoff.
/// `work` must redo the whole transaction from its inputs each time.
pub(crate) async fn retry<T, F, Fut>(mut work: F) -> Result<T, StoreError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, StoreError>>,
{
    let mut attempt = 0;
    loop {
        attempt += 1;
        match work().await {
            Err(e) if e.is_retryable() && attempt < MAX_ATTEMPTS => {
                let cap = 50u64 << attempt.min(8);
                let jitter = rand_below(cap);
                tracing::warn!(attempt, error = %e, "transaction conflict; retrying");
                tokio::time::sleep(Duration::from_millis(cap / 2 + jitter / 2)).await;
            }
            other => return other,
        }
    }
}

/// Runs `work` in a transaction on `c`, rolled back on any error and rerun whole on serialization
/// conflicts (see `retry`). The connection is left outside any transaction either way.
pub(crate) async fn in_transaction<T, F, Fut>(c: &Client, context: &'static str, work: F) -> Result<T, StoreError>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<T, StoreError>>,
{
    retry(|| async {
        c.batch_execute("BEGIN").await.map_err(db_err("starting a transaction"))?;
        match work().await {
            Ok(value) => {
                c.batch_execute("COMMIT").await.map_err(db_err(context))?;
                Ok(value)
            }
            Err(e) => {
                let _ = c.batch_execute("ROLLBACK").await;
                Err(e)
            }
        }
    })
    .await
}

/// `in_transaction` whose first statement checks that `fence` still holds its lease.
async fn fenced_transaction<T, F, Fut>(
    c: &Client,
    context: &'static str,
    fence: Option<&Fence>,
    work: F,
) -> Result<T, StoreError>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<T, StoreError>>,
{
    in_transaction(c, context, || async {
        lease::check_fence(c, fence).await?;
        work().await
    })
    .await
}

/// Streams rows with binary COPY (no text parsing on the server); `values` lists row `i`.
pub(crate) async fn copy_in<'a>(
    c: &Client,
    statement: &str,
    types: &[Type],
    rows: usize,
    values: impl Fn(usize, &mut Vec<&'a (dyn ToSql + Sync)>),
) -> Result<(), StoreError> {
    if rows == 0 {
        return Ok(());
    }
    let sink = c.copy_in(statement).await.map_err(db_err("starting COPY"))?;
    let writer = BinaryCopyInWriter::new(sink, types);
    pin_mut!(writer);
    let mut row = Vec::with_capacity(types.len());
    for i in 0..rows {
        row.clear();
        values(i, &mut row);
        writer.as_mut().write(&row).await.map_err(db_err("copying rows"))?;
    }
    writer.finish().await.map_err(db_err("finishing COPY"))?;
    Ok(())
}

/// A cheap non-cryptographic random number for backoff jitter.
fn rand_below(n: u64) -> u64 {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    u64::from(nanos) % n.max(1)
}

/// `$first, $first+1, …`: `count` placeholders for one row of a multi-row `VALUES` list.
fn placeholders(first: usize, count: usize) -> String {
    let each: Vec<String> = (first..first + count).map(|n| format!("${n}")).collect();
    each.join(", ")
}

/// Whether a server error means "run the transaction again".
fn is_retryable(e: &tokio_postgres::Error) -> bool {
    matches!(e.code(), Some(c) if *c == SqlState::T_R_SERIALIZATION_FAILURE || *c == SqlState::T_R_DEADLOCK_DETECTED)
}

/// The server's message and SQLSTATE, or the client-side cause.
fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} (SQLSTATE {})", db.message(), db.code().code()),
        None => {
            let mut msg = e.to_string();
            let mut source = std::error::Error::source(e);
            while let Some(s) = source {
                msg = format!("{msg}: {s}");
                source = s.source();
            }
            msg
        }
    }
}

fn db_err(context: &'static str) -> impl Fn(tokio_postgres::Error) -> StoreError {
    move |e| StoreError::Database { context: context.to_string(), reason: describe(&e), retryable: is_retryable(&e) }
}

#[async_trait]
impl Store for PgStore {
    fn info(&self) -> &StoreInfo {
        &self.info
    }

    async fn schema_version(&self) -> Result<i64, StoreError> {
        migrate::version(&*self.client.lock().await).await
    }

    async fn start_run(&self, run: &RunRecord) -> Result<(), StoreError> {
        let client = self.client.lock().await;
        retry(|| control::insert_run(&*client, run)).await
    }

    async fn finish_run(
        &self,
        run: &RunRecord,
        errors: Vec<SyncErrorRecord>,
        advance: Option<ControlAdvance>,
    ) -> Result<(), StoreError> {
        let client = self.client.lock().await;
        let c = &*client;
        fenced_transaction(c, "committing a finished run", run.fence.as_ref(), || async {
            control::insert_errors(c, &errors).await?;
            control::conclude(c, run, advance.as_ref(), errors.len() as i64).await
        })
        .await
    }

    async fn begin_feed_import(&self, distributor: &str, run: &RunRecord) -> Result<Box<dyn FeedImport>, StoreError> {
        let client = self.connect.connect().await?;
        let import = import::PgFeedImport::begin(
            client,
            self.import_path,
            &run.source,
            distributor.to_string(),
            run.id,
            run.started_at,
            run.fence.clone(),
        )
        .await?;
        Ok(Box::new(import))
    }

    async fn sources(&self) -> Result<Vec<SourceStatus>, StoreError> {
        control::sources(&*self.client.lock().await).await
    }

    async fn source_status(&self, source: &str) -> Result<Option<SourceStatus>, StoreError> {
        control::source_status(&*self.client.lock().await, source).await
    }

    async fn prepare_catalog_table(&self, table: &CatalogTable) -> Result<(), StoreError> {
        catalog::prepare(&*self.client.lock().await, table).await
    }

    async fn catalog_table(&self, name: &str) -> Result<Option<CatalogTable>, StoreError> {
        catalog::stored_table(&*self.client.lock().await, name).await
    }

    async fn begin_catalog_sync(
        &self,
        table: &CatalogTable,
        run: &RunRecord,
    ) -> Result<Box<dyn CatalogSync>, StoreError> {
        let client = self.connect.connect().await?;
        Ok(Box::new(catalog::PgCatalogSync::begin(client, self.import_path, table, run.fence.clone())?))
    }

    async fn catalog_records(&self, table: &CatalogTable) -> Result<Vec<StoredCatalogRecord>, StoreError> {
        catalog::records(&*self.client.lock().await, table).await
    }

    async fn catalog_links(&self, table: &CatalogTable, column: &str) -> Result<Vec<CatalogLink>, StoreError> {
        catalog::links(&*self.client.lock().await, table, column).await
    }

    async fn runs(&self, source: Option<&str>, limit: u32) -> Result<Vec<RunRecord>, StoreError> {
        control::runs(&*self.client.lock().await, source, limit).await
    }

    async fn error_tallies(&self) -> Result<Vec<ErrorTally>, StoreError> {
        control::error_tallies(&*self.client.lock().await).await
    }

    async fn run_tallies(&self) -> Result<Vec<RunTally>, StoreError> {
        control::run_tallies(&*self.client.lock().await).await
    }

    async fn slowest_runs(&self, limit: u32) -> Result<Vec<RunRecord>, StoreError> {
        control::slowest_runs(&*self.client.lock().await, limit).await
    }

    async fn match_quality(&self) -> Result<MatchQuality, StoreError> {
        matches::match_quality(&*self.client.lock().await).await
    }

    async fn distributor_products(&self, distributor: &str) -> Result<Vec<StoredDistributorProduct>, StoreError> {
        import::distributor_products(&*self.client.lock().await, distributor).await
    }

    async fn matchable_offers(&self, only_changed: bool) -> Result<Vec<MatchableOffer>, StoreError> {
        matches::matchable_offers(&*self.client.lock().await, only_changed).await
    }

    async fn product_matches(&self, filter: &MatchFilter) -> Result<Vec<MatchedOffer>, StoreError> {
        matches::product_matches(&*self.client.lock().await, filter).await
    }

    async fn match_links(&self) -> Result<Vec<MatchLink>, StoreError> {
        matches::match_links(&*self.client.lock().await).await
    }

    async fn match_rejections(&self) -> Result<Vec<(Uuid, Uuid)>, StoreError> {
        matches::match_rejections(&*self.client.lock().await).await
    }

    async fn matched_catalog(&self) -> Result<Vec<(Uuid, String)>, StoreError> {
        matches::matched_catalog(&*self.client.lock().await).await
    }

    async fn commit_matching(&self, commit: MatchingCommit) -> Result<RunCounts, StoreError> {
        matches::commit_matching(&*self.client.lock().await, &commit).await
    }

    async fn search_outbox(&self, limit: u32) -> Result<Vec<OutboxEntry>, StoreError> {
        outbox::entries(&*self.client.lock().await, limit).await
    }

    async fn acknowledge_outbox(&self, ids: &[i64], fence: Option<&Fence>) -> Result<(), StoreError> {
        let client = self.client.lock().await;
        let c = &*client;
        fenced_transaction(c, "acknowledging search outbox entries", fence, || outbox::acknowledge(c, ids)).await
    }

    async fn outbox_depth(&self) -> Result<u64, StoreError> {
        outbox::depth(&*self.client.lock().await).await
    }

    async fn outbox_oldest(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        outbox::oldest(&*self.client.lock().await).await
    }

    async fn catalog_rows(
        &self,
        table: &CatalogTable,
        rows: &CatalogRows,
    ) -> Result<Vec<StoredCatalogRecord>, StoreError> {
        catalog::rows(&*self.client.lock().await, table, rows).await
    }

    async fn document_offers(&self, rows: &OfferRows) -> Result<Vec<DocumentOffer>, StoreError> {
        documents::offers(&*self.client.lock().await, rows).await
    }

    async fn decide_match(&self, id: Uuid, decision: &MatchDecision, note: Option<&str>) -> Result<bool, StoreError> {
        matches::decide(&*self.client.lock().await, id, decision, note).await
    }

    async fn acquire_lease(&self, job: &str, holder: &str, ttl: Duration) -> Result<Option<Lease>, StoreError> {
        lease::acquire(&*self.client.lock().await, job, holder, ttl).await
    }

    async fn renew_lease(&self, held: &Lease, ttl: Duration) -> Result<Lease, StoreError> {
        lease::renew(&*self.client.lock().await, held, ttl).await
    }

    async fn release_lease(&self, held: &Lease) -> Result<(), StoreError> {
        lease::release(&*self.client.lock().await, held).await
    }

    async fn leases(&self) -> Result<Vec<Lease>, StoreError> {
        lease::all(&*self.client.lock().await).await
    }

    async fn inbox_file_imported(&self, file: &InboxFile) -> Result<bool, StoreError> {
        control::inbox_file_imported(&*self.client.lock().await, file).await
    }

    async fn record_inbox_file(&self, file: &InboxFile, run_id: Uuid, fence: Option<&Fence>) -> Result<(), StoreError> {
        let client = self.client.lock().await;
        let c = &*client;
        fenced_transaction(c, "recording an inbox file", fence, || control::record_inbox_file(c, file, run_id)).await
    }

    async fn error_records(&self, filter: &ErrorFilter) -> Result<Vec<SyncErrorRecord>, StoreError> {
        control::error_records(&*self.client.lock().await, filter).await
    }

    async fn resolve_errors(&self, resolutions: &[ErrorResolution], fence: Option<&Fence>) -> Result<(), StoreError> {
        let client = self.client.lock().await;
        let c = &*client;
        fenced_transaction(c, "resolving sync_errors", fence, || control::resolve_errors(c, resolutions)).await
    }

    async fn prune(
        &self,
        runs_before: Option<DateTime<Utc>>,
        errors_before: Option<DateTime<Utc>>,
    ) -> Result<PruneCounts, StoreError> {
        let client = self.client.lock().await;
        let c = &*client;
        in_transaction(c, "pruning the control tables", || control::prune(c, runs_before, errors_before)).await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    /// A connection to the test server, or `None` outside CI when none answers.
    async fn test_client() -> Option<Client> {
        let url = std::env::var("CATSYNC_TEST_PG").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
        match PgConnect::from_url(&url).unwrap().connect().await {
            Ok(c) => Some(c),
            Err(e) if std::env::var("CI").as_deref() != Ok("true") => {
                eprintln!("\n!!! SKIPPING PostgreSQL test: {e}\n");
                None
            }
            Err(e) => panic!("PostgreSQL is required in CI: {e}"),
        }
    }

    #[tokio::test]
    async fn serialization_failures_are_retried_and_other_errors_are_not() {
        let Some(client) = test_client().await else { return };
        let attempts = AtomicU32::new(0);
        let result = retry(|| async {
            if attempts.fetch_add(1, Ordering::SeqCst) < 2 {
                // What PostgreSQL under SERIALIZABLE, or CockroachDB at any time, answers.
                client
                    .batch_execute("DO $$ BEGIN RAISE EXCEPTION 'restart transaction' USING ERRCODE = '40001'; END $$")
                    .await
                    .map_err(db_err("test transaction"))
            } else {
                Ok(())
            }
        })
        .await;
        assert!(result.is_ok(), "{result:?}");
        assert_eq!(attempts.load(Ordering::SeqCst), 3);

        let attempts = AtomicU32::new(0);
        let err = retry(|| async {
            attempts.fetch_add(1, Ordering::SeqCst);
            client
                .batch_execute("DO $$ BEGIN RAISE EXCEPTION 'duplicate' USING ERRCODE = '23505'; END $$")
                .await
                .map_err(db_err("test transaction"))
        })
        .await
        .unwrap_err();
        assert!(!err.is_retryable());
        assert!(err.to_string().contains("SQLSTATE 23505"), "{err}");
        assert_eq!(attempts.load(Ordering::SeqCst), 1);
    }
}
