//! Airtable → store over real HTTP against the simulator, on every store backend: first and
//! incremental syncs, edits during a listing, deletes and restores, renamed fields, faults and
//! 429 storms — and after each, the store equals Airtable row for row.

#[macro_use]
mod common;

use std::time::Duration;

use catsync::catalog::{catalog_record_id, CellValue};
use catsync::control::{ErrorType, RunStatus};
use catsync::dev::airtable_sim::{Fault, LoggedRequest};
use catsync::source::airtable::client::ListQuery;
use catsync::source::airtable::mapping::drift;
use catsync::source::airtable::SyncOptions;
use common::airtable::{field, record_id, report, AirtableWorld, BASE};
use common::TestStore;
use serde_json::json;

backend_tests!(
    first_sync_copies_every_record_and_a_second_writes_nothing,
    incremental_sync_picks_up_edits_creations_and_link_changes,
    an_edit_during_a_long_listing_is_not_lost,
    reconcile_soft_deletes_and_brings_back_restored_records,
    a_reconcile_that_would_delete_too_much_is_refused,
    renamed_fields_keep_syncing_and_a_removed_one_fails_its_table,
    a_storm_of_429s_and_server_faults_still_converges,
    an_expired_iterator_restarts_the_listing,
    links_fill_the_link_table_in_order,
    bad_values_are_rejected_alone_and_kept_raw,
);

async fn first_sync_copies_every_record_and_a_second_writes_nothing(t: &TestStore) {
    let world = AirtableWorld::new(250, 7).await;
    let reports = world.sync(t.store.as_ref(), SyncOptions::default()).await;
    let products = report(&reports, "products");
    assert_eq!(products.status, RunStatus::Succeeded, "{:?}", products.error);
    assert_eq!((products.mode, products.counts.read, products.counts.inserted), ("full", 250, 250));
    assert_eq!(report(&reports, "brands").counts.inserted, 7);
    world.assert_store_matches(t.store.as_ref(), "products").await;
    world.assert_store_matches(t.store.as_ref(), "brands").await;
    let mapping = world.mapping(t.store.as_ref(), "products").await;
    let rows = t.store.catalog_records(&mapping.catalog).await.unwrap();
    let created = rows.iter().find(|r| r.record.airtable_id == record_id(61)).unwrap().record.created_time;
    assert_eq!(created.to_rfc3339(), "2025-01-02T00:01:01+00:00", "createdTime is kept");

    let again = world.sync(t.store.as_ref(), SyncOptions::default()).await;
    let products = report(&again, "products");
    assert_eq!(products.mode, "incremental");
    assert_eq!((products.counts.inserted, products.counts.updated), (0, 0), "{products:?}");
    let rate_limited = world.sim.requests().iter().filter(|r| r.status == 429).count();
    assert_eq!(rate_limited, 0, "a normal run trips no 429");
    let listings: Vec<String> =
        world.sim.requests().iter().filter(|r| r.path.ends_with("PRODUCTS000000")).map(|r| r.query.clone()).collect();
    assert!(listings.last().unwrap().contains("filterByFormula=OR%28IS_SAME%28LAST_MODIFIED_TIME"), "{listings:?}");
    assert!(listings.iter().all(|q| q.contains("returnFieldsByFieldId=true")));
}

