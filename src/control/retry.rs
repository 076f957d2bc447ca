//! `catsync retry`: rejected feed rows processed again from the raw records `sync_errors` keeps,
//! after a config or mapping fix.
//!
//! The rows of one distributor that share a header are written back into a CSV file and imported
//! in delta mode through the normal import (the same typing, the same store writes and outbox
//! entries; nothing is deactivated). Each retried error is then resolved with a note: a row that
//! imported says so; a row rejected again says so, with the new reason and the id of the new
//! `sync_errors` row, which keeps the raw record for the next retry. The old row keeps its
//! message, so the history of a record reads from its first error to its last.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Serialize;
use uuid::Uuid;

use super::lease::{describe_busy, feed_job, JobLeases};
use super::{ErrorFilter, ErrorResolution, ErrorType, SyncErrorRecord};
use crate::source::feed::import::{import_file, FileReport, ImportOptions};
use crate::source::feed::{FeedMode, FeedProfile};
use crate::store::{Store, StoreError};

/// Which unresolved errors to retry.
#[derive(Debug, Clone, Default)]
pub struct RetryRequest {
    /// Only this source (`distributor:acme`).
    pub source: Option<String>,
    /// Only this error.
    pub id: Option<Uuid>,
    pub limit: u32,
}

impl RetryRequest {
    /// The errors it picks: unresolved rejections.
    pub fn filter(&self) -> ErrorFilter {
        ErrorFilter {
            unresolved: true,
            types: vec![ErrorType::Rejected],
            source: self.source.clone(),
            id: self.id,
            run_id: None,
            limit: self.limit,
        }
    }
}

/// What a retry did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RetryReport {
    /// Unresolved rejections looked at.
    pub examined: u64,
    /// Rows that imported now; their errors are resolved.
    pub resolved: u64,
    /// Rows rejected again: their errors are resolved as superseded by a new one with the new reason.
    pub failed_again: u64,
    /// Errors that cannot be retried from their raw record here (see `skipped_reasons`).
    pub skipped: u64,
    pub skipped_reasons: Vec<String>,
    /// The import runs of the retried rows.
    pub runs: Vec<FileReport>,
}

/// Why a retry did not run.
#[derive(Debug, thiserror::Error)]
pub enum RetryError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A distributor's feed job is held by another worker.
    #[error("{0}; try again then")]
    Busy(String),
    #[error("could not create {path} for the rows to retry: {source}")]
    WorkDir { path: PathBuf, source: std::io::Error },
}

/// `retry_errors` under the leases of the feed jobs the picked errors belong to, so that it never
/// imports beside a `catsync watch` doing the same job (refused while another worker holds one).
/// The rows are written to a folder of their own, removed afterwards.
pub async fn retry_under_leases(
    store: &dyn Store,
    leases: &JobLeases,
    profile_of: &(dyn Fn(&str) -> FeedProfile + Sync),
    request: &RetryRequest,
) -> Result<RetryReport, RetryError> {
    let jobs: BTreeSet<String> = store
        .error_records(&request.filter())
        .await?
        .iter()
        .filter_map(|e| e.source_table.strip_prefix("distributor:").map(feed_job))
        .collect();
    let jobs: Vec<String> = jobs.into_iter().collect();
    let work_dir = std::env::temp_dir().join(format!("catsync-retry-{}", Uuid::new_v4()));
    std::fs::create_dir_all(&work_dir).map_err(|source| RetryError::WorkDir { path: work_dir.clone(), source })?;
    let dir = &work_dir;
    let outcome = leases
        .run_exclusive(&jobs, |store| async move { retry_errors(store.as_ref(), profile_of, request, dir).await });
    let outcome = outcome.await;
    let _ = std::fs::remove_dir_all(&work_dir);
    match outcome? {
        Ok(report) => Ok(report?),
        Err(busy) => Err(RetryError::Busy(describe_busy(&busy))),
    }
}

/// Retries the unresolved rejections `request` picks. `profile_of` gives each distributor's
/// current feed profile (the fixed config); the rows are written under `work_dir` while they import.
pub async fn retry_errors(
    store: &dyn Store,
    profile_of: &(dyn Fn(&str) -> FeedProfile + Sync),
    request: &RetryRequest,
    work_dir: &Path,
) -> Result<RetryReport, StoreError> {
    let errors = store.error_records(&request.filter()).await?;
    let mut report = RetryReport { examined: errors.len() as u64, ..RetryReport::default() };
    let mut groups: BTreeMap<RowShape, Vec<RetryRow>> = BTreeMap::new();
    for error in errors {
        match retryable_row(&error) {
            Ok((shape, values)) => groups.entry(shape).or_default().push(RetryRow { error, values }),
            Err(reason) => {
                report.skipped += 1;
                report.skipped_reasons.push(format!("{}: {reason}", error.id));
            }
        }
    }
    for (n, (shape, rows)) in groups.into_iter().enumerate() {
        let path = work_dir.join(format!("retry-{}-{n}.csv", shape.distributor));
        let profile = FeedProfile { mode: FeedMode::Delta, ..profile_of(&shape.distributor) };
        retry_group(store, &profile, &path, &shape.headers, &rows, &mut report).await?;
    }
    Ok(report)
}

