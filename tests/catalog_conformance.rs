//! The catalog-table half of the `Store` contract, written once and run against SQLite, PostgreSQL
//! and PostgreSQL on the import path CockroachDB uses: table creation and evolution, every column
//! type's round trip, link tables, counts, soft deletes, id mappings, errors and watermarks.

#[macro_use]
mod common;

use catsync::catalog::{catalog_record_id, CatalogLink, CatalogRecord, CatalogTable, CellValue};
use catsync::control::{ErrorType, RunStatus};
use catsync::store::StoreError;
use chrono::{DateTime, NaiveDate, Utc};
use common::{catalog_record, catalog_table, problem, sync_end, TestStore};
use serde_json::json;
use uuid::Uuid;

backend_tests!(
    preparing_creates_the_table_and_running_it_again_changes_nothing,
    concurrent_prepares_of_one_table_all_succeed,
    a_column_added_later_keeps_the_stored_rows,
    a_changed_column_type_is_refused_with_what_to_do,
    a_table_name_that_is_not_a_plain_identifier_or_is_catsyncs_own_is_refused,
    a_column_name_that_is_reserved_or_not_an_identifier_is_refused,
    sql_keywords_work_as_table_and_column_names,
    inserts_updates_and_unchanged_rows_are_counted_and_versioned,
    every_column_type_survives_the_round_trip,
    a_value_of_the_wrong_type_is_refused_and_nothing_is_written,
    the_last_record_of_an_id_in_a_batch_wins,
    link_rows_follow_the_cell_and_are_replaced_only_when_the_row_changes,
    two_tables_can_link_to_each_other,
    new_rows_are_mapped_in_id_mappings_once,
    problems_are_recorded_in_sync_errors_and_counted,
    soft_deleted_rows_come_back_as_updated,
    deletes_count_only_live_rows,
    the_watermark_moves_only_when_a_sync_commits,
    a_failed_sync_records_its_run_but_keeps_the_watermark,
);

fn text(s: &str) -> CellValue {
    CellValue::Text(s.into())
}

fn dec(s: &str) -> CellValue {
    CellValue::Numeric(s.parse().unwrap())
}

fn date(s: &str) -> CellValue {
    CellValue::Date(NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap())
}

fn at(s: &str) -> CellValue {
    CellValue::Timestamp(DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc))
}

fn items() -> CatalogTable {
    catalog_table("items", &[("name", "text"), ("price", "numeric")])
}

fn item(airtable_id: &str, name: &str, price: &str) -> CatalogRecord {
    catalog_record(airtable_id, vec![text(name), dec(price)])
}

fn schema_reason(err: StoreError) -> String {
    match err {
        StoreError::CatalogSchema { .. } => err.to_string(),
        other => panic!("expected a catalog schema error, got {other}"),
    }
}

fn names(rows: &[catsync::catalog::StoredCatalogRecord]) -> Vec<&str> {
    rows.iter().map(|r| r.record.airtable_id.as_str()).collect()
}

async fn preparing_creates_the_table_and_running_it_again_changes_nothing(t: &TestStore) {
    let table = items();
    t.store.prepare_catalog_table(&table).await.unwrap();
    t.store.prepare_catalog_table(&table).await.unwrap();
    assert!(t.rows(&table).await.is_empty());
    t.sync(&table, vec![item("rec1", "a", "1.00")], "w1").await;
    t.store.prepare_catalog_table(&table).await.unwrap();
    let rows = t.rows(&table).await;
    assert_eq!(names(&rows), ["rec1"]);
    assert_eq!(rows[0].row_version, 1);
}