async fn incremental_sync_picks_up_edits_creations_and_link_changes(t: &TestStore) {
    let world = AirtableWorld::new(120, 4).await;
    world.sync(t.store.as_ref(), SyncOptions::default()).await;
    world.sim.update_record(BASE, "Products", &record_id(5), fields(json!({"Price": 10.5, "In stock": null}))).unwrap();
    world
        .sim
        .update_record(BASE, "Products", &record_id(6), fields(json!({"Brand": [common::airtable::brand_id(3)]})))
        .unwrap();
    let created =
        world.sim.create_record(BASE, "Products", fields(json!({"Name": "New saw", "SKU": "SAW-1"}))).unwrap();
    let reports = world.sync(t.store.as_ref(), SyncOptions::default()).await;
    let products = report(&reports, "products");
    assert_eq!(products.mode, "incremental");
    assert!(products.counts.read < 20, "only the window is listed: {products:?}");
    assert_eq!((products.counts.inserted, products.counts.updated), (1, 2), "{products:?}");
    // Relinking moved the product between brands: both brands' inverse links changed too.
    assert_eq!(report(&reports, "brands").counts.updated, 2);
    world.assert_store_matches(t.store.as_ref(), "products").await;
    world.assert_store_matches(t.store.as_ref(), "brands").await;
    let mapping = world.mapping(t.store.as_ref(), "products").await;
    let rows = t.store.catalog_records(&mapping.catalog).await.unwrap();
    let row = rows.iter().find(|r| r.record.airtable_id == created).unwrap();
    assert_eq!(row.record.id, catalog_record_id(&created));
    let in_stock = mapping.catalog.columns.iter().position(|c| c.name == "in_stock").unwrap();
    let edited = rows.iter().find(|r| r.record.airtable_id == record_id(5)).unwrap();
    assert_eq!(edited.record.values[in_stock], CellValue::Boolean(false), "a cleared checkbox is false");
    assert!(edited.row_version > 1);
}

async fn an_edit_during_a_long_listing_is_not_lost(t: &TestStore) {
    let world = AirtableWorld::new(400, 4).await;
    // Airtable's clock runs two minutes behind this machine's: a watermark read from the local
    // clock would start the next window after the edit below and skip it.
    world.sim.advance_clock(chrono::Duration::minutes(-2));
    world.sync(t.store.as_ref(), SyncOptions::default()).await;
    for _ in 0..3 {
        world.sim.inject(Fault::Slow(Duration::from_millis(300)));
    }
    world.sim.clear_log();
    let is_page = |r: &LoggedRequest| r.path.ends_with("PRODUCTS000000") && r.status == 200;
    let sync = world.sync(t.store.as_ref(), SyncOptions { full: true, ..SyncOptions::default() });
    let edit = async {
        while !world.sim.requests().iter().any(is_page) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // Record 0 was on the first page, already served: this listing keeps its old name.
        let name = fields(json!({"Name": "Renamed during the listing"}));
        world.sim.update_record(BASE, "Products", &record_id(0), name).unwrap();
        let edited_at = std::time::Instant::now();
        // The listing then runs for three (simulated) minutes: later pages carry later Dates, so a
        // watermark from the last answer would also skip the edit.
        world.sim.advance_clock(chrono::Duration::minutes(3));
        edited_at
    };
    let (reports, edited_at) = tokio::join!(sync, edit);
    assert_eq!(report(&reports, "products").status, RunStatus::Succeeded);
    let log = world.sim.requests();
    assert!(log.iter().any(|r| is_page(r) && r.at > edited_at), "the edit happened while the listing ran");
    let first_answer = log.iter().find(|r| is_page(r)).unwrap().time;
    let watermark = t.store.source_status("airtable:products").await.unwrap().unwrap().watermark.unwrap();
    let watermark: serde_json::Value = serde_json::from_str(&watermark).unwrap();
    let since: chrono::DateTime<chrono::Utc> = watermark["modified_since"].as_str().unwrap().parse().unwrap();
    assert!(
        (since - first_answer).num_seconds().abs() <= 1,
        "watermark {since} is not the first answer's Date {first_answer}"
    );
    // The next incremental run's window starts before the listing began: the edit is listed.
    world.sync(t.store.as_ref(), SyncOptions::default()).await;
    world.assert_store_matches(t.store.as_ref(), "products").await;
}

