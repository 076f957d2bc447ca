//! Drives one feed file into the store: a reader thread types rows while the store writes the
//! previous batch, and the whole file commits in one `FeedImport` transaction with its run record
//! and watermark.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;
use tokio::sync::mpsc;
use uuid::Uuid;

use super::{FeedError, FeedProfile, FeedReader, FeedRecord, RowProblem, Severity};
use crate::control::{ControlAdvance, ErrorType, RunCounts, RunRecord, RunStatus, SyncErrorRecord};
use crate::product::{distributor_source, DistributorProduct};
use crate::store::{FeedImport, FeedImportEnd, Store, StoreError};

/// Rows per batch handed to the store: large enough for COPY to stream efficiently, small enough
/// that a few batches in flight keep memory flat.
const BATCH_ROWS: usize = 10_000;
/// Batches buffered between the reader thread and the store.
const BATCHES_IN_FLIGHT: usize = 3;
/// Row problems quoted in the summary; the rest are in `sync_errors`.
const PROBLEMS_SHOWN: usize = 10;
/// Whole-file attempts when the store reports a serialization conflict.
const ATTEMPTS: u32 = 3;

/// Settings of an import beyond the feed profile.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    pub allow_mass_deactivate: bool,
    /// Draw a progress bar (only ever on a terminal).
    pub progress: bool,
}

/// What happened to one file.
#[derive(Debug, Clone, Serialize)]
pub struct FileReport {
    pub file: PathBuf,
    pub distributor: String,
    pub run_id: Uuid,
    pub status: RunStatus,
    /// Encoding, delimiter and header line as detected.
    pub detected: Option<String>,
    /// Canonical field → feed header.
    pub columns: Vec<(String, String)>,
    pub counts: RunCounts,
    pub elapsed_seconds: f64,
    pub rows_per_second: f64,
    /// The first row problems, each naming file, line and column.
    pub problems: Vec<String>,
    /// Why the file failed, when it did.
    pub error: Option<String>,
}

/// A file-level failure; row-level problems never end up here.
#[derive(Debug, thiserror::Error)]
enum ImportError {
    #[error(transparent)]
    Feed(#[from] FeedError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Imports one file as one run. A file that cannot be read, or a store failure, fails the run and
/// leaves the store as it was; the report says why.
pub async fn import_file(
    store: &dyn Store,
    profile: &FeedProfile,
    path: &Path,
    options: &ImportOptions,
) -> Result<FileReport, StoreError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let mut run = RunRecord::start(&distributor_source(&profile.distributor));
        store.start_run(&run).await?;
        let mut report = FileReport {
            file: path.to_path_buf(),
            distributor: profile.distributor.clone(),
            run_id: run.id,
            status: RunStatus::Running,
            detected: None,
            columns: Vec::new(),
            counts: RunCounts::default(),
            elapsed_seconds: 0.0,
            rows_per_second: 0.0,
            problems: Vec::new(),
            error: None,
        };
        match stream_into_store(store, profile, path, options, &mut run, &mut report).await {
            Ok(counts) => {
                run.counts = counts;
                report.status = run.status;
                report.error = run.message.clone();
            }
            Err(ImportError::Store(e)) if e.is_retryable() && attempt < ATTEMPTS => {
                tracing::warn!(error = %e, attempt, "store conflict; importing the file again");
                run.finish(RunStatus::Failed, Some(format!("retried: {e}")));
                store.fail_run(&run, Vec::new()).await?;
                continue;
            }
            Err(e) => {
                let message = e.to_string();
                run.finish(RunStatus::Failed, Some(message.clone()));
                let error = file_error(&run, path, &message);
                store.fail_run(&run, vec![error]).await?;
                report.status = RunStatus::Failed;
                report.error = Some(message);
            }
        }
        report.counts = run.counts;
        report.elapsed_seconds = run.elapsed_seconds;
        report.rows_per_second = run.rows_per_second;
        return Ok(report);
    }
}

/// What the reader thread sends.
enum ReaderEvent {
    Opened { detected: String, columns: Vec<(String, String)>, mapping_error: Option<String> },
    Batch { products: Vec<DistributorProduct>, problems: Vec<RowProblem>, bytes_read: u64 },
    Done { fingerprint: String },
    Failed(FeedError),
}