async fn concurrent_prepares_of_one_table_all_succeed(t: &TestStore) {
    let others = [catsync::store::open(&t.url).await.unwrap(), catsync::store::open(&t.url).await.unwrap()];
    for round in 0..3 {
        let table = catalog_table(&format!("race_{round}"), &[("name", "text"), ("parts", "links")]);
        let (a, b, c) = tokio::join!(
            t.store.prepare_catalog_table(&table),
            others[0].prepare_catalog_table(&table),
            others[1].prepare_catalog_table(&table),
        );
        for result in [a, b, c] {
            result.unwrap();
        }
        // A column added by three at once is added once.
        let wider = catalog_table(&table.name, &[("name", "text"), ("parts", "links"), ("extra", "integer")]);
        let (a, b, c) = tokio::join!(
            t.store.prepare_catalog_table(&wider),
            others[0].prepare_catalog_table(&wider),
            others[1].prepare_catalog_table(&wider),
        );
        for result in [a, b, c] {
            result.unwrap();
        }
        let id = catalog_record_id("recX");
        let record = catalog_record("recX", vec![text("x"), CellValue::Links(vec![id]), CellValue::Integer(1)]);
        t.sync(&wider, vec![record], "w").await;
        assert_eq!(t.store.catalog_links(&wider, "parts").await.unwrap().len(), 1);
    }
}

async fn a_column_added_later_keeps_the_stored_rows(t: &TestStore) {
    let narrow = items();
    t.sync(&narrow, vec![item("rec1", "a", "1.00")], "w1").await;
    let wide = catalog_table("items", &[("name", "text"), ("price", "numeric"), ("tags", "text[]"), ("seen", "links")]);
    let id = catalog_record_id("rec2");
    let r = t
        .sync(
            &wide,
            vec![catalog_record(
                "rec2",
                vec![text("b"), dec("2"), CellValue::Array(vec![text("new")]), CellValue::Links(vec![id])],
            )],
            "w2",
        )
        .await;
    assert_eq!((r.counts.inserted, r.counts.unchanged), (1, 0));
    let rows = t.rows(&wide).await;
    assert_eq!(names(&rows), ["rec1", "rec2"]);
    assert_eq!(rows[0].record.values, [text("a"), dec("1.00"), CellValue::Null, CellValue::Null]);
    assert_eq!(rows[0].row_version, 1, "adding a column rewrites no row");
    // Columns the config no longer lists stay in the store, untouched.
    t.store.prepare_catalog_table(&narrow).await.unwrap();
    assert_eq!(t.rows(&narrow).await[1].record.values, [text("b"), dec("2")]);
    assert_eq!(t.rows(&wide).await[1].record.values[2], CellValue::Array(vec![text("new")]));
}

async fn a_changed_column_type_is_refused_with_what_to_do(t: &TestStore) {
    t.store.prepare_catalog_table(&catalog_table("items", &[("name", "text"), ("price", "integer")])).await.unwrap();
    let err = t.store.prepare_catalog_table(&items()).await.unwrap_err();
    let message = schema_reason(err);
    for part in ["\"items\"", "column \"price\"", "stored as integer", "configures it as numeric", "rename", "drop"] {
        assert!(message.contains(part), "{part:?} missing from: {message}");
    }
    let err = t.store.prepare_catalog_table(&catalog_table("items", &[("name", "text[]")])).await.unwrap_err();
    assert!(schema_reason(err).contains("stored as text but catsync.toml configures it as text[]"));
    // A table of that name that catsync did not create is not taken over.
    t.sql_rows("CREATE TABLE notes (body TEXT)").await;
    let err = t.store.prepare_catalog_table(&catalog_table("notes", &[("body", "text")])).await.unwrap_err();
    assert!(schema_reason(err).contains("is not a catalog table"));
}