/// A distributor and the sorted headers of its rows: the rows one retry file holds.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct RowShape {
    distributor: String,
    headers: Vec<String>,
}

/// A rejected row to import again: its error and its values in the shape's header order.
struct RetryRow {
    error: SyncErrorRecord,
    values: Vec<String>,
}

/// Imports one file of rows and resolves their errors by what happened to each.
async fn retry_group(
    store: &dyn Store,
    profile: &FeedProfile,
    path: &Path,
    headers: &[String],
    rows: &[RetryRow],
    report: &mut RetryReport,
) -> Result<(), StoreError> {
    let lines = write_rows(path, headers, rows.iter().map(|r| &r.values)).map_err(|e| StoreError::Database {
        context: format!("writing {}", path.display()),
        reason: e.to_string(),
        retryable: false,
    })?;
    let run = import_file(store, profile, path, &ImportOptions::default()).await;
    let _ = std::fs::remove_file(path);
    let run = run?;
    if run.status == crate::control::RunStatus::Failed && run.counts.rejected == 0 {
        // The file as a whole failed (nothing per row): the errors stay as they are.
        report.runs.push(run);
        return Ok(());
    }
    let again = rejections_by_line(store, run.run_id).await?;
    let mut resolutions = Vec::with_capacity(rows.len());
    for (row, line) in rows.iter().zip(&lines) {
        let note = match again.get(line) {
            Some(new) => {
                report.failed_again += 1;
                format!(
                    "retried in run {}: rejected again, superseded by error {}: {}",
                    run.run_id, new.id, new.error_message
                )
            }
            None => {
                report.resolved += 1;
                format!("retried in run {}: imported", run.run_id)
            }
        };
        resolutions.push(ErrorResolution { id: row.error.id, note });
    }
    store.resolve_errors(&resolutions, None).await?;
    report.runs.push(run);
    Ok(())
}

/// The shape and values of a rejected feed row, or why it cannot be retried.
fn retryable_row(error: &SyncErrorRecord) -> Result<(RowShape, Vec<String>), String> {
    let Some(distributor) = error.source_table.strip_prefix("distributor:") else {
        return Err(format!(
            "{} is not a feed; an Airtable record is synced again by `catsync sync --full` once fixed in Airtable or catsync.toml",
            error.source_table
        ));
    };
    let Some(fields) = error.record_data.get("fields").and_then(|f| f.as_object()).filter(|f| !f.is_empty()) else {
        return Err("the error keeps no raw fields to import again".into());
    };
    let headers: Vec<String> = fields.keys().cloned().collect();
    let values = fields.values().map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string)).collect();
    Ok((RowShape { distributor: distributor.to_string(), headers }, values))
}

/// Writes a CSV of `headers` and `rows`; returns the line each row starts on (as the reader counts).
fn write_rows<'a>(
    path: &Path,
    headers: &[String],
    rows: impl Iterator<Item = &'a Vec<String>>,
) -> std::io::Result<Vec<u64>> {
    let mut out = csv::Writer::from_writer(Vec::new());
    out.write_record(headers)?;
    let mut lines = Vec::new();
    for row in rows {
        out.flush()?;
        let written = out.get_ref();
        lines.push(1 + written.iter().filter(|&&b| b == b'\n').count() as u64);
        out.write_record(row)?;
    }
    let bytes = out.into_inner().map_err(|e| e.into_error())?;
    std::fs::write(path, bytes)?;
    Ok(lines)
}

/// The rejections a run recorded, by the line of their row.
async fn rejections_by_line(store: &dyn Store, run_id: Uuid) -> Result<BTreeMap<u64, SyncErrorRecord>, StoreError> {
    let filter = ErrorFilter {
        types: vec![ErrorType::Rejected],
        run_id: Some(run_id),
        limit: u32::MAX,
        ..ErrorFilter::default()
    };
    let errors = store.error_records(&filter).await?;
    Ok(errors.into_iter().filter_map(|e| Some((e.record_data.get("line")?.as_u64()?, e))).collect())
}
