//! Test scaffolding shared by the integration suites: stores on real SQLite files and real
//! PostgreSQL schemas, feed files in temporary directories, catalog tables and records, search
//! indexes, and the macros that run one suite against every backend.
#![allow(dead_code)]

pub mod airtable;
pub mod browser;
#[macro_use]
pub mod search;
pub mod search_es;
pub mod web;

/// Runs each named `async fn(&TestStore)` against SQLite, PostgreSQL with the COPY import path and
/// PostgreSQL with the batched-upsert path CockroachDB uses.
#[allow(unused_macros)]
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let t = super::common::TestStore::sqlite().await;
                    super::$name(&t).await;
                }
            )*
        }
        mod postgres_copy {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(t) = super::common::TestStore::postgres("copy").await else { return };
                    super::$name(&t).await;
                }
            )*
        }
        mod postgres_upsert {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(t) = super::common::TestStore::postgres("upsert").await else { return };
                    super::$name(&t).await;
                }
            )*
        }
    };
}

use std::path::{Path, PathBuf};
use std::sync::Arc;

use catsync::catalog::{catalog_record_id, CatalogColumn, CatalogRecord, CatalogTable, CellValue, ColumnType};
use catsync::control::{ControlAdvance, RunRecord, RunStatus};
use catsync::source::feed::import::{import_file, FileReport, ImportOptions};
use catsync::source::feed::{FeedMode, FeedProfile};
use catsync::store::{self, CatalogSync, CatalogSyncEnd, Store, StoredDistributorProduct};

/// A config whose `[catalog]` is a `products` table with name, brand, mpn, gtin and price columns.
pub const CATALOG_CONFIG: &str = r#"
[airtable]
token = "patTEST"
[[airtable.tables]]
base = "appTESTTESTTEST01"
table = "Products"
into = "products"
columns = { name = "Name", brand = "Brand", mpn = "MPN", gtin = "GTIN", price = "Price" }
[catalog]
table = "products"
title = "name"
brand = "brand"
mpn = "mpn"
gtin = "gtin"
price = "price"
"#;

/// The PostgreSQL server tests use, from `CATSYNC_TEST_PG`.
pub fn pg_base_url() -> String {
    std::env::var("CATSYNC_TEST_PG").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// A store for one test: its own SQLite file, or its own PostgreSQL schema.
pub struct TestStore {
    pub store: Arc<dyn Store>,
    pub url: String,
    pub dir: tempfile::TempDir,
    schema: Option<String>,
}

impl TestStore {
    pub async fn sqlite() -> TestStore {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("catsync.db").display());
        let store = store::open(&url).await.unwrap();
        TestStore { store, url, dir, schema: None }
    }

    /// A fresh schema on the test server, or `None` (with a loud reason) when no server answers
    /// outside CI. `import` forces the import path: "copy" or "upsert".
    pub async fn postgres(import: &str) -> Option<TestStore> {
        let base = pg_base_url();
        let admin = match tokio_postgres::connect(&base, tokio_postgres::NoTls).await {
            Ok((client, conn)) => {
                tokio::spawn(conn);
                client
            }
            Err(e) => {
                if std::env::var("CI").as_deref() == Ok("true") {
                    panic!("PostgreSQL at {base} is required in CI: {e}");
                }
                eprintln!("\n!!! SKIPPING PostgreSQL test: no server at {base} ({e}); set CATSYNC_TEST_PG\n");
                return None;
            }
        };
        let schema = format!("catsync_test_{}", uuid::Uuid::new_v4().simple());
        admin.batch_execute(&format!("CREATE SCHEMA {schema}")).await.unwrap();
        let sep = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{sep}options=-c%20search_path%3D{schema}&catsync_import={import}");
        let store = store::open(&url).await.unwrap();
        Some(TestStore { store, url, dir: tempfile::tempdir().unwrap(), schema: Some(schema) })
    }

    /// Writes a feed file into the test's directory.
    pub fn feed(&self, name: &str, content: impl AsRef<[u8]>) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, content).unwrap();
        path
    }

    pub async fn import(&self, distributor: &str, path: &Path, mode: FeedMode) -> FileReport {
        self.import_with(distributor, path, mode, false).await
    }

    pub async fn import_with(&self, distributor: &str, path: &Path, mode: FeedMode, allow_mass: bool) -> FileReport {
        let profile = FeedProfile { distributor: distributor.into(), mode, ..FeedProfile::default() };
        let options = ImportOptions { allow_mass_deactivate: allow_mass, progress: false };
        import_file(self.store.as_ref(), &profile, path, &options).await.unwrap()
    }

    pub async fn products(&self, distributor: &str) -> Vec<StoredDistributorProduct> {
        self.store.distributor_products(distributor).await.unwrap()
    }

    /// Rows of a query on the store's database, every value as text (`None` for NULL): for tables
    /// the `Store` trait has no reader for, such as `id_mappings`.
    pub async fn sql_rows(&self, sql: &str) -> Vec<Vec<Option<String>>> {
        match &self.schema {
            None => {
                let conn = rusqlite::Connection::open(self.dir.path().join("catsync.db")).unwrap();
                let mut stmt = conn.prepare(sql).unwrap();
                let width = stmt.column_count();
                let rows = stmt.query_map([], |r| (0..width).map(|i| sqlite_text(r.get_ref(i)?)).collect());
                rows.unwrap().collect::<Result<_, _>>().unwrap()
            }
            Some(schema) => {
                let (client, conn) = tokio_postgres::connect(&pg_base_url(), tokio_postgres::NoTls).await.unwrap();
                tokio::spawn(conn);
                client.batch_execute(&format!("SET search_path = {schema}")).await.unwrap();
                let messages = client.simple_query(sql).await.unwrap();
                messages
                    .iter()
                    .filter_map(|m| match m {
                        tokio_postgres::SimpleQueryMessage::Row(r) => {
                            Some((0..r.len()).map(|i| r.get(i).map(str::to_string)).collect())
                        }
                        _ => None,
                    })
                    .collect()
            }
        }
    }

    /// Starts a sync of `table` the way the Airtable source will: a run recorded as running first.
    pub async fn begin_sync(&self, table: &CatalogTable) -> (RunRecord, Box<dyn CatalogSync>) {
        let run = RunRecord::start(&table.source());
        self.store.start_run(&run).await.unwrap();
        let sync = self.store.begin_catalog_sync(table, &run).await.unwrap();
        (run, sync)
    }

    /// Prepares `table`, syncs `records` in one batch and commits with `watermark`.
    pub async fn sync(&self, table: &CatalogTable, records: Vec<CatalogRecord>, watermark: &str) -> RunRecord {
        self.store.prepare_catalog_table(table).await.unwrap();
        let (run, mut sync) = self.begin_sync(table).await;
        let read = records.len() as u64;
        sync.write(records, vec![]).await.unwrap();
        let counts = sync.commit(sync_end(run.clone(), read, vec![], Some(watermark))).await.unwrap();
        RunRecord { counts, ..run }
    }

    pub async fn rows(&self, table: &CatalogTable) -> Vec<catsync::catalog::StoredCatalogRecord> {
        self.store.catalog_records(table).await.unwrap()
    }
}

