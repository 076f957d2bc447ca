//! `catsync init`, `sync` and `check` end to end against the simulator: from nothing to a synced
//! catalog with two commands, schema drift, token and quota errors, and SIGKILL mid-sync.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use catsync::catalog::{catalog_record_id, CellValue, ColumnType, ScalarType};
use catsync::config::Config;
use catsync::control::{ErrorType, RunStatus};
use catsync::dev::airtable_sim::{AirtableSim, SimConfig, SimServer, SAMPLE_BASE};
use catsync::source::airtable::{BaseSchema, TableMapping};
use common::airtable::{config_text, record_id, AirtableWorld, BASE, TOKEN};
use common::TestStore;
use serde_json::json;

const SAMPLE_BASE_ID: &str = "appCATALOG0000001";

fn catsync(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_catsync"))
        .args(args)
        .current_dir(dir)
        .env("AIRTABLE_TOKEN", TOKEN)
        .env_remove("CATSYNC_STORE")
        .env_remove("CATSYNC_CONFIG")
        .env_remove("AIRTABLE_API_URL")
        .output()
        .expect("catsync runs")
}

/// Runs catsync off the runtime's threads, so that the in-process simulator keeps serving.
async fn catsync_async(dir: &Path, args: &[&str]) -> Output {
    let dir = dir.to_path_buf();
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || catsync(&dir, &args.iter().map(String::as_str).collect::<Vec<_>>()))
        .await
        .unwrap()
}

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr)
}