async fn a_table_name_that_is_not_a_plain_identifier_or_is_catsyncs_own_is_refused(t: &TestStore) {
    let cases = [
        ("products; drop table x", "not a valid table name"),
        ("Products", "not a valid table name"),
        ("sync_runs", "catsync keeps its own data"),
        ("id_mappings", "catsync keeps its own data"),
        ("schema_migrations", "catsync keeps its own data"),
        ("products__brand", "may not contain \"__\""),
    ];
    for (name, expected) in cases {
        let table = catalog_table(name, &[("name", "text")]);
        let message = schema_reason(t.store.prepare_catalog_table(&table).await.unwrap_err());
        assert!(message.contains(expected) && message.contains("catsync.toml"), "{name}: {message}");
        assert!(message.contains(&format!("{name:?}")), "the message names the table: {message}");
        let run = catsync::control::RunRecord::start(&table.source());
        assert!(matches!(t.store.begin_catalog_sync(&table, &run).await, Err(StoreError::CatalogSchema { .. })));
        assert!(matches!(t.store.catalog_records(&table).await, Err(StoreError::CatalogSchema { .. })));
    }
    // catsync's own tables are intact.
    t.sync(&items(), vec![item("rec1", "a", "1")], "w").await;
    assert_eq!(t.store.runs(None, 10).await.unwrap().len(), 1);
}

async fn a_column_name_that_is_reserved_or_not_an_identifier_is_refused(t: &TestStore) {
    let cases = [
        ("id", "reserved"),
        ("deleted_at", "reserved"),
        ("Price", "not a valid column name"),
        ("price\"; drop table items; --", "not a valid column name"),
        ("9lives", "not a valid column name"),
    ];
    for (column, expected) in cases {
        let table = catalog_table("items", &[("name", "text"), (column, "text")]);
        let message = schema_reason(t.store.prepare_catalog_table(&table).await.unwrap_err());
        assert!(message.contains(expected) && message.contains("catsync.toml"), "{column}: {message}");
    }
    let long = catalog_table("items", &[(&"l".repeat(60), "links")]);
    assert!(schema_reason(t.store.prepare_catalog_table(&long).await.unwrap_err()).contains("longer than 63 bytes"));
    let twice = catalog_table("items", &[("name", "text"), ("name", "integer")]);
    assert!(schema_reason(t.store.prepare_catalog_table(&twice).await.unwrap_err()).contains("configured twice"));
}

async fn sql_keywords_work_as_table_and_column_names(t: &TestStore) {
    let table =
        catalog_table("select", &[("order", "integer"), ("from", "text"), ("group", "links"), ("where", "date[]")]);
    let linked = catalog_record_id("recOther");
    let record = catalog_record(
        "rec1",
        vec![
            CellValue::Integer(3),
            text("x"),
            CellValue::Links(vec![linked]),
            CellValue::Array(vec![date("2024-01-02")]),
        ],
    );
    let r = t.sync(&table, vec![record.clone()], "w").await;
    assert_eq!(r.counts.inserted, 1);
    assert_eq!(t.rows(&table).await[0].record, record);
    let links = t.store.catalog_links(&table, "group").await.unwrap();
    assert_eq!(links, [CatalogLink { record_id: record.id, position: 0, linked_id: linked }]);
}

