//! The `catsync` binary end to end: commands, exit codes, JSON output, secrets and kills.

mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use catsync::control::RunStatus;
use common::{feed_csv, TestStore};

fn catsync(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_catsync"))
        .args(args)
        .current_dir(dir)
        .env_remove("CATSYNC_STORE")
        .env_remove("CATSYNC_CONFIG")
        .env_remove("CATSYNC_SEARCH")
        .output()
        .expect("catsync runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn demo_runs_on_embedded_defaults_and_a_second_run_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let first = catsync(dir.path(), &["demo"]);
    assert_eq!(first.status.code(), Some(0), "{}{}", stdout(&first), stderr(&first));
    let out = stdout(&first);
    assert!(out.contains("matching (incremental): 59 distributor products examined"), "{out}");
    assert!(out.contains("catsync search \"nvme ssd\""), "{out}");
    for distributor in ["acme", "nordhandel", "pacific", "summit"] {
        assert!(out.contains(&format!("distributor {distributor}: done")), "{out}");
    }
    for table in ["products", "brands", "suppliers"] {
        assert!(out.contains(&format!("→ {table}: full sync done")), "{out}");
    }
    assert!(dir.path().join("catsync-data/catsync.db").exists());
    let second = catsync(dir.path(), &["demo", "--json"]);
    let doc: serde_json::Value = serde_json::from_slice(&second.stdout).unwrap();
    for file in doc["files"].as_array().unwrap().iter().chain(doc["tables"].as_array().unwrap()) {
        assert_eq!(file["counts"]["inserted"], 0, "{file}");
        assert_eq!(file["counts"]["updated"], 0, "{file}");
    }
    assert!(doc["tables"].as_array().unwrap().iter().all(|t| t["mode"] == "incremental"), "{doc}");
    assert_eq!(doc["matching"]["offers_examined"], 0, "nothing changed, nothing to rematch: {doc}");
    assert_eq!(doc["index"]["entries"], 0, "nothing changed, nothing to index: {doc}");
    let gtin_search = &doc["searches"][1]["results"];
    assert!(gtin_search["results"][0]["gtin"].is_string(), "an exact GTIN finds its product first: {gtin_search}");
    let status = catsync(dir.path(), &["status", "--json"]);
    let doc: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(
        doc["sources"].as_array().unwrap().len(),
        4 + 3 + 2,
        "four distributors, three Airtable tables, matching, index"
    );
    let config = "catsync-data/demo.toml";
    let review = catsync(dir.path(), &["--config", config, "matches", "--status", "auto", "--json", "--limit", "500"]);
    let doc: serde_json::Value = serde_json::from_slice(&review.stdout).unwrap();
    assert!(doc["matches"].as_array().unwrap().len() > 40, "the sample feeds carry catalog products: {doc}");
    let report = std::fs::read_to_string(dir.path().join("catsync-data/report.html")).unwrap();
    assert!(report.contains("distributor:summit") && report.contains("<svg"), "the demo writes the report");
    assert!(
        stdout(&first).contains("catsync --config catsync-data/demo.toml serve"),
        "and says how to open the dashboard"
    );
}

#[test]
fn status_runs_and_report_show_the_same_runs() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("f.csv"), "sku,title,price\nA,Drill,10\n,No SKU,5\n").unwrap();
    let import = catsync(dir.path(), &["import", "f.csv", "--distributor", "acme"]);
    assert_eq!(import.status.code(), Some(0), "{}", stderr(&import));
    let status = catsync(dir.path(), &["status"]);
    let text = stdout(&status);
    assert!(
        text.contains("distributor:acme") && text.contains("50.0%") && text.contains("outbox: 1 entry waiting"),
        "{text}"
    );
    assert!(!text.contains('\x1b'), "no colour codes when stdout is not a terminal");
    let status = catsync(dir.path(), &["status", "--json"]);
    let doc: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(doc["sources"][0]["error_level"], "bad");
    let runs = catsync(dir.path(), &["runs", "--source", "distributor:acme", "--json"]);
    let doc: serde_json::Value = serde_json::from_slice(&runs.stdout).unwrap();
    assert_eq!(doc["runs"].as_array().unwrap().len(), 1);
    assert_eq!(doc["runs"][0]["counts"]["rejected"], 1);
    assert!(stdout(&catsync(dir.path(), &["runs"])).contains("distributor:acme"));
    let report = catsync(dir.path(), &["report", "--html", "out/report.html"]);
    assert_eq!(report.status.code(), Some(0), "{}", stderr(&report));
    let html = std::fs::read_to_string(dir.path().join("out/report.html")).unwrap();
    assert!(html.contains("No SKU"), "the raw record of the rejected row");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_answers_until_sigterm_and_then_exits_cleanly() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_catsync"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .current_dir(dir.path())
        .env_remove("CATSYNC_STORE")
        .env_remove("CATSYNC_CONFIG")
        .env_remove("CATSYNC_SEARCH")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stderr.take().unwrap()).read_line(&mut line).unwrap();
    let url = line.split_whitespace().find(|w| w.starts_with("http://")).unwrap_or_else(|| panic!("{line}"));
    let health = reqwest::get(format!("{url}healthz")).await.unwrap();
    assert_eq!(health.text().await.unwrap(), "ok\n");
    let status: serde_json::Value = reqwest::get(format!("{url}api/status")).await.unwrap().json().await.unwrap();
    assert!(status["sources"].as_array().unwrap().is_empty(), "a new store: {status}");
    let term = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(term.success());
    assert_eq!(child.wait().unwrap().code(), Some(0), "a clean shutdown on SIGTERM");
}

