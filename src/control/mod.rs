//! The control tables' records: what ran (`sync_runs`), how far each source got (`sync_control`),
//! what was rejected (`sync_errors`). These types carry no SQL; `store/` persists them in the same
//! transaction as the data they describe, so a watermark never moves without its rows.

pub mod lease;
pub mod retry;

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use lease::Fence;

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    /// Started and not finished: still going, or killed (its writes were rolled back).
    Running,
    Succeeded,
    Failed,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> RunStatus {
        match s {
            "succeeded" => RunStatus::Succeeded,
            "failed" => RunStatus::Failed,
            _ => RunStatus::Running,
        }
    }
}

/// Row counts of one run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RunCounts {
    /// Data rows read from the source (blank lines and title lines not counted).
    pub read: u64,
    pub inserted: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub deactivated: u64,
    /// Rows not imported; each has a `sync_errors` row.
    pub rejected: u64,
    /// Imported rows with a warning in `sync_errors`.
    pub warnings: u64,
}

impl RunCounts {
    /// These store-side counts (inserted, updated, unchanged, deactivated) with the reader-side
    /// ones (read, rejected, warnings) of `reader`.
    pub fn with_reader_counts(self, reader: &RunCounts) -> RunCounts {
        RunCounts { read: reader.read, rejected: reader.rejected, warnings: reader.warnings, ..self }
    }
}

/// One row of `sync_runs`.
#[derive(Debug, Clone, Serialize)]
pub struct RunRecord {
    pub id: Uuid,
    /// `distributor:<name>` for feeds.
    pub source: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub status: RunStatus,
    pub counts: RunCounts,
    pub elapsed_seconds: f64,
    pub rows_per_second: f64,
    /// Why a run failed, or a one-line summary.
    pub message: Option<String>,
    /// The lease the run works under: the store refuses its writes once another worker took the
    /// job over. `None` for a run outside any lease (tests, tools).
    #[serde(skip)]
    pub fence: Option<Fence>,
}

impl RunRecord {
    pub fn start(source: &str) -> RunRecord {
        RunRecord {
            id: Uuid::new_v4(),
            source: source.to_string(),
            started_at: now_micros(),
            finished_at: None,
            status: RunStatus::Running,
            counts: RunCounts::default(),
            elapsed_seconds: 0.0,
            rows_per_second: 0.0,
            message: None,
            fence: None,
        }
    }

    /// Stamps the end time and derived figures.
    pub fn finish(&mut self, status: RunStatus, message: Option<String>) {
        let end = now_micros();
        self.finished_at = Some(end);
        self.status = status;
        self.message = message;
        self.elapsed_seconds = (end - self.started_at).num_microseconds().unwrap_or(0) as f64 / 1e6;
        self.rows_per_second =
            if self.elapsed_seconds > 0.0 { self.counts.read as f64 / self.elapsed_seconds } else { 0.0 };
    }
}

/// Current time at the microsecond precision both stores keep, so values read back compare equal.
pub fn now_micros() -> DateTime<Utc> {
    let now = Utc::now();
    DateTime::from_timestamp_micros(now.timestamp_micros()).expect("current time is in range")
}

/// The kind of a `sync_errors` row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ErrorType {
    /// A record that was not imported.
    Rejected,
    /// A record imported with something worth a look.
    Warning,
    /// A whole file or source that could not be read.
    File,
}

impl ErrorType {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorType::Rejected => "rejected",
            ErrorType::Warning => "warning",
            ErrorType::File => "file",
        }
    }

    pub fn parse(s: &str) -> ErrorType {
        match s {
            "warning" => ErrorType::Warning,
            "file" => ErrorType::File,
            _ => ErrorType::Rejected,
        }
    }
}

