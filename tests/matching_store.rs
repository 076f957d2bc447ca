//! `catsync match` over the store, written once and run against SQLite, PostgreSQL and PostgreSQL
//! on CockroachDB's path: links and their `id_mappings`, incremental rematching (changed offers,
//! changed and deleted catalog products, deactivated offers), and people's decisions surviving runs.

#[macro_use]
mod common;

use std::collections::HashMap;
use std::path::Path;

use catsync::catalog::{catalog_record_id, CatalogRecord, CatalogRoles, CatalogTable, CellValue};
use catsync::config::Config;
use catsync::control::{ControlAdvance, RunRecord, RunStatus};
use catsync::gtin::check_digit;
use catsync::matching::aliases::BrandAliases;
use catsync::matching::record::{MatchDecision, MatchFilter, MatchingCommit, ProductMatch};
use catsync::matching::run::{run_matching, MatchReport, MatchRun};
use catsync::matching::{MatchOptions, Method, Status};
use catsync::product::distributor_product_id;
use catsync::source::feed::FeedMode;
use common::{catalog_record, catalog_table, sync_end, TestStore, CATALOG_CONFIG};
use rust_decimal::Decimal;
use uuid::Uuid;

backend_tests!(
    a_run_links_by_gtin_and_part_number_and_maps_the_links,
    a_run_with_nothing_changed_examines_nothing_and_writes_nothing,
    decisions_survive_a_full_rematch_and_a_rejected_pair_is_never_proposed_again,
    a_changed_distributor_product_is_rematched_alone,
    a_new_catalog_product_is_offered_to_the_distributor_products_it_fits,
    a_deleted_catalog_product_loses_its_links,
    a_deactivated_distributor_product_loses_its_link_and_gets_it_back_when_it_returns,
    a_decision_made_while_a_run_was_matching_is_not_overwritten,
    a_person_can_link_a_product_by_hand,
);

/// A GTIN-13 from its first 12 digits.
fn gtin(body: &str) -> String {
    format!("{body}{}", check_digit(body))
}

fn table() -> CatalogTable {
    catalog_table(
        "products",
        &[("name", "text"), ("brand", "text"), ("mpn", "text"), ("gtin", "gtin"), ("price", "numeric")],
    )
}

fn product(id: &str, name: &str, brand: &str, mpn: &str, gtin: &str, price: i64) -> CatalogRecord {
    let text = |s: &str| if s.is_empty() { CellValue::Null } else { CellValue::Text(s.into()) };
    catalog_record(id, vec![text(name), text(brand), text(mpn), text(gtin), CellValue::Numeric(Decimal::new(price, 0))])
}

fn catalog() -> Vec<CatalogRecord> {
    vec![
        product(
            "rec1",
            "Bosch 12V Max Drill/Driver GSR12V-300B22",
            "Bosch",
            "GSR12V-300B22",
            &gtin("400123400001"),
            99,
        ),
        product("rec2", "Makita 18V LXT Impact Driver XDT13Z", "Makita", "XDT13Z", &gtin("008825600002"), 129),
        product("rec3", "DeWalt 20V MAX 7-1/4 in. Circular Saw DCS391B", "DeWalt", "DCS391B", "", 149),
        product("rec4", "Flexzilla Garden Hose 5/8 in. x 50 ft", "Flexzilla", "HFZG550YW", "", 39),
    ]
}

/// The distributor's file: a GTIN (as a UPC-A), a reformatted part number, a title alone, and a
/// product the catalog does not carry.
fn feed(saw_title: &str) -> String {
    format!(
        "sku,gtin,mpn,brand,title,price,qty\n\
         A1,{},,MAKITA,Makita impact driver 18 volt bare tool,119.00,4\n\
         A2,,GSR12V300B22,BOSCH,BOSCH GSR12V-300 DRILL 12V,92.50,7\n\
         A3,,,DEWALT,{saw_title},139.00,2\n\
         A5,{},,Acme Garden,Acme kink-free coil hose 25 ft,19.99,30\n",
        &gtin("008825600002")[1..],
        gtin("761234500005"),
    )
}

