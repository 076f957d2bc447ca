//! `catsync run`, `watch` and hand-run commands under leases, end to end with the real binary,
//! against SQLite, PostgreSQL and PostgreSQL on CockroachDB's path: a failing step, a worker
//! killed while it holds a lease, SIGTERM in the middle of an import, a job held elsewhere.

#[macro_use]
mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use catsync::control::lease::Lease;
use catsync::control::InboxFile;
use catsync::source::feed::inbox::fingerprint;
use common::TestStore;

backend_tests!(
    run_reports_a_failed_step_and_still_runs_the_steps_after_it,
    a_hand_run_command_refuses_a_job_another_worker_holds,
    a_killed_holder_s_lease_expires_and_another_worker_takes_the_job_over,
    watch_finishes_the_import_in_progress_on_sigterm_and_exits_0,
    retry_after_a_mapping_fix_imports_the_rejected_rows,
);

/// The longest a test waits for the binary to reach a state; only a hang takes that long.
const PATIENCE: Duration = Duration::from_secs(90);

fn catsync(t: &TestStore, config: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_catsync"));
    let search = format!("tantivy://{}", t.dir.path().join("index").display());
    cmd.args(["--config", config.to_str().unwrap(), "--store", &t.url, "--search", &search])
        .args(args)
        .current_dir(t.dir.path())
        .env_remove("CATSYNC_STORE")
        .env_remove("CATSYNC_CONFIG")
        .env_remove("CATSYNC_SEARCH");
    cmd
}

fn output(cmd: &mut Command) -> (Output, String, String) {
    let out = cmd.output().expect("catsync runs");
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into());
    (out, stdout, stderr)
}

fn write_config(t: &TestStore, text: &str) -> PathBuf {
    let path = t.dir.path().join("catsync.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn inbox(t: &TestStore, name: &str) -> PathBuf {
    let dir = t.dir.path().join("inbox").join(name);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn run_reports_a_failed_step_and_still_runs_the_steps_after_it(t: &TestStore) {
    std::fs::write(inbox(t, "broken").join("a.csv"), b"\x89PNG\r\n\x1a\n not a feed").unwrap();
    std::fs::write(inbox(t, "acme").join("a.csv"), "sku,title,price\nA,Drill,10\nB,Saw,20\n").unwrap();
    let root = t.dir.path().join("inbox").display().to_string();
    let config = write_config(
        t,
        &format!(
            "[[distributors]]\nname = \"broken\"\ninbox = \"{root}/broken/*.csv\"\n\n\
             [[distributors]]\nname = \"acme\"\ninbox = \"{root}/acme/*.csv\"\n"
        ),
    );
    let (out, stdout, stderr) = output(catsync(t, &config, &["run", "--json"]).arg("-q"));
    assert_eq!(out.status.code(), Some(1), "a failed step fails the run: {stdout}{stderr}");
    let doc: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let step = |name: &str| doc["steps"].as_array().unwrap().iter().find(|s| s["step"] == name).cloned().unwrap();
    assert_eq!(step("feed:broken")["status"], "failed", "{doc}");
    assert!(step("feed:broken")["detail"].as_str().unwrap().contains("PNG"), "{doc}");
    assert_eq!(step("feed:acme")["status"], "succeeded", "{doc}");
    assert_eq!(step("feed:acme")["rows"], 2, "{doc}");
    assert_eq!(step("match")["status"], "skipped", "no [catalog]: {doc}");
    assert_eq!(step("index")["status"], "succeeded", "{doc}");
    assert_eq!(step("index")["rows"], 2, "both products reached the index: {doc}");
    assert_eq!(t.products("acme").await.len(), 2);

    let (out, stdout, _) = output(&mut catsync(t, &config, &["run", "--json"]));
    assert_eq!(out.status.code(), Some(1));
    let doc: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let acme = doc["steps"].as_array().unwrap().iter().find(|s| s["step"] == "feed:acme").unwrap();
    assert_eq!(acme["rows"], 0, "an imported file is not imported again: {doc}");
    assert!(acme["detail"].as_str().unwrap().contains("1 unchanged skipped"), "{doc}");
    let broken = doc["steps"].as_array().unwrap().iter().find(|s| s["step"] == "feed:broken").unwrap();
    assert_eq!(broken["status"], "failed", "a failed file is tried again: {doc}");
}

async fn a_hand_run_command_refuses_a_job_another_worker_holds(t: &TestStore) {
    let held = t.store.acquire_lease("feed:acme", "other-host:4242:cafe", Duration::from_secs(600)).await.unwrap();
    assert!(held.is_some());
    let config = write_config(t, "");
    let file = t.feed("a.csv", "sku,title,price\nA,Drill,10\n");
    let (out, stdout, stderr) =
        output(&mut catsync(t, &config, &["import", file.to_str().unwrap(), "--distributor", "acme"]));
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(stderr.contains("feed:acme") && stderr.contains("other-host:4242:cafe"), "{stderr}");
    assert!(stderr.contains("until"), "says when the lease expires: {stderr}");
    assert!(t.products("acme").await.is_empty());
}

async fn retry_after_a_mapping_fix_imports_the_rejected_rows(t: &TestStore) {
    let empty = write_config(t, "");
    let file = t.feed("codes.csv", "Code,title,price\nA1,Drill,10\nA2,Saw,12\n");
    let (out, _, stderr) = output(&mut catsync(t, &empty, &["-q", "import", file.to_str().unwrap(), "-d", "acme"]));
    assert_eq!(out.status.code(), Some(1), "no SKU column: every row rejected, the run failed: {stderr}");
    assert!(t.products("acme").await.is_empty());
    let fixed = write_config(t, "[[distributors]]\nname = \"acme\"\n  [distributors.columns]\n  sku = \"Code\"\n");
    let (out, stdout, stderr) = output(&mut catsync(t, &fixed, &["retry", "--source", "distributor:acme", "--json"]));
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!((report["examined"].as_u64(), report["resolved"].as_u64()), (Some(2), Some(2)), "{report}");
    assert_eq!(t.products("acme").await.len(), 2);
    let (_, stdout, _) = output(&mut catsync(t, &fixed, &["retry", "--json"]));
    let again: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(again["examined"], 0, "resolved errors are not retried twice: {again}");
}

/// A named pipe as an inbox file: whoever reads it blocks until the test lets it go on.
fn fifo(path: &Path) {
    let status = Command::new("mkfifo").arg(path).status().unwrap();
    assert!(status.success());
}

/// Serves `content` through the pipe, stopping after the header until `go` says so (or is
/// dropped, for a reader that was killed).
fn serve_fifo(path: PathBuf, content: String, go: mpsc::Receiver<()>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let Ok(mut pipe) = std::fs::OpenOptions::new().write(true).open(&path) else { return };
        let (header, rest) = content.split_at(content.find('\n').unwrap() + 1);
        if pipe.write_all(header.as_bytes()).is_ok() && go.recv().is_ok() {
            let _ = pipe.write_all(rest.as_bytes());
        }
    })
}