async fn reconcile_soft_deletes_and_brings_back_restored_records(t: &TestStore) {
    let world = AirtableWorld::new(150, 6).await;
    world.sync(t.store.as_ref(), SyncOptions::default()).await;
    for i in [3, 77] {
        world.sim.delete_record(BASE, "Products", &record_id(i)).unwrap();
    }
    let plain = world.sync(t.store.as_ref(), SyncOptions::default()).await;
    assert!(!report(&plain, "products").reconciled);
    assert_eq!(report(&plain, "products").counts.deactivated, 0, "no reconcile due: nothing deleted yet");
    let reconciled = world.sync(t.store.as_ref(), SyncOptions { reconcile: true, ..SyncOptions::default() }).await;
    let products = report(&reconciled, "products");
    assert!(products.reconciled);
    assert_eq!(products.counts.deactivated, 2);
    world.assert_store_matches(t.store.as_ref(), "products").await;

    world.sim.restore_record(BASE, "Products", &record_id(3)).unwrap();
    let back = world.sync(t.store.as_ref(), SyncOptions { reconcile: true, ..SyncOptions::default() }).await;
    assert_eq!(report(&back, "products").counts.updated, 1, "the restored record comes back");
    world.assert_store_matches(t.store.as_ref(), "products").await;
    // reconcile_every = 3: the third run after a reconcile reconciles by itself.
    world.sim.delete_record(BASE, "Products", &record_id(4)).unwrap();
    let mut reconciled_runs = Vec::new();
    for _ in 0..3 {
        let r = world.sync(t.store.as_ref(), SyncOptions::default()).await;
        reconciled_runs.push(report(&r, "products").reconciled);
    }
    assert_eq!(reconciled_runs, [false, false, true]);
    world.assert_store_matches(t.store.as_ref(), "products").await;

    world.assert_store_matches(t.store.as_ref(), "brands").await;

    // Warehouses have plain fields only: their reconcile is an id sweep, and a restored record
    // (whose modified time does not move) is fetched by RECORD_ID().
    let warehouse = common::airtable::warehouse_id(1);
    world.sim.delete_record(BASE, "Warehouses", &warehouse).unwrap();
    let swept = world.sync(t.store.as_ref(), SyncOptions { reconcile: true, ..SyncOptions::default() }).await;
    let warehouses = report(&swept, "warehouses");
    assert_eq!((warehouses.mode, warehouses.reconciled, warehouses.counts.deactivated), ("incremental", true, 1));
    world.sim.restore_record(BASE, "Warehouses", &warehouse).unwrap();
    world.sim.clear_log();
    let back = world.sync(t.store.as_ref(), SyncOptions { reconcile: true, ..SyncOptions::default() }).await;
    assert_eq!(report(&back, "warehouses").counts.updated, 1, "the restored record comes back");
    assert!(world.sim.requests().iter().any(|r| r.query.contains("RECORD_ID")), "fetched by id");
    world.assert_store_matches(t.store.as_ref(), "warehouses").await;
}

async fn a_reconcile_that_would_delete_too_much_is_refused(t: &TestStore) {
    let world = AirtableWorld::new(100, 2).await;
    world.sync(t.store.as_ref(), SyncOptions::default()).await;
    let watermark = t.store.source_status("airtable:products").await.unwrap().unwrap().watermark;
    for i in 0..30 {
        world.sim.delete_record(BASE, "Products", &record_id(i)).unwrap();
    }
    let refused = world.sync(t.store.as_ref(), SyncOptions { reconcile: true, ..SyncOptions::default() }).await;
    let products = report(&refused, "products");
    assert_eq!(products.status, RunStatus::Failed);
    let message = products.error.as_deref().unwrap();
    assert!(message.contains("refusing to delete 30 of 100") && message.contains("--allow-mass-delete"), "{message}");
    let mapping = world.mapping(t.store.as_ref(), "products").await;
    let rows = t.store.catalog_records(&mapping.catalog).await.unwrap();
    assert!(rows.iter().all(|r| r.deleted_at.is_none()));
    assert_eq!(t.store.source_status("airtable:products").await.unwrap().unwrap().watermark, watermark);
    let allowed = world
        .sync(t.store.as_ref(), SyncOptions { reconcile: true, allow_mass_delete: true, ..SyncOptions::default() })
        .await;
    assert_eq!(report(&allowed, "products").counts.deactivated, 30);
    world.assert_store_matches(t.store.as_ref(), "products").await;
}

