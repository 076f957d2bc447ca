//! `catsync index` end to end: a real store (SQLite), matching, the outbox, and every search
//! backend (Tantivy on disk, the Elasticsearch simulator over HTTP). Faults are injected by
//! wrapping a real backend: a crash after the index accepted a batch but before the outbox was
//! acknowledged, and store writes landing in the middle of a full rebuild.

#[macro_use]
mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use catsync::catalog::{catalog_record_id, CatalogRecord, CatalogRoles, CatalogTable, CellValue};
use catsync::config::Config;
use catsync::matching::aliases::BrandAliases;
use catsync::matching::record::MatchDecision;
use catsync::matching::run::{run_matching, MatchRun};
use catsync::matching::MatchOptions;
use catsync::product::distributor_product_id;
use catsync::search::indexer::{run_index, CatalogSource, IndexReport};
use catsync::search::{
    ApplyReport, DocumentChange, DocumentKind, IndexRebuild, ProductDocument, SearchError, SearchIndex, SearchQuery,
    SearchResults,
};
use catsync::source::feed::FeedMode;
use common::search::TestIndex;
use common::{catalog_record, catalog_table, sync_end, TestStore};
use rust_decimal::Decimal;
use uuid::Uuid;

search_backend_tests!(
    the_index_holds_catalog_products_with_their_offers_and_unmatched_offers,
    a_second_run_with_nothing_changed_sends_nothing,
    a_crash_before_the_outbox_is_acknowledged_resends_without_duplicates,
    deleted_products_and_deactivated_offers_leave_the_index,
    a_decision_moves_an_offer_from_its_own_document_to_its_product,
    a_full_rebuild_keeps_writes_made_while_it_ran,
    hostile_text_survives_store_and_index,
);

const CONFIG: &str = r#"
[airtable]
token = "patTEST"
[[airtable.tables]]
base = "appTESTTESTTEST01"
table = "Products"
into = "products"
columns = { name = "Name", brand = "Brand", gtin = "GTIN", price = "Price" }
[catalog]
table = "products"
title = "name"
brand = "brand"
gtin = "gtin"
price = "price"
"#;

fn table() -> CatalogTable {
    catalog_table("products", &[("name", "text"), ("brand", "text"), ("gtin", "gtin"), ("price", "numeric")])
}

fn product(id: &str, name: &str, brand: &str, gtin: &str, price: i64) -> CatalogRecord {
    let text = |s: &str| CellValue::Text(s.into());
    catalog_record(id, vec![text(name), text(brand), text(gtin), CellValue::Numeric(Decimal::new(price, 0))])
}

fn catalog() -> Vec<CatalogRecord> {
    vec![
        product("rec1", "Makita 18V LXT Impact Driver", "Makita", "0088381686478", 129),
        product("rec2", "Bosch 12V Max Drill Driver", "Bosch", "4053423203460", 99),
    ]
}

const FEED: &str = "sku,gtin,brand,title,price,qty\n\
    A1,088381686478,Makita,MAKITA IMPACT DRIVER 18V,119.00,4\n\
    A2,,Acme,Garden hose 25 ft,19.99,30\n\
    A3,,Acme,Watering can 10 l,9.50,0\n";

/// A store with the catalog, the acme feed, and one matching run.
struct World {
    store: TestStore,
    table: CatalogTable,
    roles: CatalogRoles,
}

impl World {
    async fn new() -> World {
        let store = TestStore::sqlite().await;
        store.sync(&table(), catalog(), "w1").await;
        let feed = store.feed("acme.csv", FEED);
        store.import("acme", &feed, FeedMode::Full).await;
        let table = store.store.catalog_table("products").await.unwrap().unwrap();
        let config = Config::parse(CONFIG, std::path::Path::new("test.toml")).unwrap();
        let roles = CatalogRoles::new(config.catalog.as_ref().unwrap(), &table);
        let world = World { store, table, roles };
        world.rematch().await;
        world
    }

    async fn rematch(&self) {
        let run = MatchRun {
            table: &self.table,
            roles: &self.roles,
            options: MatchOptions::default(),
            aliases: BrandAliases::default(),
            full: false,
            progress: None,
        };
        run_matching(self.store.store.as_ref(), run).await.unwrap();
    }

    async fn index(&self, index: &dyn SearchIndex, full: bool) -> Result<IndexReport, String> {
        let source = CatalogSource { table: &self.table, roles: &self.roles };
        run_index(self.store.store.as_ref(), index, Some(source), full).await.map_err(|e| e.to_string())
    }

    async fn reimport(&self, name: &str, feed: &str) {
        let path = self.store.feed(name, feed);
        self.store.import_with("acme", &path, FeedMode::Full, true).await;
    }
}

fn offer_id(sku: &str) -> Uuid {
    distributor_product_id("acme", sku)
}

