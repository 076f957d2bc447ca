//! Test scaffolding shared by the integration suites: stores on real SQLite files and real
//! PostgreSQL schemas, feed files in temporary directories.
#![allow(dead_code)]

pub mod airtable;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use catsync::source::feed::import::{import_file, FileReport, ImportOptions};
use catsync::source::feed::{FeedMode, FeedProfile};
use catsync::store::{self, Store, StoredDistributorProduct};

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
