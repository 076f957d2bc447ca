//! The search outbox half of the `Store` contract, run against SQLite, PostgreSQL and PostgreSQL on
//! CockroachDB's path: every write that changes a search document records the rows it changed in
//! the same transaction, and nothing else does.

#[macro_use]
mod common;

use std::collections::BTreeSet;

use catsync::catalog::{catalog_record_id, CatalogTable, CellValue};
use catsync::control::{OutboxEntity, RunStatus};
use catsync::matching::record::MatchDecision;
use catsync::product::distributor_product_id;
use catsync::source::feed::FeedMode;
use catsync::store::{CatalogRows, OfferRows};
use common::{catalog_record, catalog_table, sync_end, TestStore};
use uuid::Uuid;

backend_tests!(
    an_import_records_the_products_it_wrote_and_an_unchanged_one_records_nothing,
    a_refused_import_records_nothing,
    a_catalog_sync_records_changed_and_deleted_rows_only,
    a_decision_records_the_distributor_product_and_its_catalog_product,
    acknowledged_entries_are_gone_and_the_others_stay,
    document_rows_carry_the_standing_link,
);

async fn drained(t: &TestStore) -> BTreeSet<(OutboxEntity, Uuid)> {
    let entries = t.store.search_outbox(10_000).await.unwrap();
    let ids: Vec<i64> = entries.iter().map(|e| e.id).collect();
    t.store.acknowledge_outbox(&ids, None).await.unwrap();
    entries.into_iter().map(|e| (e.entity, e.entity_id)).collect()
}

fn offers(skus: &[&str]) -> BTreeSet<(OutboxEntity, Uuid)> {
    skus.iter().map(|s| (OutboxEntity::Offer, distributor_product_id("acme", s))).collect()
}

fn products(ids: &[&str]) -> BTreeSet<(OutboxEntity, Uuid)> {
    ids.iter().map(|s| (OutboxEntity::Product, catalog_record_id(s))).collect()
}

async fn an_import_records_the_products_it_wrote_and_an_unchanged_one_records_nothing(t: &TestStore) {
    let first = t.feed("a.csv", "sku,title,price\nA,Drill,10\nB,Saw,20\nC,Hose,5\n");
    t.import("acme", &first, FeedMode::Full).await;
    assert_eq!(drained(t).await, offers(&["A", "B", "C"]));
    t.import("acme", &first, FeedMode::Full).await;
    assert_eq!(drained(t).await, offers(&[]), "an unchanged file changes no document");
    let second = t.feed("b.csv", "sku,title,price\nA,Drill,11\nB,Saw,20\nD,Rake,7\n");
    t.import_with("acme", &second, FeedMode::Full, true).await;
    assert_eq!(drained(t).await, offers(&["A", "C", "D"]), "changed, deactivated and new; not the unchanged B");
}

async fn a_refused_import_records_nothing(t: &TestStore) {
    let first = t.feed("a.csv", "sku,title,price\nA,Drill,10\nB,Saw,20\nC,Hose,5\n");
    t.import("acme", &first, FeedMode::Full).await;
    drained(t).await;
    let truncated = t.feed("b.csv", "sku,title,price\nA,Drill,12\n");
    let report = t.import("acme", &truncated, FeedMode::Full).await;
    assert_eq!(report.status, RunStatus::Failed, "the mass-deactivation guard refuses it");
    assert_eq!(t.store.outbox_depth().await.unwrap(), 0, "the outbox commits with the rows or not at all");
}

fn table() -> CatalogTable {
    catalog_table("products", &[("name", "text")])
}

async fn a_catalog_sync_records_changed_and_deleted_rows_only(t: &TestStore) {
    let name = |s: &str| vec![CellValue::Text(s.into())];
    let records = vec![catalog_record("rec1", name("Drill")), catalog_record("rec2", name("Saw"))];
    t.sync(&table(), records.clone(), "w1").await;
    assert_eq!(drained(t).await, products(&["rec1", "rec2"]));
    t.sync(&table(), vec![records[0].clone(), catalog_record("rec2", name("Circular saw"))], "w2").await;
    assert_eq!(drained(t).await, products(&["rec2"]), "rec1 did not change");
    let (run, sync) = t.begin_sync(&table()).await;
    sync.commit(sync_end(run, 0, vec!["rec1".into()], Some("w3"))).await.unwrap();
    assert_eq!(drained(t).await, products(&["rec1"]), "a soft delete removes a document");
}