async fn setup(t: &TestStore) {
    t.sync(&table(), catalog(), "w1").await;
    let path = t.feed("acme.csv", feed("Cordless trim saw 20 volt"));
    t.import("acme", &path, FeedMode::Full).await;
}

async fn run(t: &TestStore, full: bool) -> MatchReport {
    let table = t.store.catalog_table("products").await.unwrap().expect("the catalog table is stored");
    let config = Config::parse(CATALOG_CONFIG, Path::new("test.toml")).unwrap();
    let roles = CatalogRoles::new(config.catalog.as_ref().unwrap(), &table);
    let run = MatchRun {
        table: &table,
        roles: &roles,
        options: MatchOptions::default(),
        aliases: BrandAliases::default(),
        full,
        progress: None,
    };
    run_matching(t.store.as_ref(), run).await.unwrap()
}

/// SKU → (catalog Airtable id, status, method) of every stored match.
async fn matches(t: &TestStore) -> HashMap<String, (String, Status, Method)> {
    let airtable_id: HashMap<Uuid, String> =
        catalog().iter().chain(&extra()).map(|r| (r.id, r.airtable_id.clone())).collect();
    let rows = t.store.product_matches(&MatchFilter::default()).await.unwrap();
    rows.into_iter()
        .map(|m| {
            let p = &m.product_match;
            (m.offer.sku.clone(), (airtable_id[&p.product_id].clone(), p.status, p.method))
        })
        .collect()
}

fn extra() -> Vec<CatalogRecord> {
    vec![product("rec6", "Acme Kink-Free Coil Garden Hose 25 ft", "Acme Garden", "", &gtin("761234500005"), 21)]
}

/// SKU → catalog product id text of the `id_mappings` rows of distributor acme.
async fn mappings(t: &TestStore) -> HashMap<String, String> {
    let rows = t
        .sql_rows(
            "SELECT source_id, target_id FROM id_mappings WHERE source_system = 'distributor:acme' AND target_system = 'catalog'",
        )
        .await;
    rows.into_iter().map(|r| (r[0].clone().unwrap(), r[1].clone().unwrap())).collect()
}

fn offer(sku: &str) -> Uuid {
    distributor_product_id("acme", sku)
}

async fn a_run_links_by_gtin_and_part_number_and_maps_the_links(t: &TestStore) {
    setup(t).await;
    let report = run(t, false).await;
    assert_eq!((report.catalog_products, report.offers_examined), (4, 4));
    let found = matches(t).await;
    assert_eq!(found["A1"], ("rec2".into(), Status::Auto, Method::Gtin), "a UPC-A is its EAN-13");
    assert_eq!(found["A2"], ("rec1".into(), Status::Auto, Method::Mpn), "GSR12V300B22 = GSR12V-300B22");
    assert!(!found.contains_key("A5"), "a product the catalog lacks stays unlinked: {found:?}");
    if let Some((product, status, _)) = found.get("A3") {
        assert_eq!((product.as_str(), *status), ("rec3", Status::Review), "a title alone is at most a review case");
    }
    let mapped = mappings(t).await;
    assert_eq!(mapped.len(), 2, "only standing links are mapped: {mapped:?}");
    assert_eq!(mapped["A1"], catalog_record_id("rec2").to_string());
    let evidence =
        &t.store.product_matches(&MatchFilter { ids: Some(vec![offer("A1")]), ..Default::default() }).await.unwrap()[0];
    assert_eq!(evidence.product_match.evidence["gtin"], "agree");
    assert_eq!(evidence.offer.title.as_deref(), Some("Makita impact driver 18 volt bare tool"));
    let run = &t.store.runs(Some("matching"), 1).await.unwrap()[0];
    assert_eq!((run.status, run.counts.read, run.counts.inserted), (RunStatus::Succeeded, 4, found.len() as u64));
}