async fn renamed_fields_keep_syncing_and_a_removed_one_fails_its_table(t: &TestStore) {
    let world = AirtableWorld::new(60, 2).await;
    world.sync(t.store.as_ref(), SyncOptions::default()).await;
    // `price` pins its field id in the config; `sku` names its field only, and the id the first
    // sync resolved is remembered with the watermark.
    world.sim.rename_field(BASE, "Products", &field("PRICE"), "List price").unwrap();
    world.sim.rename_field(BASE, "Products", "SKU", "Item code").unwrap();
    world
        .sim
        .update_record(BASE, "Products", &record_id(1), fields(json!({"List price": 1.25, "Item code": "NEW-1"})))
        .unwrap();
    let reports = world.sync(t.store.as_ref(), SyncOptions::default()).await;
    let products = report(&reports, "products");
    assert_eq!(products.status, RunStatus::Succeeded, "{:?}", products.error);
    assert_eq!((products.mode, products.counts.updated), ("incremental", 1), "a rename forces no full sync");
    world.assert_store_matches(t.store.as_ref(), "products").await;
    let section = &world.config.airtable.as_ref().unwrap().tables[0];
    let schema = world.client().base_schema(BASE).await.unwrap();
    let remembered = catsync::source::airtable::sync::remembered_fields(t.store.as_ref(), "products").await.unwrap();
    let drifts: Vec<String> = drift(section, &schema, &remembered).iter().map(|d| d.to_string()).collect();
    assert!(drifts.iter().any(|d| d.contains("renamed from \"SKU\" to \"Item code\"")), "{drifts:?}");
    assert!(drifts.iter().any(|d| d.contains("renamed from \"Price\" to \"List price\"")), "{drifts:?}");

    world.sim.remove_field(BASE, "Products", "Qty").unwrap();
    let reports = world.sync(t.store.as_ref(), SyncOptions::default()).await;
    let products = report(&reports, "products");
    assert_eq!(products.status, RunStatus::Failed);
    let message = products.error.as_deref().unwrap();
    assert!(message.contains("no field \"Qty\" for column \"qty\"") && message.contains("catsync check"), "{message}");
    assert_eq!(report(&reports, "brands").status, RunStatus::Succeeded, "the other table is not affected");
}

async fn a_storm_of_429s_and_server_faults_still_converges(t: &TestStore) {
    let world = AirtableWorld::new(300, 3).await;
    world.sync(t.store.as_ref(), SyncOptions::default()).await;
    for i in 0..40 {
        world.sim.update_record(BASE, "Products", &record_id(i * 7), fields(json!({"Qty": 1000 + i}))).unwrap();
    }
    world.sim.inject(Fault::RateLimit(3));
    world.sim.inject(Fault::Status { status: 500, retry_after: None });
    world.sim.inject(Fault::Status { status: 503, retry_after: Some(1) });
    world.sim.inject(Fault::Drop);
    world.sim.inject(Fault::NonJson(502));
    world.sim.inject(Fault::Status { status: 502, retry_after: None });
    let reports = world.sync(t.store.as_ref(), SyncOptions { full: true, ..SyncOptions::default() }).await;
    for r in &reports {
        assert_eq!(r.status, RunStatus::Succeeded, "{}: {:?}", r.table, r.error);
    }
    assert_eq!(report(&reports, "products").counts.updated, 40);
    let statuses: Vec<u16> = world.sim.requests().iter().map(|r| r.status).collect();
    assert!(statuses.contains(&429) && statuses.contains(&503), "the faults were served: {statuses:?}");
    world.assert_store_matches(t.store.as_ref(), "products").await;
    world.assert_store_matches(t.store.as_ref(), "brands").await;
}