async fn a_decision_records_the_distributor_product_and_its_catalog_product(t: &TestStore) {
    t.sync(&table(), vec![catalog_record("rec1", vec![CellValue::Text("Drill".into())])], "w1").await;
    let feed = t.feed("a.csv", "sku,title,price\nA,Drill,10\n");
    t.import("acme", &feed, FeedMode::Full).await;
    drained(t).await;
    let link = MatchDecision::Confirm { product: Some(catalog_record_id("rec1")) };
    assert!(t.store.decide_match(distributor_product_id("acme", "A"), &link, None).await.unwrap());
    let mut expected = offers(&["A"]);
    expected.extend(products(&["rec1"]));
    assert_eq!(drained(t).await, expected);
    let reject = MatchDecision::Reject;
    assert!(t.store.decide_match(distributor_product_id("acme", "A"), &reject, None).await.unwrap());
    assert_eq!(drained(t).await, expected, "the product loses its offer, the offer becomes unmatched");
}

async fn acknowledged_entries_are_gone_and_the_others_stay(t: &TestStore) {
    let feed = t.feed("a.csv", "sku,title,price\nA,Drill,10\nB,Saw,20\nC,Hose,5\n");
    t.import("acme", &feed, FeedMode::Full).await;
    let entries = t.store.search_outbox(2).await.unwrap();
    assert_eq!(entries.len(), 2);
    t.store.acknowledge_outbox(&[entries[0].id], None).await.unwrap();
    assert_eq!(t.store.outbox_depth().await.unwrap(), 2);
    let left: Vec<i64> = t.store.search_outbox(10).await.unwrap().iter().map(|e| e.id).collect();
    assert!(!left.contains(&entries[0].id) && left.contains(&entries[1].id), "{left:?}");
}

async fn document_rows_carry_the_standing_link(t: &TestStore) {
    let name = |s: &str| vec![CellValue::Text(s.into())];
    t.sync(&table(), vec![catalog_record("rec1", name("Drill")), catalog_record("rec2", name("Saw"))], "w1").await;
    let feed = t.feed("a.csv", "sku,title,price,qty\nA,Drill,10.5,3\nB,Saw,20,0\n");
    t.import("acme", &feed, FeedMode::Full).await;
    let (a, b) = (distributor_product_id("acme", "A"), distributor_product_id("acme", "B"));
    let link = MatchDecision::Confirm { product: Some(catalog_record_id("rec1")) };
    t.store.decide_match(a, &link, None).await.unwrap();
    let rows = t.store.document_offers(&OfferRows::Ids(vec![a, b])).await.unwrap();
    let a_row = rows.iter().find(|o| o.id == a).unwrap();
    assert_eq!(
        (a_row.linked_product, a_row.price, a_row.quantity),
        (Some(catalog_record_id("rec1")), Some(10.5), Some(3))
    );
    let linked = t.store.document_offers(&OfferRows::LinkedTo(vec![catalog_record_id("rec1")])).await.unwrap();
    assert_eq!(linked.iter().map(|o| o.sku.as_str()).collect::<Vec<_>>(), vec!["A"]);
    let unlinked = t.store.document_offers(&OfferRows::UnlinkedAfter { after: None, limit: 10 }).await.unwrap();
    assert_eq!(unlinked.iter().map(|o| o.sku.as_str()).collect::<Vec<_>>(), vec!["B"]);
    let page = t.store.catalog_rows(&table(), &CatalogRows::LiveAfter { after: None, limit: 1 }).await.unwrap();
    let rest = t
        .store
        .catalog_rows(&table(), &CatalogRows::LiveAfter { after: Some(page[0].record.id), limit: 10 })
        .await
        .unwrap();
    assert_eq!((page.len(), rest.len()), (1, 1), "pages follow each other in id order");
    assert!(page[0].record.id < rest[0].record.id);
}