async fn inserts_updates_and_unchanged_rows_are_counted_and_versioned(t: &TestStore) {
    let table = items();
    let first = t
        .sync(&table, vec![item("rec1", "a", "1.00"), item("rec2", "b", "2.00"), item("rec3", "c", "3.00")], "w1")
        .await;
    assert_eq!((first.counts.read, first.counts.inserted, first.counts.updated, first.counts.unchanged), (3, 3, 0, 0));
    let before = t.rows(&table).await;
    assert!(before.iter().all(|r| r.row_version == 1 && r.deleted_at.is_none() && r.first_synced_at == r.updated_at));

    // Two batches: one changed row and one new row, then two unchanged rows.
    t.store.prepare_catalog_table(&table).await.unwrap();
    let (run, mut sync) = t.begin_sync(&table).await;
    sync.write(vec![item("rec1", "a", "1.50"), item("rec4", "d", "4.00")], vec![]).await.unwrap();
    sync.write(vec![item("rec2", "b", "2.00"), item("rec3", "c", "3.00")], vec![]).await.unwrap();
    let counts = sync.commit(sync_end(run.clone(), 4, vec![], Some("w2"))).await.unwrap();
    assert_eq!((counts.read, counts.inserted, counts.updated, counts.unchanged, counts.deactivated), (4, 1, 1, 2, 0));

    let after = t.rows(&table).await;
    assert_eq!(names(&after), ["rec1", "rec2", "rec3", "rec4"]);
    let changed = &after[0];
    assert_eq!((changed.row_version, &changed.record.values[1]), (2, &dec("1.50")));
    assert_eq!(changed.first_synced_at, before[0].first_synced_at);
    assert!(changed.updated_at > before[0].updated_at);
    for (b, a) in before[1..].iter().zip(&after[1..3]) {
        assert_eq!(b, a, "an unchanged row is never rewritten");
    }
    let recorded = t.store.runs(Some(&table.source()), 1).await.unwrap().remove(0);
    assert_eq!((recorded.id, recorded.status, recorded.counts), (run.id, RunStatus::Succeeded, counts));
}

/// Every column type, in the order of `everything()`'s values.
const EVERY_TYPE: [(&str, &str); 17] = [
    ("t", "text"),
    ("n", "integer"),
    ("d", "numeric"),
    ("b", "boolean"),
    ("day", "date"),
    ("at", "timestamp"),
    ("j", "json"),
    ("g", "gtin"),
    ("ts", "text[]"),
    ("ns", "integer[]"),
    ("ds", "numeric[]"),
    ("bs", "boolean[]"),
    ("days", "date[]"),
    ("ats", "timestamp[]"),
    ("js", "json[]"),
    ("gs", "gtin[]"),
    ("l", "links"),
];

fn full_record() -> CatalogRecord {
    let array = CellValue::Array;
    catalog_record(
        "recFull",
        vec![
            text("Grüße \"quoted\", 'single', tab\t newline\n back\\slash; DROP TABLE items; --"),
            CellValue::Integer(i64::MIN),
            dec("12345678901234567890.12345678"),
            CellValue::Boolean(true),
            date("2024-02-29"),
            at("2024-03-31T23:59:59.123456Z"),
            CellValue::Json(json!({"a": [1, 2.5, "x", null, {"b": true}], "ü": "v", "n": -3})),
            text("00012345678905"),
            array(vec![text("a"), CellValue::Null, text("")]),
            array(vec![CellValue::Integer(1), CellValue::Null, CellValue::Integer(i64::MAX)]),
            array(vec![dec("1.50"), CellValue::Null, dec("-0.001"), dec("0.00")]),
            array(vec![CellValue::Boolean(true), CellValue::Null, CellValue::Boolean(false)]),
            array(vec![date("1999-12-31"), CellValue::Null]),
            array(vec![at("2001-01-01T00:00:00.000001Z"), CellValue::Null]),
            array(vec![CellValue::Json(json!({"k": [1, {}]})), CellValue::Null, CellValue::Json(json!("s"))]),
            array(vec![text("04006381333931"), CellValue::Null]),
            CellValue::Links(vec![catalog_record_id("recA"), catalog_record_id("recB"), catalog_record_id("recA")]),
        ],
    )
}

fn empty_record() -> CatalogRecord {
    let empty = || CellValue::Array(vec![]);
    catalog_record(
        "recEmpty",
        vec![
            text(""),
            CellValue::Integer(0),
            dec("0.000"),
            CellValue::Boolean(false),
            date("0001-01-01"),
            at("1970-01-01T00:00:00Z"),
            CellValue::Json(serde_json::Value::Null),
            text("00000000000000"),
            empty(),
            empty(),
            empty(),
            empty(),
            empty(),
            empty(),
            empty(),
            empty(),
            CellValue::Links(vec![]),
        ],
    )
}

