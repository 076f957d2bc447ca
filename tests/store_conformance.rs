//! The `Store` contract, written once and run against every backend: SQLite, PostgreSQL through
//! COPY + merge, and PostgreSQL through the batched-upsert path CockroachDB uses.

#[macro_use]
mod common;

use catsync::control::{ErrorType, RunStatus};
use catsync::source::feed::FeedMode;
use catsync::store::SCHEMA_VERSION;
use common::{feed_csv, TestStore};

fn dec(s: &str) -> rust_decimal::Decimal {
    s.parse().unwrap()
}

backend_tests!(
    schema_is_created_once_and_reports_its_version,
    first_import_inserts_every_row_with_deterministic_ids,
    reimport_of_unchanged_feed_writes_nothing,
    changed_rows_are_rewritten_and_versioned,
    full_snapshot_deactivates_missing_skus_and_reactivates_returning_ones,
    delta_import_deactivates_nothing,
    a_rejected_row_keeps_its_stored_product_active,
    truncated_file_refuses_mass_deactivation_and_changes_nothing,
    mass_deactivation_goes_through_when_allowed,
    duplicate_skus_last_row_wins_and_reimport_stays_a_no_op,
    rejected_rows_are_kept_with_their_raw_data,
    unreadable_file_fails_the_run_and_records_why,
    abandoned_import_leaves_the_previous_state,
    sync_control_accumulates_totals_and_moves_the_watermark,
    values_survive_the_round_trip,
);

async fn schema_is_created_once_and_reports_its_version(t: &TestStore) {
    assert_eq!(t.store.schema_version().await.unwrap(), SCHEMA_VERSION);
    // Opening again migrates nothing and keeps the data.
    let path = t.feed("a.csv", feed_csv(3, 10));
    t.import("acme", &path, FeedMode::Full).await;
    let again = catsync::store::open(&t.url).await.unwrap();
    assert_eq!(again.schema_version().await.unwrap(), SCHEMA_VERSION);
    assert_eq!(again.distributor_products("acme").await.unwrap().len(), 3);
}

async fn first_import_inserts_every_row_with_deterministic_ids(t: &TestStore) {
    let path = t.feed("a.csv", feed_csv(250, 10));
    let r = t.import("acme", &path, FeedMode::Full).await;
    assert_eq!(r.status, RunStatus::Succeeded);
    assert_eq!((r.counts.read, r.counts.inserted, r.counts.updated, r.counts.unchanged), (250, 250, 0, 0));
    let rows = t.products("acme").await;
    assert_eq!(rows.len(), 250);
    let first = &rows[0];
    assert_eq!(first.product.sku, "SKU-0000");
    assert_eq!(first.product.id, catsync::product::distributor_product_id("acme", "SKU-0000"));
    assert!(first.product.active);
    assert_eq!(first.row_version, 1);
}

async fn reimport_of_unchanged_feed_writes_nothing(t: &TestStore) {
    let path = t.feed("a.csv", feed_csv(300, 10));
    t.import("acme", &path, FeedMode::Full).await;
    let before = t.products("acme").await;
    let r = t.import("acme", &path, FeedMode::Full).await;
    assert_eq!((r.counts.inserted, r.counts.updated, r.counts.unchanged, r.counts.deactivated), (0, 0, 300, 0));
    let after = t.products("acme").await;
    for (b, a) in before.iter().zip(&after) {
        assert_eq!((b.row_version, b.updated_at), (a.row_version, a.updated_at), "{} was rewritten", a.product.sku);
    }
}

async fn changed_rows_are_rewritten_and_versioned(t: &TestStore) {
    t.import("acme", &t.feed("a.csv", feed_csv(20, 10)), FeedMode::Full).await;
    let changed = feed_csv(20, 10).replace("SKU-0003,,Brand3,Product 3,13.50", "SKU-0003,,Brand3,Product 3,99.95");
    let r = t.import("acme", &t.feed("b.csv", changed), FeedMode::Full).await;
    assert_eq!((r.counts.inserted, r.counts.updated, r.counts.unchanged), (0, 1, 19));
    let row = t.products("acme").await.into_iter().find(|p| p.product.sku == "SKU-0003").unwrap();
    assert_eq!(row.product.price, Some(dec("99.95")));
    assert_eq!(row.row_version, 2);
    assert!(row.updated_at > row.first_seen_at);
}