#[test]
fn serve_refuses_a_public_address_without_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let out = catsync(dir.path(), &["serve", "--listen", "0.0.0.0:0"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("[serve]") && err.contains("CATSYNC_TOKEN"), "says how to set a token: {err}");
    assert!(!dir.path().join("catsync-data").exists(), "refused before opening anything");
}

#[test]
fn import_prints_json_and_strict_turns_rejects_into_exit_3() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("f.csv"), "sku,price\nA,1.00\nB,oops\n").unwrap();
    let out = catsync(dir.path(), &["import", "f.csv", "--distributor", "acme", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["files"][0]["counts"]["rejected"], 1);
    assert_eq!(doc["files"][0]["status"], "succeeded");
    let strict = catsync(dir.path(), &["import", "f.csv", "--distributor", "acme", "--strict"]);
    assert_eq!(strict.status.code(), Some(3));
    let errors = catsync(dir.path(), &["errors", "--json", "--limit", "1"]);
    let doc: serde_json::Value = serde_json::from_slice(&errors.stdout).unwrap();
    assert_eq!(doc["errors"][0]["record_data"]["fields"]["price"], "oops");
}

#[test]
fn a_failed_file_exits_1_and_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("book.xlsx"), b"PK\x03\x04zipped").unwrap();
    let out = catsync(dir.path(), &["import", "book.xlsx", "--distributor", "acme"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("book.xlsx: this is a ZIP archive"), "{}", stdout(&out));
}

#[test]
fn config_errors_exit_2_and_name_the_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("catsync.toml"), "[store]\nurl = \"sqlite://x.db\"\ncolour = \"red\"\n").unwrap();
    let out = catsync(dir.path(), &["check"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("catsync.toml: line 3") && stderr(&out).contains("colour"), "{}", stderr(&out));
    let out = catsync(dir.path(), &["--store", "mysql://db/x", "--config", "/dev/null", "status"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("unsupported store URL"), "{}", stderr(&out));
}

#[test]
fn configured_column_mapping_is_used() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("catsync.toml"),
        "[[distributors]]\nname = \"acme\"\nmode = \"delta\"\n[distributors.columns]\nsku = \"Code\"\nprice = \"Net\"\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("f.csv"), "sku,Code,Net\nignored,C-1,5.00\n").unwrap();
    let out = catsync(dir.path(), &["import", "f.csv", "--distributor", "acme", "--json"]);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let columns = &doc["files"][0]["columns"];
    assert_eq!(columns[0], serde_json::json!(["sku", "Code"]), "{doc}");
    assert_eq!(columns[1], serde_json::json!(["price", "Net"]), "{doc}");
}