fn sqlite_text(v: rusqlite::types::ValueRef<'_>) -> rusqlite::Result<Option<String>> {
    use rusqlite::types::ValueRef;
    Ok(match v {
        ValueRef::Null => None,
        ValueRef::Integer(i) => Some(i.to_string()),
        ValueRef::Real(f) => Some(f.to_string()),
        ValueRef::Text(t) => Some(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => Some(b.iter().map(|x| format!("{x:02x}")).collect()),
    })
}

/// A catalog table from `(column, config type name)` pairs.
pub fn catalog_table(name: &str, columns: &[(&str, &str)]) -> CatalogTable {
    let columns = columns
        .iter()
        .map(|(n, ty)| CatalogColumn { name: (*n).into(), ty: ColumnType::parse(ty).expect("a known type name") })
        .collect();
    CatalogTable { name: name.into(), columns }
}

/// A record with a content hash of its values and created time, as the Airtable source makes them.
pub fn catalog_record(airtable_id: &str, values: Vec<CellValue>) -> CatalogRecord {
    let created_time = chrono::DateTime::from_timestamp_micros(1_700_000_000_123_456).unwrap();
    let hash = xxhash_rust::xxh3::xxh3_128(format!("{created_time:?}{values:?}").as_bytes());
    CatalogRecord {
        id: catalog_record_id(airtable_id),
        airtable_id: airtable_id.into(),
        created_time,
        values,
        content_hash: format!("{hash:032x}"),
    }
}

/// A rejected record of a sync, as the Airtable source reports one.
pub fn problem(run: &RunRecord, airtable_id: &str, message: &str) -> catsync::control::SyncErrorRecord {
    catsync::control::SyncErrorRecord {
        id: uuid::Uuid::new_v4(),
        run_id: run.id,
        source_table: run.source.clone(),
        record_id: Some(airtable_id.into()),
        error_type: catsync::control::ErrorType::Rejected,
        error_message: message.into(),
        record_data: serde_json::json!({"id": airtable_id}),
        created_at: catsync::control::now_micros(),
        resolved: false,
        resolved_at: None,
        resolution_notes: None,
    }
}

/// How a finished sync ends: `read` records read, the run succeeded, and the watermark moves to
/// `watermark` (`None`: a failed run that moves nothing).
pub fn sync_end(mut run: RunRecord, read: u64, delete: Vec<String>, watermark: Option<&str>) -> CatalogSyncEnd {
    run.counts.read = read;
    let status = if watermark.is_some() { RunStatus::Succeeded } else { RunStatus::Failed };
    run.finish(status, None);
    CatalogSyncEnd {
        records: vec![],
        problems: vec![],
        delete,
        run,
        advance: watermark
            .map(|w| ControlAdvance { watermark: Some(w.into()), metrics: serde_json::json!({"records": read}) }),
    }
}

impl Drop for TestStore {
    /// Drops the test's PostgreSQL schema, also when the test failed. Runs on its own thread and
    /// runtime because a test's runtime may be shutting down.
    fn drop(&mut self) {
        let Some(schema) = self.schema.take() else { return };
        let cleanup = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                let (admin, conn) = tokio_postgres::connect(&pg_base_url(), tokio_postgres::NoTls).await?;
                tokio::spawn(conn);
                admin.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE")).await
            })
        });
        if let Ok(Err(e)) = cleanup.join() {
            eprintln!("could not drop test schema: {e}");
        }
    }
}

/// A CSV feed of `n` products `SKU-0000…` with price `base + i`.
pub fn feed_csv(n: usize, base_price: u32) -> String {
    let mut s = String::from("sku,gtin,brand,title,price,qty\n");
    for i in 0..n {
        s.push_str(&format!("SKU-{i:04},,Brand{},Product {i},{}.50,{}\n", i % 7, base_price as usize + i, i % 13));
    }
    s
}
