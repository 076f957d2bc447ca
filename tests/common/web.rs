//! A store worth looking at for the dashboard and report tests: a catalog, a distributor feed with
//! a rejected row, matches waiting for review, an index to search, and hostile text in a product
//! title and in an error's raw record. Plus a dashboard served on a free loopback port.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use catsync::catalog::{catalog_record_id, CatalogRecord, CatalogRoles, CatalogTable, CellValue};
use catsync::config::{Config, Secret};
use catsync::control::lease::JobLeases;
use catsync::control::{ControlAdvance, RunRecord, RunStatus};
use catsync::matching::record::{MatchingCommit, ProductMatch};
use catsync::matching::{Method, Status};
use catsync::product::distributor_product_id;
use catsync::search::indexer::{run_index, CatalogSource};
use catsync::source::feed::FeedMode;
use catsync::web::{self, Dashboard, Guard};
use rust_decimal::Decimal;
use uuid::Uuid;

use super::search::TestIndex;
use super::{catalog_record, catalog_table, TestStore};

/// A product title that would run a script if a page forgot to escape it.
pub const HOSTILE_TITLE: &str = "<img src=x onerror=alert(1)>";
/// Raw record text of a rejected row that would do the same.
pub const HOSTILE_RECORD: &str = "<script>alert(2)</script>";

pub fn config() -> Config {
    Config::parse(super::CATALOG_CONFIG, Path::new("test.toml")).unwrap()
}

fn table() -> CatalogTable {
    catalog_table(
        "products",
        &[("name", "text"), ("brand", "text"), ("mpn", "text"), ("gtin", "text"), ("price", "numeric")],
    )
}

fn product(id: &str, name: &str, brand: &str, mpn: &str, price: i64) -> CatalogRecord {
    let text = |s: &str| CellValue::Text(s.into());
    catalog_record(
        id,
        vec![text(name), text(brand), text(mpn), CellValue::Null, CellValue::Numeric(Decimal::new(price, 0))],
    )
}

pub fn offer(sku: &str) -> Uuid {
    distributor_product_id("acme", sku)
}

/// What `seed` made.
pub struct Seeded {
    pub index: TestIndex,
    /// Distributor products waiting for review, best score first.
    pub review: Vec<Uuid>,
}

/// Fills the store: three catalog products, a feed of three products and one rejected row, two
/// matches for review and one automatic, and the index built from them.
pub async fn seed(t: &TestStore) -> Seeded {
    t.sync(
        &table(),
        vec![
            product("rec1", "Bosch GSR12V-300 drill driver", "Bosch", "GSR12V-300B22", 99),
            product("rec2", HOSTILE_TITLE, "Evil", "EVIL-1", 5),
            product("rec3", "Makita impact driver 18V", "Makita", "XDT13Z", 119),
        ],
        "w1",
    )
    .await;
    let feed = format!(
        "sku,gtin,mpn,brand,title,price,qty\n\
         A1,,GSR12V300,BOSCH,BOSCH GSR12V DRILL 12V,92.50,7\n\
         A2,,EVIL1,Evil,{HOSTILE_TITLE},4.00,1\n\
         A3,,XDT13Z,MAKITA,Makita impact driver,110.00,3\n\
         ,,,{HOSTILE_TITLE},{HOSTILE_RECORD},1.00,1\n"
    );
    let path = t.feed("acme.csv", feed);
    let report = t.import("acme", &path, FeedMode::Full).await;
    assert_eq!(report.counts.rejected, 1, "the row without a SKU is rejected: {report:?}");
    let mut run = RunRecord::start("matching");
    t.store.start_run(&run).await.unwrap();
    run.counts.read = 3;
    run.finish(RunStatus::Succeeded, None);
    let now = catsync::control::now_micros();
    let row = |sku: &str, product: &str, score: f64, status: Status| ProductMatch {
        distributor_product_id: offer(sku),
        distributor: "acme".into(),
        product_id: catalog_record_id(product),
        score,
        method: Method::Fuzzy,
        status,
        evidence: serde_json::json!({ "title": 0.8, "brand": true }),
        created_at: now,
        updated_at: now,
        decided_at: None,
        note: None,
    };
    let commit = MatchingCommit {
        upserts: vec![
            row("A1", "rec1", 0.82, Status::Review),
            row("A2", "rec2", 0.61, Status::Review),
            row("A3", "rec3", 0.97, Status::Auto),
        ],
        unlinked: vec![],
        examined: vec![],
        catalog_changed: vec![],
        catalog_removed: vec![],
        run,
        advance: ControlAdvance { watermark: None, metrics: serde_json::json!({}) },
    };
    t.store.commit_matching(commit).await.unwrap();
    let index = TestIndex::tantivy().await;
    let stored = t.store.catalog_table("products").await.unwrap().unwrap();
    let roles = CatalogRoles::new(config().catalog.as_ref().unwrap(), &stored);
    let source = CatalogSource { table: &stored, roles: &roles };
    run_index(&*t.store, &*index.index, Some(source), false).await.unwrap();
    Seeded { index, review: vec![offer("A1"), offer("A2")] }
}

/// A dashboard served for one test; stopped when dropped.
pub struct TestServer {
    pub url: String,
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl TestServer {
    /// Serves `t`'s store and `seeded`'s index on a free loopback port, with `token` if given.
    pub async fn start(t: &TestStore, seeded: &Seeded, token: Option<&str>) -> TestServer {
        let dashboard = Dashboard {
            store: Arc::clone(&t.store),
            search: Ok(Arc::clone(&seeded.index.index)),
            catalog: config().catalog,
            leases: JobLeases::new(Arc::clone(&t.store), "dashboard-test".into(), Duration::from_secs(60)),
            feed_profiles: Vec::new(),
        };
        let guard = Guard::new(token.map(Secret::new));
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let listen: SocketAddr = "127.0.0.1:0".parse().unwrap();
        tokio::spawn(async move {
            let ready = move |addr| {
                let _ = ready_tx.send(addr);
            };
            web::serve(dashboard, guard, listen, ready, async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
        });
        let addr = ready_rx.await.unwrap();
        TestServer { url: format!("http://{addr}"), addr, stop: Some(stop) }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// An HTTP client that shows redirects instead of following them.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}