fn null_record() -> CatalogRecord {
    let mut values = vec![CellValue::Null; EVERY_TYPE.len()];
    values[8] = CellValue::Array(vec![CellValue::Null, CellValue::Null]);
    catalog_record("recNull", values)
}

async fn every_column_type_survives_the_round_trip(t: &TestStore) {
    let table = catalog_table("everything", &EVERY_TYPE);
    let written = vec![empty_record(), full_record(), null_record()];
    let r = t.sync(&table, written.clone(), "w").await;
    assert_eq!(r.counts.inserted, 3);
    let stored: Vec<CatalogRecord> = t.rows(&table).await.into_iter().map(|s| s.record).collect();
    assert_eq!(stored, written);
    // Debug shows what == forgives: a Decimal's scale (1.50 is not 1.5 here) and JSON number kinds.
    assert_eq!(format!("{stored:?}"), format!("{written:?}"));
    // What was read back hashes as written: syncing it again changes nothing.
    let again = t.sync(&table, stored, "w2").await;
    assert_eq!((again.counts.unchanged, again.counts.updated), (3, 0));
    let links = t.store.catalog_links(&table, "l").await.unwrap();
    let full = full_record();
    let expected: Vec<CatalogLink> = [catalog_record_id("recA"), catalog_record_id("recB"), catalog_record_id("recA")]
        .into_iter()
        .enumerate()
        .map(|(i, linked_id)| CatalogLink { record_id: full.id, position: i as i32, linked_id })
        .collect();
    assert_eq!(links, expected);
}

async fn a_value_of_the_wrong_type_is_refused_and_nothing_is_written(t: &TestStore) {
    let table = items();
    t.store.prepare_catalog_table(&table).await.unwrap();
    let (_, mut sync) = t.begin_sync(&table).await;
    let wrong = catalog_record("recBad", vec![text("a"), text("12.50")]);
    let message = schema_reason(sync.write(vec![item("rec1", "a", "1"), wrong], vec![]).await.unwrap_err());
    assert!(message.contains("recBad") && message.contains("\"price\"") && message.contains("numeric"), "{message}");
    let short = catalog_record("recShort", vec![text("a")]);
    assert!(schema_reason(sync.write(vec![short], vec![]).await.unwrap_err()).contains("1 values for 2 columns"));
    let bad_element = catalog_record("recEl", vec![CellValue::Array(vec![text("a")]), CellValue::Null]);
    assert!(sync.write(vec![bad_element], vec![]).await.is_err(), "an array does not fit a text column");
    assert!(t.rows(&table).await.is_empty());
}

async fn the_last_record_of_an_id_in_a_batch_wins(t: &TestStore) {
    let table = items();
    let r = t
        .sync(&table, vec![item("rec1", "first", "1"), item("rec2", "b", "2"), item("rec1", "second", "3")], "w")
        .await;
    assert_eq!((r.counts.inserted, r.counts.updated), (2, 0));
    let rows = t.rows(&table).await;
    assert_eq!(rows[0].record.values, [text("second"), dec("3")]);
    assert_eq!(rows[0].row_version, 1);
}

fn linked(airtable_id: &str, ids: &[&str]) -> CatalogRecord {
    catalog_record(airtable_id, vec![CellValue::Links(ids.iter().map(|id| catalog_record_id(id)).collect())])
}

/// Link rows as (record, position, linked) Airtable ids, in the store's order.
async fn link_rows(t: &TestStore, table: &CatalogTable, column: &str, ids: &[&str]) -> Vec<(String, i32, String)> {
    let name = |id: Uuid| ids.iter().find(|a| catalog_record_id(a) == id).map_or("?".into(), |a| a.to_string());
    let links = t.store.catalog_links(table, column).await.unwrap();
    let mut sorted = links.clone();
    sorted.sort_by_key(|l| (l.record_id, l.position));
    assert_eq!(links, sorted, "ordered by record id (bytes), then position");
    links.into_iter().map(|l| (name(l.record_id), l.position, name(l.linked_id))).collect()
}