async fn sample_sim() -> (AirtableSim, SimServer) {
    let sim = AirtableSim::new(SimConfig { penalty: Duration::from_secs(1), ..SimConfig::default() });
    sim.load_base(&serde_json::from_str(SAMPLE_BASE).unwrap()).unwrap();
    sim.add_token(TOKEN, &["data.records:read", "schema.bases:read"], None);
    let server = sim.serve(SocketAddr::from(([127, 0, 0, 1], 0))).await.unwrap();
    (sim, server)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_then_sync_types_every_field_and_check_reports_drift() {
    let (sim, server) = sample_sim().await;
    let dir = tempfile::tempdir().unwrap();
    let init =
        catsync_async(dir.path(), &["init", "--airtable-base", SAMPLE_BASE_ID, "--airtable-url", &server.url()]).await;
    assert_eq!(init.status.code(), Some(0), "{}", text(&init));
    let written = std::fs::read_to_string(dir.path().join("catsync.toml")).unwrap();
    assert!(written.contains("token = \"${AIRTABLE_TOKEN}\"") && !written.contains(TOKEN), "{written}");
    let sync = catsync_async(dir.path(), &["sync", "--json"]).await;
    assert_eq!(sync.status.code(), Some(0), "{}", text(&sync));
    assert!(!text(&sync).contains(TOKEN));
    let doc: serde_json::Value = serde_json::from_slice(&sync.stdout).unwrap();
    for table in doc["tables"].as_array().unwrap() {
        assert_eq!(table["status"], "succeeded", "{table}");
        assert!(table["counts"]["inserted"].as_u64().unwrap() > 0, "{table}");
    }

    // Every column holds values of its type somewhere: no field type is lost.
    std::env::set_var("AIRTABLE_TOKEN", TOKEN);
    let config = Config::load(&dir.path().join("catsync.toml")).unwrap();
    let store = catsync::store::open(&format!("sqlite://{}", dir.path().join("catsync-data/catsync.db").display()))
        .await
        .unwrap();
    let client = catsync::source::airtable::AirtableClient::new(
        &server.url(),
        config.airtable.as_ref().unwrap().token.clone(),
        Default::default(),
    );
    let schema = client.base_schema(SAMPLE_BASE_ID).await.unwrap();
    for section in &config.airtable.as_ref().unwrap().tables {
        let mapping = TableMapping::resolve(section, &schema, &Default::default()).unwrap();
        let rows = store.catalog_records(&mapping.catalog).await.unwrap();
        for (i, column) in mapping.catalog.columns.iter().enumerate() {
            let typed = rows.iter().any(|r| value_fits(&r.record.values[i], column.ty));
            let all_fit = rows
                .iter()
                .all(|r| r.record.values[i] == CellValue::Null || value_fits(&r.record.values[i], column.ty));
            assert!(all_fit, "{}.{} holds a value of another type", mapping.catalog.name, column.name);
            assert!(
                typed,
                "{}.{} ({}, from {}) has no value in any row",
                mapping.catalog.name, column.name, column.ty, mapping.fields[i].airtable_type
            );
        }
    }
    assert_sample_record_values(store.as_ref(), &config, &schema).await;
    let errors = store.sync_errors(500).await.unwrap();
    assert!(
        errors.iter().any(|e| e.error_type == ErrorType::Warning
            && (e.error_message.contains("#ERROR!") || e.error_message.contains("NaN"))),
        "failed formulas are recorded as warnings"
    );

    let check = catsync_async(dir.path(), &["check"]).await;
    assert_eq!(check.status.code(), Some(0), "{}", text(&check));
    assert!(text(&check).contains("matches Airtable"), "{}", text(&check));
    sim.rename_field(SAMPLE_BASE_ID, "Products", "Name", "Product name").unwrap();
    let check = catsync_async(dir.path(), &["check"]).await;
    assert_eq!(check.status.code(), Some(0), "{}", text(&check));
    assert!(text(&check).contains("renamed from \"Name\" to \"Product name\""), "{}", text(&check));
    let sync = catsync_async(dir.path(), &["sync"]).await;
    assert_eq!(sync.status.code(), Some(0), "a field pinned by id keeps syncing: {}", text(&sync));
    let price = schema.table("Products").unwrap().fields.iter().find(|f| f.kind == "currency").unwrap().id.clone();
    sim.remove_field(SAMPLE_BASE_ID, "Products", &price).unwrap();
    let check = catsync_async(dir.path(), &["check"]).await;
    assert_eq!(check.status.code(), Some(1), "{}", text(&check));
    assert!(text(&check).contains("CANNOT SYNC") && text(&check).contains("no longer exists"), "{}", text(&check));
    sim.add_field(
        SAMPLE_BASE_ID,
        "Brands",
        serde_json::json!({"name": "Founded", "type": "number", "options": {"precision": 0}}),
    )
    .unwrap();
    let check = catsync_async(dir.path(), &["check"]).await;
    assert!(text(&check).contains("field \"Founded\""), "{}", text(&check));
}

/// One record of the sample base, field by field, against values written out by hand from
/// samples/airtable/catalog-base.json.
async fn assert_sample_record_values(store: &dyn catsync::store::Store, config: &Config, schema: &BaseSchema) {
    let section = config.airtable.as_ref().unwrap().tables.iter().find(|t| t.into.get_ref() == "products").unwrap();
    let mapping = TableMapping::resolve(section, schema, &Default::default()).unwrap();
    let rows = store.catalog_records(&mapping.catalog).await.unwrap();
    let row = rows.iter().find(|r| r.record.airtable_id == "recYoe4ABYgbXEHcU").unwrap();
    let value = |field: &str| {
        let i = mapping
            .fields
            .iter()
            .position(|f| f.field_name == field)
            .unwrap_or_else(|| panic!("no column for {field}"));
        row.record.values[i].clone()
    };
    let dec = |s: &str| CellValue::Numeric(s.parse().unwrap());
    let text = |s: &str| CellValue::Text(s.to_string());
    let expected = [
        ("Name", text("Milwaukee M18 SAWZALL Reciprocating Saw (Renewed)")),
        ("Barcode", text("045242051816")),
        ("Display name", text("CAT-10133 · Milwaukee")),
        ("Price", dec("178.62")),
        ("Weight (kg)", dec("4.04")),
        ("Pack size", dec("1")),
        ("Charge time", dec("1800")),
        ("Avg lead time", dec("8.5")),
        ("Margin", dec("0.29")),
        ("Rating", CellValue::Integer(3)),
        ("Item #", CellValue::Integer(133)),
        ("In stock", CellValue::Boolean(true)),
        ("Launch date", CellValue::Date("2022-01-19".parse().unwrap())),
        ("Price updated", CellValue::Timestamp("2025-01-29T09:39:09Z".parse().unwrap())),
        ("Tags", CellValue::Array(vec![text("Power tools"), text("Bestseller")])),
        ("Brand name", CellValue::Array(vec![text("Milwaukee")])),
        ("Brand", CellValue::Links(vec![catalog_record_id("recuwglPOyRKHhnLG")])),
        (
            "Supplier",
            CellValue::Links(vec![catalog_record_id("reciTaY0lB3weZxI7"), catalog_record_id("recAY2hUyuLUjr4aQ")]),
        ),
        (
            "Product manager",
            CellValue::Json(
                json!({"id": "usr0cWNhIbcOIALbm", "email": "ana.ribeiro@example.com", "name": "Ana Ribeiro"}),
            ),
        ),
        ("Open page", CellValue::Json(json!({"label": "Open in shop", "url": "https://shop.example.com/p/cat-10133"}))),
        (
            "Summary",
            CellValue::Json(
                json!({"state": "generated", "isStale": false, "value": "Milwaukee saws, part 2821-20-RB."}),
            ),
        ),
        ("Discount", CellValue::Null),
    ];
    for (field, want) in expected {
        assert_eq!(value(field), want, "field {field:?}");
    }
    let CellValue::Json(photos) = value("Photos") else { panic!("photos are JSON") };
    assert_eq!(photos.as_array().unwrap().len(), 2);
    let first = &photos[0];
    assert_eq!(
        (first["id"].as_str(), first["filename"].as_str(), first["size"].as_u64()),
        (Some("attx3zPTwEdOLYbLn"), Some("2821-20-rb-1.jpg"), Some(71361))
    );
    assert_eq!(first["type"], "image/jpeg");
    assert!(first["url"].as_str().is_some_and(|u| u.starts_with("http")), "{first}");
    assert!(first.get("thumbnails").is_none(), "{first}");
}

fn value_fits(value: &CellValue, ty: ColumnType) -> bool {
    match (value, ty) {
        (CellValue::Links(ids), ColumnType::Links) => !ids.is_empty(),
        (CellValue::Array(items), ColumnType::Array(scalar)) => items.iter().any(|i| scalar_fits(i, scalar)),
        (v, ColumnType::Scalar(scalar)) => scalar_fits(v, scalar),
        _ => false,
    }
}

fn scalar_fits(value: &CellValue, scalar: ScalarType) -> bool {
    matches!(
        (value, scalar),
        (CellValue::Text(_), ScalarType::Text | ScalarType::Gtin)
            | (CellValue::Integer(_), ScalarType::Integer)
            | (CellValue::Numeric(_), ScalarType::Numeric)
            | (CellValue::Boolean(_), ScalarType::Boolean)
            | (CellValue::Date(_), ScalarType::Date)
            | (CellValue::Timestamp(_), ScalarType::Timestamp)
            | (CellValue::Json(_), ScalarType::Json)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_and_quota_problems_say_what_to_fix_and_never_show_the_token() {
    let world = AirtableWorld::new(5, 1).await;
    let dir = tempfile::tempdir().unwrap();
    let config = config_text(&world.server.url(), "sqlite://catsync.db", 10).replace(TOKEN, "${AIRTABLE_TOKEN}");
    std::fs::write(dir.path().join("catsync.toml"), config).unwrap();
    let wrong = tokio::task::spawn_blocking({
        let dir = dir.path().to_path_buf();
        move || {
            Command::new(env!("CARGO_BIN_EXE_catsync"))
                .args(["sync"])
                .current_dir(dir)
                .env("AIRTABLE_TOKEN", "patWRONGTOKEN0001.ffff")
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    assert_eq!(wrong.status.code(), Some(1));
    assert!(
        text(&wrong).contains("refused the token") && !text(&wrong).contains("patWRONGTOKEN0001.ffff"),
        "{}",
        text(&wrong)
    );
    world.sim.set_billing_exhausted(true);
    let quota = catsync_async(dir.path(), &["sync"]).await;
    assert_eq!(quota.status.code(), Some(1));
    assert!(text(&quota).contains("monthly API call quota") && !text(&quota).contains(TOKEN), "{}", text(&quota));
}

/// SIGKILLs `catsync sync` once it has written some rows, then reruns: the store equals Airtable.
async fn killed_sync_resumes_without_loss(t: &TestStore) {
    let world = AirtableWorld::new(1500, 5).await;
    let dir = tempfile::tempdir().unwrap();
    // A killed worker's lease outlives it: short leases, so that the rerun may take the job over.
    let config = config_text(&world.server.url(), &t.url, 10) + "\n[schedule]\nlease_seconds = 1\n";
    std::fs::write(dir.path().join("catsync.toml"), config).unwrap();
    for round in 0..2 {
        if round == 1 {
            for i in 0..200 {
                let name = serde_json::json!({"Name": format!("Renamed {i}")});
                world
                    .sim
                    .update_record(BASE, "Products", &record_id(i * 7), name.as_object().unwrap().clone())
                    .unwrap();
            }
        }
        let before = t.store.source_status("airtable:products").await.unwrap().and_then(|s| s.watermark);
        let mut child = Command::new(env!("CARGO_BIN_EXE_catsync"))
            .args(["-q", "sync", "--full"])
            .current_dir(dir.path())
            .spawn()
            .unwrap();
        let started = Instant::now();
        loop {
            let runs = t.store.runs(Some("airtable:products"), 1).await.unwrap();
            let running = runs.first().is_some_and(|r| r.status == RunStatus::Running);
            if running && started.elapsed() > Duration::from_millis(1200) || started.elapsed() > Duration::from_secs(20)
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(child.try_wait().unwrap().is_none(), "the sync finished before it could be killed");
        child.kill().unwrap();
        child.wait().unwrap();
        let after = t.store.source_status("airtable:products").await.unwrap().and_then(|s| s.watermark);
        assert_eq!(after, before, "a killed run does not move the watermark");
        wait_for_leases_to_expire(t).await;
        let rerun = catsync_async(dir.path(), &["sync"]).await;
        assert_eq!(rerun.status.code(), Some(0), "{}", text(&rerun));
        world.assert_store_matches(t.store.as_ref(), "products").await;
        world.assert_store_matches(t.store.as_ref(), "brands").await;
    }
}

/// Waits until no lease in the store is held (a killed holder's expire by themselves).
async fn wait_for_leases_to_expire(t: &TestStore) {
    let started = Instant::now();
    while t.store.leases().await.unwrap().iter().any(|l| l.expires_at > catsync::control::now_micros()) {
        assert!(started.elapsed() < Duration::from_secs(60), "a lease never expired");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_sync_sqlite() {
    killed_sync_resumes_without_loss(&TestStore::sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_sync_postgres() {
    let Some(t) = TestStore::postgres("upsert").await else { return };
    killed_sync_resumes_without_loss(&t).await;
}