async fn a_run_with_nothing_changed_examines_nothing_and_writes_nothing(t: &TestStore) {
    setup(t).await;
    run(t, false).await;
    let before = t.store.product_matches(&MatchFilter::default()).await.unwrap();
    let again = run(t, false).await;
    assert_eq!((again.offers_examined, again.catalog_changed), (0, 0));
    assert_eq!((again.counts.inserted, again.counts.updated, again.counts.deactivated), (0, 0, 0));
    let full = run(t, true).await;
    assert_eq!(full.offers_examined, 4);
    assert_eq!((full.counts.inserted, full.counts.updated, full.counts.deactivated), (0, 0, 0), "{full:?}");
    let after = t.store.product_matches(&MatchFilter::default()).await.unwrap();
    let updated = |rows: &[catsync::matching::record::MatchedOffer]| {
        rows.iter().map(|m| (m.offer.sku.clone(), m.product_match.updated_at)).collect::<HashMap<_, _>>()
    };
    assert_eq!(updated(&before), updated(&after), "an unchanged result is not rewritten");
}

async fn decisions_survive_a_full_rematch_and_a_rejected_pair_is_never_proposed_again(t: &TestStore) {
    setup(t).await;
    run(t, false).await;
    let store = &t.store;
    assert!(store.decide_match(offer("A1"), &MatchDecision::Confirm { product: None }, None).await.unwrap());
    assert!(store.decide_match(offer("A2"), &MatchDecision::Reject, Some("12 V, not 18 V")).await.unwrap());
    assert!(!store.decide_match(offer("A5"), &MatchDecision::Reject, None).await.unwrap(), "A5 has no match");
    assert_eq!(mappings(t).await.keys().collect::<Vec<_>>(), vec!["A1"], "a rejected link is unmapped");

    run(t, true).await;
    let found = matches(t).await;
    assert_eq!(found["A1"], ("rec2".into(), Status::Confirmed, Method::Gtin));
    assert_eq!(found["A2"], ("rec1".into(), Status::Rejected, Method::Mpn));
    let rejected =
        &store.product_matches(&MatchFilter { ids: Some(vec![offer("A2")]), ..Default::default() }).await.unwrap()[0];
    assert_eq!(rejected.product_match.note.as_deref(), Some("12 V, not 18 V"));
    assert!(rejected.product_match.decided_at.is_some());

    assert!(store.decide_match(offer("A2"), &MatchDecision::Reset, None).await.unwrap());
    let rematch = run(t, false).await;
    assert_eq!(rematch.offers_examined, 1, "a reset product is matched again");
    let found = matches(t).await;
    assert_ne!(found.get("A2").map(|m| m.0.as_str()), Some("rec1"), "the rejected pair came back: {found:?}");
    assert_eq!(store.match_rejections().await.unwrap(), vec![(offer("A2"), catalog_record_id("rec1"))]);
}

async fn a_changed_distributor_product_is_rematched_alone(t: &TestStore) {
    setup(t).await;
    run(t, false).await;
    let path = t.feed("acme2.csv", feed("DEWALT DCS391B 20V MAX CIRCULAR SAW 7-1/4"));
    t.import("acme", &path, FeedMode::Full).await;
    let report = run(t, false).await;
    assert_eq!(report.offers_examined, 1, "{report:?}");
    assert_eq!(matches(t).await["A3"], ("rec3".into(), Status::Auto, Method::Mpn));
    assert_eq!(mappings(t).await["A3"], catalog_record_id("rec3").to_string());
}

async fn a_new_catalog_product_is_offered_to_the_distributor_products_it_fits(t: &TestStore) {
    setup(t).await;
    run(t, false).await;
    assert!(!matches(t).await.contains_key("A5"));
    let mut records = catalog();
    records.extend(extra());
    t.sync(&table(), records, "w2").await;
    let report = run(t, false).await;
    assert_eq!(report.catalog_changed, 1);
    assert!(report.offers_examined < 4, "only offers near the new product are rematched: {report:?}");
    assert_eq!(matches(t).await["A5"], ("rec6".into(), Status::Auto, Method::Gtin));
}