async fn full_snapshot_deactivates_missing_skus_and_reactivates_returning_ones(t: &TestStore) {
    t.import("acme", &t.feed("a.csv", feed_csv(20, 10)), FeedMode::Full).await;
    // Two SKUs (10%) are gone from the next snapshot.
    let without: String = feed_csv(20, 10)
        .lines()
        .filter(|l| !l.starts_with("SKU-0004") && !l.starts_with("SKU-0007"))
        .map(|l| format!("{l}\n"))
        .collect();
    let r = t.import("acme", &t.feed("b.csv", without), FeedMode::Full).await;
    assert_eq!((r.counts.deactivated, r.counts.unchanged), (2, 18));
    let inactive: Vec<String> =
        t.products("acme").await.into_iter().filter(|p| !p.product.active).map(|p| p.product.sku).collect();
    assert_eq!(inactive, ["SKU-0004", "SKU-0007"]);
    // They come back: active again, counted as updated.
    let r = t.import("acme", &t.feed("c.csv", feed_csv(20, 10)), FeedMode::Full).await;
    assert_eq!((r.counts.updated, r.counts.deactivated), (2, 0));
    assert!(t.products("acme").await.iter().all(|p| p.product.active));
    // Other distributors are never touched.
    t.import("globex", &t.feed("g.csv", feed_csv(5, 1)), FeedMode::Full).await;
    assert_eq!(t.products("acme").await.len(), 20);
}

async fn delta_import_deactivates_nothing(t: &TestStore) {
    t.import("acme", &t.feed("a.csv", feed_csv(20, 10)), FeedMode::Full).await;
    let delta = "sku,price\nSKU-0001,1.00\nNEW-1,2.00\n";
    let r = t.import("acme", &t.feed("d.csv", delta), FeedMode::Delta).await;
    assert_eq!((r.counts.inserted, r.counts.updated, r.counts.deactivated), (1, 1, 0));
    let rows = t.products("acme").await;
    assert_eq!(rows.len(), 21);
    assert!(rows.iter().all(|p| p.product.active));
}

async fn a_rejected_row_keeps_its_stored_product_active(t: &TestStore) {
    t.import("acme", &t.feed("a.csv", feed_csv(20, 10)), FeedMode::Full).await;
    let bad_price = feed_csv(20, 10).replace("Product 5,15.50", "Product 5,CALL");
    let r = t.import("acme", &t.feed("b.csv", bad_price), FeedMode::Full).await;
    assert_eq!((r.counts.rejected, r.counts.deactivated), (1, 0));
    let row = t.products("acme").await.into_iter().find(|p| p.product.sku == "SKU-0005").unwrap();
    assert!(row.product.active);
    assert_eq!(row.product.price, Some(dec("15.50")));
}

async fn truncated_file_refuses_mass_deactivation_and_changes_nothing(t: &TestStore) {
    t.import("acme", &t.feed("a.csv", feed_csv(100, 10)), FeedMode::Full).await;
    let before = t.products("acme").await;
    // A file cut after 70 rows, with one changed price among them.
    let truncated: String = feed_csv(70, 10).replace("Product 1,11.50", "Product 1,5.00");
    let r = t.import("acme", &t.feed("cut.csv", truncated), FeedMode::Full).await;
    assert_eq!(r.status, RunStatus::Failed);
    let error = r.error.unwrap();
    assert!(error.contains("30 of 100") && error.contains("--allow-mass-deactivate"), "{error}");
    let after = t.products("acme").await;
    assert_eq!(before.len(), after.len());
    for (b, a) in before.iter().zip(&after) {
        assert_eq!((&b.product, b.row_version), (&a.product, a.row_version));
    }
    let run = t.store.runs(Some("distributor:acme"), 1).await.unwrap().remove(0);
    assert_eq!(run.status, RunStatus::Failed);
    let status = t.store.sources().await.unwrap().remove(0);
    assert_eq!(status.records_processed, 100, "a refused run must not count as processed");
}