async fn link_rows_follow_the_cell_and_are_replaced_only_when_the_row_changes(t: &TestStore) {
    let table = catalog_table("kits", &[("parts", "links")]);
    let ids = ["rec1", "rec2", "rec3", "pA", "pB", "pC"];
    let row = |r: &str, p: i32, l: &str| (r.to_string(), p, l.to_string());
    t.sync(
        &table,
        vec![
            linked("rec1", &["pA", "pB", "pC"]),
            linked("rec2", &["pA"]),
            catalog_record("rec3", vec![CellValue::Null]),
        ],
        "w1",
    )
    .await;
    let mut expected = vec![row("rec1", 0, "pA"), row("rec1", 1, "pB"), row("rec1", 2, "pC"), row("rec2", 0, "pA")];
    expected.sort_by_key(|(r, p, _)| (catalog_record_id(r), *p));
    assert_eq!(link_rows(t, &table, "parts", &ids).await, expected);

    // rec1 changes: its rows are replaced. rec2 is unchanged: its rows are not even rewritten (rows
    // removed behind the store's back stay removed).
    t.sql_rows(&format!("DELETE FROM kits__parts WHERE linked_id = {}", id_literal(t, catalog_record_id("pA")))).await;
    let r = t.sync(&table, vec![linked("rec1", &["pC", "pA"]), linked("rec2", &["pA"])], "w2").await;
    assert_eq!((r.counts.updated, r.counts.unchanged), (1, 1));
    assert_eq!(link_rows(t, &table, "parts", &ids).await, [row("rec1", 0, "pC"), row("rec1", 1, "pA")]);
}

/// A UUID as a literal of the store's id type.
fn id_literal(t: &TestStore, id: Uuid) -> String {
    if t.url.starts_with("sqlite") {
        format!("X'{}'", id.simple())
    } else {
        format!("'{id}'")
    }
}

async fn two_tables_can_link_to_each_other(t: &TestStore) {
    let products = catalog_table("products", &[("name", "text"), ("brand", "links")]);
    let brands = catalog_table("brands", &[("name", "text"), ("products", "links")]);
    let ids = ["recP1", "recP2", "recB1"];
    // Brands sync first and link to products not stored yet: ids are known without a lookup.
    let brand = catalog_record(
        "recB1",
        vec![text("Acme"), CellValue::Links(vec![catalog_record_id("recP1"), catalog_record_id("recP2")])],
    );
    t.sync(&brands, vec![brand], "b1").await;
    let product = |id: &str| catalog_record(id, vec![text(id), CellValue::Links(vec![catalog_record_id("recB1")])]);
    t.sync(&products, vec![product("recP1"), product("recP2")], "p1").await;
    let row = |r: &str, p: i32, l: &str| (r.to_string(), p, l.to_string());
    let mut to_products = vec![row("recB1", 0, "recP1"), row("recB1", 1, "recP2")];
    to_products.sort_by_key(|(r, p, _)| (catalog_record_id(r), *p));
    assert_eq!(link_rows(t, &brands, "products", &ids).await, to_products);
    let mut to_brand = vec![row("recP1", 0, "recB1"), row("recP2", 0, "recB1")];
    to_brand.sort_by_key(|(r, p, _)| (catalog_record_id(r), *p));
    assert_eq!(link_rows(t, &products, "brand", &ids).await, to_brand);
    // Every linked id is a row of the other table.
    let product_ids: Vec<Uuid> = t.rows(&products).await.iter().map(|r| r.record.id).collect();
    assert!(t
        .store
        .catalog_links(&brands, "products")
        .await
        .unwrap()
        .iter()
        .all(|l| product_ids.contains(&l.linked_id)));
    let err = t.store.catalog_links(&products, "name").await.unwrap_err();
    assert!(schema_reason(err).contains("not a links column"));
}