async fn a_deleted_catalog_product_loses_its_links(t: &TestStore) {
    setup(t).await;
    run(t, false).await;
    let (run_record, sync) = t.begin_sync(&table()).await;
    sync.commit(sync_end(run_record, 0, vec!["rec2".into()], Some("w2"))).await.unwrap();
    let report = run(t, false).await;
    assert_eq!(report.catalog_changed, 1);
    let found = matches(t).await;
    assert_ne!(found.get("A1").map(|m| m.0.as_str()), Some("rec2"), "{found:?}");
    assert!(!mappings(t).await.contains_key("A1"));
}

async fn a_deactivated_distributor_product_loses_its_link_and_gets_it_back_when_it_returns(t: &TestStore) {
    setup(t).await;
    run(t, false).await;
    let without_a1: String =
        feed("Cordless trim saw 20 volt").lines().filter(|l| !l.starts_with("A1,")).map(|l| format!("{l}\n")).collect();
    let path = t.feed("acme3.csv", without_a1);
    t.import_with("acme", &path, FeedMode::Full, true).await;
    let report = run(t, false).await;
    assert_eq!(report.counts.deactivated, 1, "{report:?}");
    assert!(!matches(t).await.contains_key("A1"));
    assert!(!mappings(t).await.contains_key("A1"));
    assert!(mappings(t).await.contains_key("A2"));

    // Back unchanged: its content hash is the one it was matched at, and still it is matched again.
    let path = t.feed("acme4.csv", feed("Cordless trim saw 20 volt"));
    t.import("acme", &path, FeedMode::Full).await;
    let report = run(t, false).await;
    assert_eq!(report.offers_examined, 1, "{report:?}");
    assert_eq!(matches(t).await["A1"].0, "rec2");
    assert_eq!(mappings(t).await["A1"], catalog_record_id("rec2").to_string());
}

async fn a_decision_made_while_a_run_was_matching_is_not_overwritten(t: &TestStore) {
    setup(t).await;
    run(t, false).await;
    let current =
        t.store.product_matches(&MatchFilter { ids: Some(vec![offer("A2")]), ..Default::default() }).await.unwrap();
    // The run read A2 as automatic; a person confirms it before the run commits its new result.
    assert!(t.store.decide_match(offer("A2"), &MatchDecision::Confirm { product: None }, None).await.unwrap());
    let late = ProductMatch {
        product_id: catalog_record_id("rec3"),
        status: Status::Review,
        score: 0.6,
        ..current[0].product_match.clone()
    };
    let mut record = RunRecord::start("matching");
    t.store.start_run(&record).await.unwrap();
    record.finish(RunStatus::Succeeded, None);
    let commit = MatchingCommit {
        upserts: vec![late],
        unlinked: vec![],
        examined: vec![],
        catalog_changed: vec![],
        catalog_removed: vec![],
        run: record,
        advance: ControlAdvance { watermark: None, metrics: serde_json::json!({}) },
    };
    t.store.commit_matching(commit).await.unwrap();
    assert_eq!(matches(t).await["A2"], ("rec1".into(), Status::Confirmed, Method::Mpn));
    assert_eq!(mappings(t).await["A2"], catalog_record_id("rec1").to_string());
}

async fn a_person_can_link_a_product_by_hand(t: &TestStore) {
    setup(t).await;
    run(t, false).await;
    let hand = MatchDecision::Confirm { product: Some(catalog_record_id("rec4")) };
    assert!(t.store.decide_match(offer("A5"), &hand, Some("same hose, other brand")).await.unwrap());
    assert!(!t.store.decide_match(offer("NOPE"), &hand, None).await.unwrap(), "no such distributor product");
    run(t, true).await;
    assert_eq!(matches(t).await["A5"], ("rec4".into(), Status::Confirmed, Method::Manual));
    assert_eq!(mappings(t).await["A5"], catalog_record_id("rec4").to_string());
}