/// Searches are near real time on Elasticsearch: `count` makes every accepted write visible first.
async fn search(index: &dyn SearchIndex, text: &str) -> SearchResults {
    index.count().await.unwrap();
    index.search(&SearchQuery { text: text.into(), limit: 10, ..SearchQuery::default() }).await.unwrap()
}

async fn doc(index: &dyn SearchIndex, id: Uuid) -> Option<ProductDocument> {
    index.document(id).await.unwrap()
}

async fn the_index_holds_catalog_products_with_their_offers_and_unmatched_offers(t: &TestIndex) {
    let w = World::new().await;
    let report = w.index(&*t.index, false).await.unwrap();
    assert_eq!((report.documents, report.outbox_left, report.failed), (4, 0, 0), "{report:?}");
    let makita = doc(&*t.index, catalog_record_id("rec1")).await.expect("the catalog product is indexed");
    assert_eq!(makita.kind, DocumentKind::Catalog);
    assert_eq!(makita.offers.len(), 1, "its matched offer rides along: {makita:?}");
    assert_eq!((makita.lowest_price, makita.total_stock), (Some(119.0), 4));
    assert!(doc(&*t.index, offer_id("A1")).await.is_none(), "a matched offer has no document of its own");
    let hose = doc(&*t.index, offer_id("A2")).await.expect("an unmatched offer is searchable");
    assert_eq!(hose.kind, DocumentKind::Unmatched);
    let hits = search(&*t.index, "0088381686478").await;
    assert_eq!(hits.results.first().map(|h| h.id), Some(catalog_record_id("rec1")), "{hits:?}");
    let hits = search(&*t.index, "garden hose").await;
    assert_eq!(hits.results.first().map(|h| h.id), Some(offer_id("A2")));
}

async fn a_second_run_with_nothing_changed_sends_nothing(t: &TestIndex) {
    let w = World::new().await;
    w.index(&*t.index, false).await.unwrap();
    let again = w.index(&*t.index, false).await.unwrap();
    assert_eq!((again.entries, again.upserted, again.deleted), (0, 0, 0));
    w.reimport("b.csv", &FEED.replace("19.99,30", "17.49,30")).await;
    let changed = w.index(&*t.index, false).await.unwrap();
    assert_eq!((changed.entries, changed.upserted), (1, 1), "one price changed, one document re-sent");
    assert_eq!(doc(&*t.index, offer_id("A2")).await.unwrap().lowest_price, Some(17.49));
}

/// A real index with one fault: it fails (as a dropped connection would) right after it accepted
/// its first batch, or its rebuild lets the store change just before it switches.
struct FaultyIndex {
    inner: Arc<dyn SearchIndex>,
    crash_after_first_apply: AtomicBool,
    /// An import run in the middle of a rebuild: the store and the feed file.
    import_during_rebuild: Option<(Arc<dyn catsync::store::Store>, std::path::PathBuf)>,
}

impl FaultyIndex {
    fn crashing(inner: Arc<dyn SearchIndex>) -> FaultyIndex {
        FaultyIndex { inner, crash_after_first_apply: AtomicBool::new(true), import_during_rebuild: None }
    }

    fn importing_during_rebuild(
        inner: Arc<dyn SearchIndex>,
        store: Arc<dyn catsync::store::Store>,
        feed: std::path::PathBuf,
    ) -> FaultyIndex {
        FaultyIndex {
            inner,
            crash_after_first_apply: AtomicBool::new(false),
            import_during_rebuild: Some((store, feed)),
        }
    }
}

#[async_trait]
impl SearchIndex for FaultyIndex {
    fn location(&self) -> String {
        self.inner.location()
    }

    async fn apply(&self, changes: Vec<DocumentChange>) -> Result<ApplyReport, SearchError> {
        let report = self.inner.apply(changes).await?;
        if self.crash_after_first_apply.swap(false, Ordering::SeqCst) {
            return Err(SearchError::Server {
                location: self.location(),
                reason: "connection reset".into(),
                retryable: true,
            });
        }
        Ok(report)
    }

    async fn begin_rebuild(&self) -> Result<Box<dyn IndexRebuild>, SearchError> {
        let inner = self.inner.begin_rebuild().await?;
        match &self.import_during_rebuild {
            Some((store, feed)) => Ok(Box::new(ImportBeforeSwitch { inner, store: store.clone(), feed: feed.clone() })),
            None => Ok(inner),
        }
    }

    async fn search(&self, query: &SearchQuery) -> Result<SearchResults, SearchError> {
        self.inner.search(query).await
    }

    async fn count(&self) -> Result<u64, SearchError> {
        self.inner.count().await
    }

    async fn document(&self, id: Uuid) -> Result<Option<ProductDocument>, SearchError> {
        self.inner.document(id).await
    }
}

/// A rebuild during which a feed import commits, just before the switch.
struct ImportBeforeSwitch {
    inner: Box<dyn IndexRebuild>,
    store: Arc<dyn catsync::store::Store>,
    feed: std::path::PathBuf,
}