#[test]
fn store_passwords_never_reach_the_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let url = "postgres://catsync:Sup3rS3cret@127.0.0.1:1/catalog";
    let out = catsync(dir.path(), &["--store", url, "check"]);
    assert_eq!(out.status.code(), Some(1));
    let all = stdout(&out) + &stderr(&out);
    assert!(all.contains("catsync:***@127.0.0.1:1"), "{all}");
    assert!(!all.contains("Sup3rS3cret"), "{all}");
    let help = Command::new(env!("CARGO_BIN_EXE_catsync")).args(["--help"]).env("CATSYNC_STORE", url).output().unwrap();
    assert!(!stdout(&help).contains("Sup3rS3cret"));
}

#[test]
fn every_command_has_help_with_examples() {
    for cmd in ["import", "sync", "init", "status", "runs", "report", "serve", "errors", "demo", "check", "dev"] {
        let out = Command::new(env!("CARGO_BIN_EXE_catsync")).args([cmd, "--help"]).output().unwrap();
        assert_eq!(out.status.code(), Some(0));
        assert!(stdout(&out).contains("Examples:"), "{cmd}: {}", stdout(&out));
    }
    let bad = Command::new(env!("CARGO_BIN_EXE_catsync")).args(["import"]).output().unwrap();
    assert_eq!(bad.status.code(), Some(2));
}

/// Starts an import of a changed big feed, SIGKILLs it mid-run, and checks that the store holds
/// exactly the old state or exactly the new one; then the rerun converges.
async fn killed_import_leaves_old_or_new_state(t: &TestStore) {
    const ROWS: usize = 200_000;
    let v1 = t.feed("v1.csv", feed_csv(ROWS, 10));
    let v2 = t.feed("v2.csv", feed_csv(ROWS, 1_000_000));
    t.import("acme", &v1, catsync::source::feed::FeedMode::Full).await;
    let fingerprint_v1 = t.store.sources().await.unwrap()[0].watermark.clone();
    let mut child = Command::new(env!("CARGO_BIN_EXE_catsync"))
        .args(["--store", &t.url, "-q", "import", v2.to_str().unwrap(), "--distributor", "acme"])
        .spawn()
        .unwrap();
    // Kill once the run has started writing.
    let started = Instant::now();
    loop {
        let runs = t.store.runs(Some("distributor:acme"), 1).await.unwrap();
        if runs[0].status == RunStatus::Running || started.elapsed() > Duration::from_secs(20) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert!(child.try_wait().unwrap().is_none(), "the import finished before it could be killed");
    child.kill().unwrap();
    child.wait().unwrap();
    let rows = t.products("acme").await;
    assert_eq!(rows.len(), ROWS);
    let prices_from_v2 = rows.iter().filter(|p| p.product.price.unwrap() >= "1000000".parse().unwrap()).count();
    let watermark = t.store.sources().await.unwrap()[0].watermark.clone();
    match prices_from_v2 {
        0 => assert_eq!(watermark, fingerprint_v1, "old rows with a moved watermark"),
        n if n == ROWS => assert_ne!(watermark, fingerprint_v1, "new rows without their watermark"),
        n => panic!("half-applied import: {n} of {ROWS} rows changed"),
    }
    let rerun = t.import("acme", &v2, catsync::source::feed::FeedMode::Full).await;
    assert_eq!(rerun.status, RunStatus::Succeeded);
    assert_eq!(rerun.counts.inserted + rerun.counts.updated + rerun.counts.unchanged, ROWS as u64);
    assert!(t.products("acme").await.iter().all(|p| p.product.price.unwrap() >= "1000000".parse().unwrap()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_import_sqlite() {
    killed_import_leaves_old_or_new_state(&TestStore::sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_import_postgres() {
    let Some(t) = TestStore::postgres("copy").await else { return };
    killed_import_leaves_old_or_new_state(&t).await;
}