async fn an_expired_iterator_restarts_the_listing(t: &TestStore) {
    let world = AirtableWorld::new(500, 2).await;
    let sync = world.sync(t.store.as_ref(), SyncOptions::default());
    let expire = async {
        while !world.sim.requests().iter().any(|r| r.query.contains("offset=itr")) {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        world.sim.expire_iterators();
    };
    let (reports, ()) = tokio::join!(sync, expire);
    let products = report(&reports, "products");
    assert_eq!(products.status, RunStatus::Succeeded, "{:?}", products.error);
    assert!(products.listing_restarts >= 1, "{products:?}");
    assert_eq!(products.counts.inserted, 500);
    assert_eq!(products.counts.read, 500, "records listed twice are counted once");
    world.assert_store_matches(t.store.as_ref(), "products").await;
}

async fn links_fill_the_link_table_in_order(t: &TestStore) {
    let world = AirtableWorld::new(12, 3).await;
    world.sync(t.store.as_ref(), SyncOptions::default()).await;
    let brands = world.mapping(t.store.as_ref(), "brands").await;
    let links = t.store.catalog_links(&brands.catalog, "product_ids").await.unwrap();
    assert_eq!(links.len(), 12);
    let brand0: Vec<_> =
        links.iter().filter(|l| l.record_id == catalog_record_id(&common::airtable::brand_id(0))).collect();
    let expected: Vec<_> = [0, 3, 6, 9].iter().map(|p| catalog_record_id(&record_id(*p))).collect();
    assert_eq!(brand0.iter().map(|l| l.linked_id).collect::<Vec<_>>(), expected);
    assert_eq!(brand0.iter().map(|l| l.position).collect::<Vec<_>>(), [0, 1, 2, 3]);
}

async fn bad_values_are_rejected_alone_and_kept_raw(t: &TestStore) {
    let world = AirtableWorld::new(30, 2).await;
    world
        .sim
        .update_record(BASE, "Products", &record_id(2), fields(json!({"UPC": "not a code", "Price": 12})))
        .unwrap();
    let reports = world.sync(t.store.as_ref(), SyncOptions::default()).await;
    let products = report(&reports, "products");
    assert_eq!(products.status, RunStatus::Succeeded);
    assert_eq!((products.counts.inserted, products.counts.rejected), (30, 1));
    let errors = t.store.sync_errors(50).await.unwrap();
    let error = errors.iter().find(|e| e.record_id.as_deref() == Some(&record_id(2))).unwrap();
    assert_eq!(error.error_type, ErrorType::Rejected);
    assert!(
        error.error_message.contains("field \"UPC\"") && error.error_message.contains("not a code"),
        "{}",
        error.error_message
    );
    assert_eq!(error.record_data["record"]["fields"][field("UPC")], "not a code");
    let mapping = world.mapping(t.store.as_ref(), "products").await;
    let rows = t.store.catalog_records(&mapping.catalog).await.unwrap();
    let row = rows.iter().find(|r| r.record.airtable_id == record_id(2)).unwrap();
    let (gtin, price) = (column(&mapping, "gtin"), column(&mapping, "price"));
    assert_eq!(row.record.values[gtin], CellValue::Null);
    assert_eq!(row.record.values[price], CellValue::Numeric(12.into()), "the rest of the record is stored");
}

fn column(mapping: &catsync::source::airtable::TableMapping, name: &str) -> usize {
    mapping.catalog.columns.iter().position(|c| c.name == name).unwrap()
}

fn fields(v: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
    v.as_object().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_too_long_for_a_url_goes_in_a_post_body() {
    let world = AirtableWorld::new(700, 2).await;
    let ids: Vec<String> = (0..600).map(|i| format!("RECORD_ID()='{}'", record_id(i))).collect();
    let query = ListQuery { fields: vec![field("SKU")], filter: Some(format!("OR({})", ids.join(","))) };
    let client = world.client();
    let (mut offset, mut listed) = (None, Vec::new());
    loop {
        let page = client.list_page(BASE, "Products", &query, offset.as_deref()).await.unwrap();
        listed.extend(page.records.into_iter().map(|r| r.id));
        match page.offset {
            Some(next) => offset = Some(next),
            None => break,
        }
    }
    assert_eq!(listed, (0..600).map(record_id).collect::<Vec<_>>());
    let log = world.sim.requests();
    assert_eq!(log.len(), 6);
    assert!(log.iter().all(|r| r.method == "POST" && r.path.ends_with("/listRecords") && r.status == 200), "{log:?}");
    assert!(log.iter().skip(1).all(|r| r.body.contains("\"offset\"")), "the offset goes in the body");
}