async fn mass_deactivation_goes_through_when_allowed(t: &TestStore) {
    t.import("acme", &t.feed("a.csv", feed_csv(100, 10)), FeedMode::Full).await;
    let r = t.import_with("acme", &t.feed("cut.csv", feed_csv(10, 10)), FeedMode::Full, true).await;
    assert_eq!((r.status, r.counts.deactivated), (RunStatus::Succeeded, 90));
}

async fn duplicate_skus_last_row_wins_and_reimport_stays_a_no_op(t: &TestStore) {
    let feed = "sku,price,title\nA,1.00,first\nB,2.00,bee\nA,3.00,second\n";
    let path = t.feed("dup.csv", feed);
    let r = t.import("acme", &path, FeedMode::Full).await;
    assert_eq!((r.counts.read, r.counts.inserted, r.counts.warnings), (3, 2, 1));
    let a = t.products("acme").await.into_iter().find(|p| p.product.sku == "A").unwrap();
    assert_eq!((a.product.title.as_deref(), a.product.price), (Some("second"), Some(dec("3.00"))));
    let r = t.import("acme", &path, FeedMode::Full).await;
    assert_eq!((r.counts.inserted, r.counts.updated, r.counts.unchanged), (0, 0, 2));
    let again = t.products("acme").await.into_iter().find(|p| p.product.sku == "A").unwrap();
    assert_eq!(again.row_version, 1);
    let warning =
        t.store.sync_errors(10).await.unwrap().into_iter().find(|e| e.error_type == ErrorType::Warning).unwrap();
    assert!(
        warning.error_message.contains("line 4") && warning.error_message.contains("also appears on line 2"),
        "{}",
        warning.error_message
    );
}

async fn rejected_rows_are_kept_with_their_raw_data(t: &TestStore) {
    let path = t.feed("bad2.csv", "sku,price,qty\nA,1.00,1\nB,\"12,5O\",2\n,3.00,3\nC,4.00,-2\n");
    let r = t.import("globex", &path, FeedMode::Full).await;
    assert_eq!((r.counts.read, r.counts.rejected, r.counts.warnings), (4, 2, 1));
    assert_eq!(t.products("globex").await.len(), 2);
    let errors = t.store.sync_errors(100).await.unwrap();
    let bad_price = errors.iter().find(|e| e.record_id.as_deref() == Some("B")).unwrap();
    assert_eq!(bad_price.error_type, ErrorType::Rejected);
    assert!(
        bad_price.error_message.contains("bad2.csv line 3, column \"price\": \"12,5O\" is not a number"),
        "{}",
        bad_price.error_message
    );
    assert_eq!(bad_price.record_data["line"], 3);
    assert_eq!(bad_price.record_data["fields"]["price"], "12,5O");
    assert!(bad_price.record_data["file"].as_str().unwrap().ends_with("bad2.csv"));
    let negative = errors.iter().find(|e| e.record_id.as_deref() == Some("C")).unwrap();
    assert_eq!(negative.error_type, ErrorType::Warning);
    assert_eq!(t.products("globex").await.iter().find(|p| p.product.sku == "C").unwrap().product.quantity, Some(0));
}

async fn unreadable_file_fails_the_run_and_records_why(t: &TestStore) {
    let path = t.feed("book.xlsx", b"PK\x03\x04\x14\x00\x06\x00rest-of-a-workbook");
    let r = t.import("acme", &path, FeedMode::Full).await;
    assert_eq!(r.status, RunStatus::Failed);
    assert!(r.error.as_deref().unwrap().contains("ZIP archive"), "{:?}", r.error);
    let e = t.store.sync_errors(1).await.unwrap().remove(0);
    assert_eq!(e.error_type, ErrorType::File);
    assert!(e.error_message.contains("book.xlsx"));
    let run = t.store.runs(None, 1).await.unwrap().remove(0);
    assert_eq!((run.status, run.id), (RunStatus::Failed, r.run_id));
    let status = t.store.sources().await.unwrap().remove(0);
    assert_eq!((status.error_count, status.last_sync_time), (1, None));
}