async fn new_rows_are_mapped_in_id_mappings_once(t: &TestStore) {
    let table = items();
    t.sync(&table, vec![item("rec1", "a", "1"), item("rec2", "b", "2")], "w1").await;
    t.sync(&table, vec![item("rec1", "changed", "1"), item("rec2", "b", "2")], "w2").await;
    let rows = t
        .sql_rows(
            "SELECT source_id, target_id, source_system, target_system, metadata FROM id_mappings ORDER BY source_id",
        )
        .await;
    let expected: Vec<Vec<Option<String>>> = ["rec1", "rec2"]
        .iter()
        .map(|id| {
            [*id, &catalog_record_id(id).hyphenated().to_string(), "airtable", "store:items", "{}"]
                .iter()
                .map(|v| Some(v.to_string()))
                .collect()
        })
        .collect();
    assert_eq!(rows, expected);
}

async fn problems_are_recorded_in_sync_errors_and_counted(t: &TestStore) {
    let table = items();
    t.store.prepare_catalog_table(&table).await.unwrap();
    let (run, mut sync) = t.begin_sync(&table).await;
    sync.write(vec![item("rec1", "a", "1")], vec![problem(&run, "recBad1", "price \"x\" is not a number")])
        .await
        .unwrap();
    let mut end = sync_end(run.clone(), 4, vec![], Some("w1"));
    end.records = vec![item("rec2", "b", "2")];
    end.problems = vec![problem(&run, "recBad2", "name is required")];
    end.run.counts.rejected = 2;
    let counts = sync.commit(end).await.unwrap();
    assert_eq!((counts.read, counts.inserted, counts.rejected), (4, 2, 2));
    let mut errors = t.store.sync_errors(10).await.unwrap();
    errors.sort_by(|a, b| a.record_id.cmp(&b.record_id));
    assert_eq!(errors.len(), 2);
    let first = &errors[0];
    assert_eq!(
        (first.record_id.as_deref(), first.run_id, first.error_type),
        (Some("recBad1"), run.id, ErrorType::Rejected)
    );
    assert_eq!(
        (first.source_table.as_str(), first.error_message.as_str()),
        ("airtable:items", "price \"x\" is not a number")
    );
    assert_eq!(first.record_data, json!({"id": "recBad1"}));
    let status = t.store.source_status("airtable:items").await.unwrap().unwrap();
    assert_eq!((status.records_processed, status.success_count, status.error_count), (4, 2, 2));
}

async fn soft_deleted_rows_come_back_as_updated(t: &TestStore) {
    let table = items();
    let all = vec![item("rec1", "a", "1"), item("rec2", "b", "2"), item("rec3", "c", "3")];
    t.sync(&table, all.clone(), "w1").await;
    let (run, mut sync) = t.begin_sync(&table).await;
    assert_eq!(sync.live_airtable_ids().await.unwrap(), ["rec1", "rec2", "rec3"]);
    let counts = sync.commit(sync_end(run, 0, vec!["rec2".into()], Some("w2"))).await.unwrap();
    assert_eq!(counts.deactivated, 1);
    let rows = t.rows(&table).await;
    assert_eq!(names(&rows), ["rec1", "rec2", "rec3"], "a soft-deleted row stays");
    let deleted = &rows[1];
    assert!(deleted.deleted_at.is_some());
    assert_eq!(deleted.row_version, 2);
    assert_eq!(Some(deleted.updated_at), deleted.deleted_at);
    let (_, mut sync) = t.begin_sync(&table).await;
    assert_eq!(sync.live_airtable_ids().await.unwrap(), ["rec1", "rec3"]);
    drop(sync);
    // The record reappears in Airtable unchanged: the row is restored and versioned.
    let r = t.sync(&table, all, "w3").await;
    assert_eq!((r.counts.updated, r.counts.unchanged, r.counts.inserted), (1, 2, 0));
    let restored = &t.rows(&table).await[1];
    assert_eq!((restored.deleted_at, restored.row_version), (None, 3));
}