/// Opens the pipe's read end without waiting (O_NONBLOCK), which releases a writer blocked in open.
fn unblock_writer(path: &Path) {
    use std::os::unix::fs::OpenOptionsExt;
    const O_NONBLOCK: i32 = 0o4000;
    drop(std::fs::OpenOptions::new().read(true).custom_flags(O_NONBLOCK).open(path).unwrap());
}

fn wait_until(done: impl Fn() -> bool, what: &str) {
    let deadline = Instant::now() + PATIENCE;
    while !done() {
        assert!(Instant::now() < deadline, "{what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Whether process `pid` has `path` open (Linux: its `/proc/PID/fd` links).
fn has_open(pid: u32, path: &Path) -> bool {
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else { return false };
    fds.filter_map(Result::ok).any(|fd| std::fs::read_link(fd.path()).is_ok_and(|target| target == path))
}

/// Waits until some worker holds a lease on `job`.
async fn held_lease(t: &TestStore, job: &str, child: &mut Child) -> Lease {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let now = catsync::control::now_micros();
        if let Some(l) = t.store.leases().await.unwrap().into_iter().find(|l| l.job == job && l.expires_at > now) {
            return l;
        }
        assert!(child.try_wait().unwrap().is_none(), "catsync ended before it held {job}");
        assert!(Instant::now() < deadline, "no lease on {job}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits for the binary to exit; one that hangs is killed and its output shown.
fn wait_exit(mut child: Child) -> (std::process::ExitStatus, String) {
    let deadline = Instant::now() + PATIENCE;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().unwrap();
            let out = child.wait_with_output().unwrap();
            panic!(
                "catsync did not exit: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status, text)
}

async fn a_killed_holder_s_lease_expires_and_another_worker_takes_the_job_over(t: &TestStore) {
    let config = write_config(t, "[schedule]\nlease_seconds = 1\n");
    let pipe = t.dir.path().join("feed.csv");
    fifo(&pipe);
    let (go, wait) = mpsc::channel();
    let writer = serve_fifo(pipe.clone(), common::feed_csv(50, 10), wait);
    let mut child = catsync(t, &config, &["import", pipe.to_str().unwrap(), "--distributor", "acme"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let victim = held_lease(t, "feed:acme", &mut child).await;
    child.kill().unwrap(); // SIGKILL, mid-import: the file is half read
    child.wait().unwrap();
    drop(go);
    // Killed before it opened the pipe, the reader leaves the writer waiting for one: be it.
    unblock_writer(&pipe);
    writer.join().unwrap();

    let deadline = Instant::now() + PATIENCE;
    let taken = loop {
        if let Some(lease) = t.store.acquire_lease("feed:acme", "survivor", Duration::from_secs(60)).await.unwrap() {
            break lease;
        }
        assert!(Instant::now() < deadline, "the dead holder's lease never expired");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(taken.token, victim.token + 1, "a takeover moves the fencing token");
    assert!(t.products("acme").await.is_empty(), "the killed import committed nothing");
    let file = t.feed("later.csv", common::feed_csv(3, 10));
    let survivor = catsync::store::FencedStore::new(t.store.clone(), &[taken]);
    let profile = catsync::source::feed::FeedProfile { distributor: "acme".into(), ..Default::default() };
    let options = catsync::source::feed::import::ImportOptions::default();
    let report = catsync::source::feed::import::import_file(&survivor, &profile, &file, &options).await.unwrap();
    assert_eq!(report.status, catsync::control::RunStatus::Succeeded, "the new holder works: {report:?}");
}

async fn watch_finishes_the_import_in_progress_on_sigterm_and_exits_0(t: &TestStore) {
    let dir = inbox(t, "acme");
    let config = write_config(
        t,
        &format!(
            "[schedule]\nevery = \"1h\"\n\n[[distributors]]\nname = \"acme\"\ninbox = \"{}/*.csv\"\n",
            dir.display()
        ),
    );
    let pipe = dir.join("feed.csv");
    fifo(&pipe);
    let content = common::feed_csv(40, 10);
    let mut child =
        catsync(t, &config, &["watch", "--json"]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    // The worker holds the job and waits in the middle of the step, reading the file.
    held_lease(t, "feed:acme", &mut child).await;
    let term = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(term.success());
    // The file is read twice: for its fingerprint, then by the import. The first reader must be
    // seen holding the pipe before it may reach its end, and gone before the import's turn.
    let mut first = std::fs::OpenOptions::new().write(true).open(&pipe).unwrap();
    let (header, rest) = content.split_at(content.find('\n').unwrap() + 1);
    first.write_all(header.as_bytes()).unwrap();
    wait_until(|| has_open(child.id(), &pipe), "the fingerprint never opened the file");
    first.write_all(rest.as_bytes()).unwrap();
    drop(first);
    wait_until(|| !has_open(child.id(), &pipe), "the fingerprint never finished");
    std::fs::write(&pipe, &content).unwrap();
    let (status, output) = wait_exit(child);
    assert_eq!(status.code(), Some(0), "{output}");
    let doc: serde_json::Value = serde_json::from_str(output.lines().next().unwrap()).unwrap();
    let steps: Vec<&str> = doc["steps"].as_array().unwrap().iter().map(|s| s["step"].as_str().unwrap()).collect();
    assert_eq!(steps, ["feed:acme"], "the steps after the signal wait for the next start: {doc}");
    assert_eq!(doc["steps"][0]["status"], "succeeded", "{doc}");

    assert_eq!(t.products("acme").await.len(), 40, "the import in progress committed");
    let same = t.feed("same.csv", &content);
    let expected = fingerprint(&same).unwrap();
    let control = t.store.source_status("distributor:acme").await.unwrap().unwrap();
    assert_eq!(control.watermark.as_deref(), Some(expected.as_str()), "its watermark committed with it");
    let seen = InboxFile { distributor: "acme".into(), path: pipe.display().to_string(), fingerprint: expected };
    assert!(t.store.inbox_file_imported(&seen).await.unwrap());
}

#[test]
fn log_format_json_writes_one_json_object_per_line() {
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite://{}", dir.path().join("catsync.db").display());
    let out = Command::new(env!("CARGO_BIN_EXE_catsync"))
        .args(["--log-format", "json", "-vv", "--store", &store, "run"])
        .current_dir(dir.path())
        .env_remove("CATSYNC_CONFIG")
        .env_remove("CATSYNC_SEARCH")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let logs = String::from_utf8_lossy(&out.stderr);
    assert!(logs.lines().count() > 0, "-vv logs something");
    for line in logs.lines() {
        let entry: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(entry["level"].is_string() && entry["timestamp"].is_string(), "{line}");
    }
}