#[async_trait]
impl IndexRebuild for ImportBeforeSwitch {
    async fn write(&mut self, documents: Vec<ProductDocument>) -> Result<ApplyReport, SearchError> {
        self.inner.write(documents).await
    }

    async fn finish(self: Box<Self>) -> Result<(), SearchError> {
        let profile = catsync::source::feed::FeedProfile { distributor: "acme".into(), ..Default::default() };
        let options = catsync::source::feed::import::ImportOptions { allow_mass_deactivate: true, progress: false };
        catsync::source::feed::import::import_file(self.store.as_ref(), &profile, &self.feed, &options).await.unwrap();
        self.inner.finish().await
    }
}

async fn a_crash_before_the_outbox_is_acknowledged_resends_without_duplicates(t: &TestIndex) {
    let w = World::new().await;
    let crashing = FaultyIndex::crashing(t.index.clone());
    let failed = w.index(&crashing, false).await.unwrap_err();
    assert!(failed.contains("connection reset"), "{failed}");
    let pending = w.store.store.outbox_depth().await.unwrap();
    assert!(pending > 0, "nothing was acknowledged");
    let rerun = w.index(&*t.index, false).await.unwrap();
    assert_eq!((rerun.documents, rerun.outbox_left), (4, 0), "sent twice, indexed once: {rerun:?}");
    let runs = w.store.store.runs(Some("index"), 5).await.unwrap();
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[1].status, catsync::control::RunStatus::Failed);
}

async fn deleted_products_and_deactivated_offers_leave_the_index(t: &TestIndex) {
    let w = World::new().await;
    w.index(&*t.index, false).await.unwrap();
    let (run, sync) = w.store.begin_sync(&table()).await;
    sync.commit(sync_end(run, 0, vec!["rec2".into()], Some("w2"))).await.unwrap();
    w.reimport("b.csv", &FEED.lines().filter(|l| !l.starts_with("A3,")).map(|l| format!("{l}\n")).collect::<String>())
        .await;
    let report = w.index(&*t.index, false).await.unwrap();
    assert_eq!(report.deleted, 2, "{report:?}");
    assert!(doc(&*t.index, catalog_record_id("rec2")).await.is_none());
    assert!(doc(&*t.index, offer_id("A3")).await.is_none());
    assert_eq!(report.documents, 2);
    assert!(search(&*t.index, "watering can").await.results.is_empty());
}

async fn a_decision_moves_an_offer_from_its_own_document_to_its_product(t: &TestIndex) {
    let w = World::new().await;
    w.index(&*t.index, false).await.unwrap();
    let link = MatchDecision::Confirm { product: Some(catalog_record_id("rec2")) };
    assert!(w.store.store.decide_match(offer_id("A2"), &link, None).await.unwrap());
    w.index(&*t.index, false).await.unwrap();
    assert!(doc(&*t.index, offer_id("A2")).await.is_none());
    let bosch = doc(&*t.index, catalog_record_id("rec2")).await.unwrap();
    assert_eq!(bosch.offers.iter().map(|o| o.sku.as_str()).collect::<Vec<_>>(), vec!["A2"]);
    assert!(w.store.store.decide_match(offer_id("A2"), &MatchDecision::Reject, None).await.unwrap());
    w.index(&*t.index, false).await.unwrap();
    assert!(doc(&*t.index, catalog_record_id("rec2")).await.unwrap().offers.is_empty());
    assert_eq!(doc(&*t.index, offer_id("A2")).await.unwrap().kind, DocumentKind::Unmatched);
}

async fn a_full_rebuild_keeps_writes_made_while_it_ran(t: &TestIndex) {
    let w = World::new().await;
    w.index(&*t.index, false).await.unwrap();
    let feed = w.store.feed("during.csv", FEED.replace("9.50,0", "8.00,5"));
    let index = FaultyIndex::importing_during_rebuild(t.index.clone(), w.store.store.clone(), feed);
    let report = w.index(&index, true).await.unwrap();
    assert_eq!((report.documents, report.outbox_left), (4, 0), "{report:?}");
    let can = doc(&*t.index, offer_id("A3")).await.unwrap();
    assert_eq!((can.lowest_price, can.total_stock), (Some(8.0), 5), "the write made during the rebuild is in");
}

async fn hostile_text_survives_store_and_index(t: &TestIndex) {
    let w = World::new().await;
    let title = "Drill \"Pro\" 18V\nline two 🔧 </script><img src=x onerror=alert(1)>";
    let hostile = format!("sku,title,price\nX1,\"{}\",5\n", title.replace('"', "\"\""));
    w.store.import_with("acme", &w.store.feed("x.csv", hostile), FeedMode::Delta, false).await;
    w.index(&*t.index, false).await.unwrap();
    assert_eq!(doc(&*t.index, offer_id("X1")).await.unwrap().title, title);
    let hits = search(&*t.index, "drill pro").await;
    assert!(hits.results.iter().any(|h| h.title == title), "{hits:?}");
}