/// One row of `sync_errors`: a rejected or suspicious record with its raw data.
#[derive(Debug, Clone, Serialize)]
pub struct SyncErrorRecord {
    pub id: Uuid,
    pub run_id: Uuid,
    pub source_table: String,
    pub record_id: Option<String>,
    pub error_type: ErrorType,
    pub error_message: String,
    /// The raw record and where it came from (`file`, `line`, `fields`).
    pub record_data: serde_json::Value,
    pub created_at: DateTime<Utc>,
    pub resolved: bool,
    pub resolved_at: Option<DateTime<Utc>>,
    pub resolution_notes: Option<String>,
}

impl SyncErrorRecord {
    /// A new, unresolved error of `run`.
    pub fn new(
        run: &RunRecord,
        error_type: ErrorType,
        record_id: Option<String>,
        error_message: String,
        record_data: serde_json::Value,
    ) -> SyncErrorRecord {
        SyncErrorRecord {
            id: Uuid::new_v4(),
            run_id: run.id,
            source_table: run.source.clone(),
            record_id,
            error_type,
            error_message,
            record_data,
            created_at: now_micros(),
            resolved: false,
            resolved_at: None,
            resolution_notes: None,
        }
    }
}

/// One row of `sync_control`: where a source stands.
#[derive(Debug, Clone, Serialize)]
pub struct SourceStatus {
    pub source_table: String,
    /// When the last successful run started: everything the source held then is in the store.
    pub last_sync_time: Option<DateTime<Utc>>,
    /// Source-specific resume point (a file fingerprint for feeds).
    pub watermark: Option<String>,
    pub records_processed: i64,
    pub success_count: i64,
    pub error_count: i64,
    pub metrics: serde_json::Value,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What a successful run moves forward in `sync_control`.
#[derive(Debug, Clone)]
pub struct ControlAdvance {
    pub watermark: Option<String>,
    pub metrics: serde_json::Value,
}

/// What an outbox entry names: a row whose change alters what the search index holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OutboxEntity {
    /// A distributor product (its own document, and its catalog product's).
    Offer,
    /// A row of a catalog table (a document when the table is the `[catalog]` one).
    Product,
}

impl OutboxEntity {
    pub fn as_str(self) -> &'static str {
        match self {
            OutboxEntity::Offer => "offer",
            OutboxEntity::Product => "product",
        }
    }

    pub fn parse(s: &str) -> Option<OutboxEntity> {
        [OutboxEntity::Offer, OutboxEntity::Product].into_iter().find(|e| e.as_str() == s)
    }
}

/// One row of `search_outbox`, written in the transaction that changed the row it names and
/// deleted only after the index has the documents built from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEntry {
    pub id: i64,
    pub entity: OutboxEntity,
    pub entity_id: Uuid,
}

/// Which `sync_errors` rows `Store::error_records` reads, newest first.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ErrorFilter {
    /// Only unresolved ones.
    pub unresolved: bool,
    /// Only these types (all when empty).
    pub types: Vec<ErrorType>,
    /// Only this source (`distributor:acme`, `airtable:products`).
    pub source: Option<String>,
    /// Only this one.
    pub id: Option<Uuid>,
    /// Only the errors of this run.
    pub run_id: Option<Uuid>,
    pub limit: u32,
}

/// Marks one `sync_errors` row resolved, with a note saying how.
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorResolution {
    pub id: Uuid,
    pub note: String,
}

/// An inbox file as `catsync run` saw it: whose, where, and its fingerprint (content hash and size).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxFile {
    pub distributor: String,
    pub path: String,
    pub fingerprint: String,
}

/// What a retention pass deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PruneCounts {
    pub runs: u64,
    pub errors: u64,
}

/// How many `sync_errors` rows one source has of one type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErrorTally {
    pub source: String,
    pub error_type: ErrorType,
    pub total: u64,
    pub unresolved: u64,
}

/// What the runs of one source ended as, summed over `sync_runs`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunTally {
    pub source: String,
    pub status: RunStatus,
    pub runs: u64,
    pub rows_read: u64,
    pub rows_rejected: u64,
    pub seconds: f64,
}