async fn stream_into_store(
    store: &dyn Store,
    profile: &FeedProfile,
    path: &Path,
    options: &ImportOptions,
    run: &mut RunRecord,
    report: &mut FileReport,
) -> Result<RunCounts, ImportError> {
    let (tx, mut rx) = mpsc::channel(BATCHES_IN_FLIGHT);
    let reader_thread = {
        let (profile, path) = (profile.clone(), path.to_path_buf());
        std::thread::spawn(move || read_feed(&path, &profile, &tx))
    };
    let progress = progress_bar(options.progress, std::fs::metadata(path).map_or(0, |m| m.len()));
    let file_name = path.display().to_string();
    let mut import: Option<Box<dyn FeedImport>> = None;
    let mut fingerprint = None;
    let mut mapping_error = None;
    while let Some(event) = rx.recv().await {
        match event {
            ReaderEvent::Opened { detected, columns, mapping_error: e } => {
                report.detected = Some(detected);
                report.columns = columns;
                mapping_error = e;
                import = Some(store.begin_feed_import(&profile.distributor, run).await?);
            }
            ReaderEvent::Batch { products, problems, bytes_read } => {
                tally(&mut run.counts, &products, &problems);
                report.problems.extend(
                    problems
                        .iter()
                        .take(PROBLEMS_SHOWN.saturating_sub(report.problems.len()))
                        .map(|p| p.describe(&file_name)),
                );
                let errors = problems.into_iter().map(|p| sync_error(run, &file_name, p)).collect();
                import.as_mut().expect("Opened comes first").write(products, errors).await?;
                progress.set_position(bytes_read);
                let rate = run.counts.read as f64 / progress.elapsed().as_secs_f64().max(0.001);
                progress.set_message(format!("{} rows, {rate:.0} rows/s", run.counts.read));
            }
            ReaderEvent::Done { fingerprint: f } => fingerprint = Some(f),
            ReaderEvent::Failed(e) => return Err(e.into()),
        }
    }
    reader_thread.join().expect("the feed reader thread does not panic");
    progress.finish_and_clear();
    let import = import.expect("a reader that did not fail has opened the file");
    // An unmappable header rejects every row: the run fails, but its rows are kept for a retry.
    let failed = mapping_error.is_some();
    run.finish(if failed { RunStatus::Failed } else { RunStatus::Succeeded }, mapping_error);
    let advance = ControlAdvance {
        watermark: fingerprint.clone(),
        metrics: serde_json::json!({
            "last_file": file_name,
            "fingerprint": fingerprint,
            "detected": report.detected,
            "mode": profile.mode,
        }),
    };
    let end = FeedImportEnd {
        deactivate_missing: profile.mode == super::FeedMode::Full && !failed,
        allow_mass_deactivate: options.allow_mass_deactivate,
        run: run.clone(),
        advance: (!failed).then_some(advance),
    };
    Ok(import.commit(end).await?)
}

/// The reader thread: reads the whole file, batching products and problems.
fn read_feed(path: &Path, profile: &FeedProfile, tx: &mpsc::Sender<ReaderEvent>) {
    let send = |e| tx.blocking_send(e).is_ok();
    let mut reader = match FeedReader::open(path, profile) {
        Ok(r) => r,
        Err(e) => {
            send(ReaderEvent::Failed(e));
            return;
        }
    };
    let columns = reader.column_map().mapped().map(|(r, h)| (r.name().to_string(), h.to_string())).collect();
    let mapping_error = reader.mapping_error().map(|e| format!("{}: {e}", path.display()));
    if !send(ReaderEvent::Opened { detected: reader.detected(), columns, mapping_error }) {
        return;
    }
    let (mut products, mut problems) = (Vec::with_capacity(BATCH_ROWS), Vec::new());
    while let Some(record) = reader.next() {
        match record {
            Ok(FeedRecord::Product(p, warnings)) => {
                products.push(p);
                problems.extend(warnings);
            }
            Ok(FeedRecord::Rejected(problem)) => problems.push(problem),
            Err(e) => {
                send(ReaderEvent::Failed(e));
                return;
            }
        }
        if products.len() + problems.len() >= BATCH_ROWS {
            let batch = ReaderEvent::Batch {
                products: std::mem::replace(&mut products, Vec::with_capacity(BATCH_ROWS)),
                problems: std::mem::take(&mut problems),
                bytes_read: reader.bytes_read(),
            };
            if !send(batch) {
                return;
            }
        }
    }
    let bytes_read = reader.bytes_read();
    if send(ReaderEvent::Batch { products, problems, bytes_read }) {
        send(ReaderEvent::Done { fingerprint: reader.fingerprint() });
    }
}

fn tally(counts: &mut RunCounts, products: &[DistributorProduct], problems: &[RowProblem]) {
    let rejected = problems.iter().filter(|p| p.severity == Severity::Rejected).count() as u64;
    counts.read += products.len() as u64 + rejected;
    counts.rejected += rejected;
    counts.warnings += problems.len() as u64 - rejected;
}

fn sync_error(run: &RunRecord, file: &str, p: RowProblem) -> SyncErrorRecord {
    let fields: serde_json::Map<String, serde_json::Value> =
        p.raw.iter().map(|(h, v)| (h.clone(), serde_json::Value::String(v.clone()))).collect();
    let error_type = match p.severity {
        Severity::Rejected => ErrorType::Rejected,
        Severity::Warning => ErrorType::Warning,
    };
    let data = serde_json::json!({ "file": file, "line": p.line, "field": p.field, "fields": fields });
    SyncErrorRecord::new(run, error_type, p.sku.clone(), p.describe(file), data)
}

fn file_error(run: &RunRecord, path: &Path, message: &str) -> SyncErrorRecord {
    let data = serde_json::json!({ "file": path.display().to_string() });
    SyncErrorRecord::new(run, ErrorType::File, None, message.to_string(), data)
}

fn progress_bar(enabled: bool, total_bytes: u64) -> ProgressBar {
    if !enabled || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(total_bytes), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg} [{bar:30}] {bytes}/{total_bytes} ETA {eta}")
            .expect("the template is valid")
            .progress_chars("=> "),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}