async fn abandoned_import_leaves_the_previous_state(t: &TestStore) {
    t.import("acme", &t.feed("a.csv", feed_csv(10, 10)), FeedMode::Full).await;
    let before = t.products("acme").await;
    let control_before = t.store.sources().await.unwrap();
    // A run that dies after writing: its transaction is never committed.
    let run = catsync::control::RunRecord::start("distributor:acme");
    t.store.start_run(&run).await.unwrap();
    let mut import = t.store.begin_feed_import("acme", &run).await.unwrap();
    let mut changed = before[0].product.clone();
    changed.price = Some("1.23".parse().unwrap());
    changed = changed.seal();
    import.write(vec![changed], vec![]).await.unwrap();
    drop(import);
    let after = t.products("acme").await;
    assert_eq!(
        before.iter().map(|p| &p.product).collect::<Vec<_>>(),
        after.iter().map(|p| &p.product).collect::<Vec<_>>()
    );
    let control_after = t.store.sources().await.unwrap();
    assert_eq!(control_before[0].watermark, control_after[0].watermark);
    assert_eq!(control_before[0].records_processed, control_after[0].records_processed);
    let latest = t.store.runs(None, 1).await.unwrap().remove(0);
    assert_eq!((latest.id, latest.status), (run.id, RunStatus::Running));
    // The next import works normally.
    let r = t.import("acme", &t.feed("a.csv", feed_csv(10, 10)), FeedMode::Full).await;
    assert_eq!(r.counts.unchanged, 10);
}

async fn sync_control_accumulates_totals_and_moves_the_watermark(t: &TestStore) {
    let a = t.import("acme", &t.feed("a.csv", feed_csv(10, 10)), FeedMode::Full).await;
    let first = t.store.sources().await.unwrap().remove(0);
    assert_eq!(first.source_table, "distributor:acme");
    assert_eq!((first.records_processed, first.success_count, first.error_count), (10, 10, 0));
    let fp = first.watermark.clone().unwrap();
    assert!(fp.starts_with("xxh3:"), "{fp}");
    let with_bad_row = feed_csv(10, 10) + "X,,,,oops,\n";
    t.import("acme", &t.feed("b.csv", with_bad_row), FeedMode::Full).await;
    let second = t.store.sources().await.unwrap().remove(0);
    assert_eq!((second.records_processed, second.success_count, second.error_count), (21, 20, 1));
    assert_ne!(second.watermark.unwrap(), fp);
    assert!(second.last_sync_time.unwrap() > first.last_sync_time.unwrap());
    let runs = t.store.runs(Some("distributor:acme"), 10).await.unwrap();
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[1].id, a.run_id);
    assert!(runs.iter().all(|r| r.status == RunStatus::Succeeded && r.finished_at.is_some()));
}

async fn values_survive_the_round_trip(t: &TestStore) {
    let feed = "sku;ean;mpn;brand;title;description;price;cost;qty;category;updated;colour\n\
                X-1;0012345678905;AB-12;Brand ä;\"Title with \"\"quotes\"\", tabs\tand\nnewline \\ backslash\";desc;1.234,56;€ 7,5;12;A > B;31.03.2024;red\n";
    let r = t.import("acme", &t.feed("rt.csv", feed), FeedMode::Full).await;
    assert_eq!(r.counts.inserted, 1, "{:?}", r.problems);
    let p = t.products("acme").await.remove(0).product;
    assert_eq!(p.gtin.as_deref(), Some("00012345678905"));
    assert_eq!(p.mpn.as_deref(), Some("AB-12"));
    assert_eq!(p.brand.as_deref(), Some("Brand ä"));
    assert_eq!(p.title.as_deref(), Some("Title with \"quotes\", tabs\tand\nnewline \\ backslash"));
    assert_eq!(p.price, Some(dec("1234.56")));
    assert_eq!(p.cost, Some(dec("7.50")));
    assert_eq!(p.quantity, Some(12));
    assert_eq!(p.category.as_deref(), Some("A > B"));
    assert_eq!(p.source_updated_at.unwrap().to_rfc3339(), "2024-03-31T00:00:00+00:00");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&p.attributes_json).unwrap(),
        serde_json::json!({"colour": "red"})
    );
    // The stored row hashes like a freshly read one: re-import writes nothing.
    let r = t.import("acme", &t.feed("rt.csv", feed), FeedMode::Full).await;
    assert_eq!(r.counts.unchanged, 1);
}