async fn deletes_count_only_live_rows(t: &TestStore) {
    let table = items();
    t.sync(&table, vec![item("rec1", "a", "1"), item("rec2", "b", "2")], "w1").await;
    let (run, sync) = t.begin_sync(&table).await;
    sync.commit(sync_end(run, 0, vec!["rec1".into()], Some("w2"))).await.unwrap();
    let before = t.rows(&table).await;
    let (run, sync) = t.begin_sync(&table).await;
    let counts = sync.commit(sync_end(run, 0, vec!["rec1".into(), "recNeverSeen".into()], Some("w3"))).await.unwrap();
    assert_eq!(counts.deactivated, 0);
    assert_eq!(t.rows(&table).await, before, "deleting a deleted row changes nothing");
}

async fn the_watermark_moves_only_when_a_sync_commits(t: &TestStore) {
    let table = items();
    assert!(t.store.source_status(&table.source()).await.unwrap().is_none());
    t.sync(&table, vec![item("rec1", "a", "1")], "w1").await;
    let before = t.store.source_status(&table.source()).await.unwrap().unwrap();
    assert_eq!((before.watermark.as_deref(), before.records_processed), (Some("w1"), 1));
    assert_eq!(before.metrics, json!({"records": 1}));

    // A sync that dies after a batch: the batch is kept, the watermark and the run are not moved.
    let (run, mut sync) = t.begin_sync(&table).await;
    sync.write(vec![item("rec2", "b", "2")], vec![]).await.unwrap();
    assert_eq!(names(&t.rows(&table).await), ["rec1", "rec2"], "a batch commits on its own");
    assert_eq!(t.store.source_status(&table.source()).await.unwrap().unwrap().watermark.as_deref(), Some("w1"));
    drop(sync);
    let after = t.store.source_status(&table.source()).await.unwrap().unwrap();
    assert_eq!(
        (after.watermark, after.records_processed, after.last_sync_time),
        (before.watermark, 1, before.last_sync_time)
    );
    let latest = t.store.runs(Some(&table.source()), 1).await.unwrap().remove(0);
    assert_eq!((latest.id, latest.status), (run.id, RunStatus::Running));

    // The next sync finds the batch already written.
    let r = t.sync(&table, vec![item("rec1", "a", "1"), item("rec2", "b", "2")], "w2").await;
    assert_eq!((r.counts.inserted, r.counts.unchanged), (0, 2));
    assert_eq!(t.store.source_status(&table.source()).await.unwrap().unwrap().watermark.as_deref(), Some("w2"));
}

async fn a_failed_sync_records_its_run_but_keeps_the_watermark(t: &TestStore) {
    let table = items();
    t.sync(&table, vec![item("rec1", "a", "1")], "w1").await;
    let before = t.store.source_status(&table.source()).await.unwrap().unwrap();
    let (run, mut sync) = t.begin_sync(&table).await;
    sync.write(vec![item("rec2", "b", "2")], vec![]).await.unwrap();
    let mut end = sync_end(run.clone(), 2, vec!["rec1".into()], None);
    end.problems = vec![problem(&run, "recBad", "unreadable")];
    end.run.counts.rejected = 1;
    let counts = sync.commit(end).await.unwrap();
    assert_eq!((counts.inserted, counts.deactivated, counts.rejected), (1, 1, 1));
    let after = t.store.source_status(&table.source()).await.unwrap().unwrap();
    assert_eq!(after.watermark.as_deref(), Some("w1"));
    assert_eq!((after.last_sync_time, after.records_processed), (before.last_sync_time, before.records_processed));
    assert_eq!(after.error_count, before.error_count + 1);
    let recorded = t.store.runs(Some(&table.source()), 1).await.unwrap().remove(0);
    assert_eq!((recorded.id, recorded.status, recorded.counts), (run.id, RunStatus::Failed, counts));
}
