//! The control tables in SQLite: runs, errors and per-source progress.

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension, Row};
use uuid::Uuid;

use super::{db_err, lease, parse_ts, ts};
use crate::control::lease::Fence;
use crate::control::{
    now_micros, ControlAdvance, ErrorFilter, ErrorResolution, ErrorTally, ErrorType, InboxFile, PruneCounts, RunCounts,
    RunRecord, RunStatus, RunTally, SourceStatus, SyncErrorRecord,
};
use crate::store::StoreError;

pub fn insert_run(conn: &Connection, run: &RunRecord) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO sync_runs (id, source_table, started_at, status) VALUES (?1, ?2, ?3, ?4)",
        params![run.id, run.source, ts(run.started_at), run.status.as_str()],
    )
    .map_err(db_err("recording the start of a run"))?;
    Ok(())
}

pub fn finish_run(conn: &Connection, run: &RunRecord) -> Result<(), StoreError> {
    let c = &run.counts;
    conn.execute(
        "UPDATE sync_runs SET finished_at = ?2, status = ?3, rows_read = ?4, rows_inserted = ?5, rows_updated = ?6,
                rows_unchanged = ?7, rows_deactivated = ?8, rows_rejected = ?9, rows_warned = ?10,
                elapsed_seconds = ?11, rows_per_second = ?12, message = ?13
          WHERE id = ?1",
        params![
            run.id,
            run.finished_at.map(ts),
            run.status.as_str(),
            c.read as i64,
            c.inserted as i64,
            c.updated as i64,
            c.unchanged as i64,
            c.deactivated as i64,
            c.rejected as i64,
            c.warnings as i64,
            run.elapsed_seconds,
            run.rows_per_second,
            run.message,
        ],
    )
    .map_err(db_err("recording the end of a run"))?;
    Ok(())
}

pub fn insert_errors(conn: &Connection, errors: &[SyncErrorRecord]) -> Result<(), StoreError> {
    let mut stmt = conn
        .prepare_cached(
            "INSERT INTO sync_errors (id, run_id, source_table, record_id, error_type, error_message, record_data, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )
        .map_err(db_err("preparing the sync_errors insert"))?;
    for e in errors {
        stmt.execute(params![
            e.id,
            e.run_id,
            e.source_table,
            e.record_id,
            e.error_type.as_str(),
            e.error_message,
            e.record_data.to_string(),
            ts(e.created_at),
        ])
        .map_err(db_err("recording a rejected record in sync_errors"))?;
    }
    Ok(())
}

/// Moves a source's watermark and totals after a successful run.
pub fn advance(conn: &Connection, run: &RunRecord, advance: &ControlAdvance) -> Result<(), StoreError> {
    let c = &run.counts;
    conn.execute(
        "INSERT INTO sync_control (source_table, last_sync_time, watermark, records_processed, success_count, error_count,
                                   metrics, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)
         ON CONFLICT (source_table) DO UPDATE SET
             last_sync_time = excluded.last_sync_time,
             watermark = excluded.watermark,
             records_processed = sync_control.records_processed + excluded.records_processed,
             success_count = sync_control.success_count + excluded.success_count,
             error_count = sync_control.error_count + excluded.error_count,
             metrics = excluded.metrics,
             updated_at = excluded.updated_at",
        params![
            run.source,
            ts(run.started_at),
            advance.watermark,
            c.read as i64,
            (c.read - c.rejected) as i64,
            c.rejected as i64,
            advance.metrics.to_string(),
            ts(run.finished_at.unwrap_or(run.started_at)),
        ],
    )
    .map_err(db_err("advancing sync_control"))?;
    Ok(())
}

/// Records the end of a run: a succeeded one moves its source to `advance`; without one, its
/// `failures` count against the source and nothing moves.
pub fn conclude(
    conn: &Connection,
    run: &RunRecord,
    advance: Option<&ControlAdvance>,
    failures: i64,
) -> Result<(), StoreError> {
    finish_run(conn, run)?;
    match advance {
        Some(advance) => self::advance(conn, run, advance),
        None => record_failure(conn, &run.source, failures),
    }
}

/// Counts a failed run's errors against its source without moving the watermark.
pub fn record_failure(conn: &Connection, source: &str, errors: i64) -> Result<(), StoreError> {
    let now = ts(crate::control::now_micros());
    conn.execute(
        "INSERT INTO sync_control (source_table, error_count, created_at, updated_at) VALUES (?1, ?2, ?3, ?3)
         ON CONFLICT (source_table) DO UPDATE SET error_count = sync_control.error_count + excluded.error_count,
                                                  updated_at = excluded.updated_at",
        params![source, errors, now],
    )
    .map_err(db_err("recording a failure in sync_control"))?;
    Ok(())
}

const SOURCE_COLUMNS: &str = "source_table, last_sync_time, watermark, records_processed, success_count, error_count, \
                              metrics, created_at, updated_at";

pub fn sources(conn: &Connection) -> Result<Vec<SourceStatus>, StoreError> {
    let mut stmt = conn
        .prepare(&format!("SELECT {SOURCE_COLUMNS} FROM sync_control ORDER BY source_table"))
        .map_err(db_err("reading sync_control"))?;
    let rows =
        stmt.query_map([], source_from_row).and_then(Iterator::collect).map_err(db_err("reading sync_control"))?;
    Ok(rows)
}

/// One source's `sync_control` row, if it has one.
pub fn source_status(conn: &Connection, source: &str) -> Result<Option<SourceStatus>, StoreError> {
    conn.query_row(
        &format!("SELECT {SOURCE_COLUMNS} FROM sync_control WHERE source_table = ?1"),
        [source],
        source_from_row,
    )
    .optional()
    .map_err(db_err("reading sync_control"))
}

fn source_from_row(r: &Row) -> rusqlite::Result<SourceStatus> {
    Ok(SourceStatus {
        source_table: r.get(0)?,
        last_sync_time: r.get::<_, Option<String>>(1)?.as_deref().map(parse_ts).transpose()?,
        watermark: r.get(2)?,
        records_processed: r.get(3)?,
        success_count: r.get(4)?,
        error_count: r.get(5)?,
        metrics: json(r, 6)?,
        created_at: parse_ts(&r.get::<_, String>(7)?)?,
        updated_at: parse_ts(&r.get::<_, String>(8)?)?,
    })
}

const RUN_COLUMNS: &str = "id, source_table, started_at, finished_at, status, rows_read, rows_inserted, rows_updated, \
                           rows_unchanged, rows_deactivated, rows_rejected, rows_warned, elapsed_seconds, \
                           rows_per_second, message";

pub fn runs(conn: &Connection, source: Option<&str>, limit: u32) -> Result<Vec<RunRecord>, StoreError> {
    query_runs(
        conn,
        &format!(
            "SELECT {RUN_COLUMNS} FROM sync_runs WHERE ?1 IS NULL OR source_table = ?1 ORDER BY started_at DESC LIMIT ?2"
        ),
        params![source, limit],
    )
}

pub fn slowest_runs(conn: &Connection, limit: u32) -> Result<Vec<RunRecord>, StoreError> {
    query_runs(
        conn,
        &format!(
            "SELECT {RUN_COLUMNS} FROM sync_runs WHERE finished_at IS NOT NULL
              ORDER BY elapsed_seconds DESC, started_at DESC LIMIT ?1"
        ),
        params![limit],
    )
}

fn query_runs(conn: &Connection, sql: &str, params: &[&dyn rusqlite::ToSql]) -> Result<Vec<RunRecord>, StoreError> {
    let mut stmt = conn.prepare(sql).map_err(db_err("reading sync_runs"))?;
    let rows = stmt.query_map(params, run_from_row).and_then(Iterator::collect).map_err(db_err("reading sync_runs"))?;
    Ok(rows)
}

pub fn run_tallies(conn: &Connection) -> Result<Vec<RunTally>, StoreError> {
    let mut stmt = conn
        .prepare(
            "SELECT source_table, status, COUNT(*), COALESCE(SUM(rows_read), 0), COALESCE(SUM(rows_rejected), 0),
                    COALESCE(SUM(elapsed_seconds), 0.0)
               FROM sync_runs GROUP BY source_table, status ORDER BY source_table, status",
        )
        .map_err(db_err("summing sync_runs"))?;
    let rows = stmt
        .query_map([], |r| {
            Ok(RunTally {
                source: r.get(0)?,
                status: RunStatus::parse(&r.get::<_, String>(1)?),
                runs: r.get::<_, i64>(2)? as u64,
                rows_read: r.get::<_, i64>(3)? as u64,
                rows_rejected: r.get::<_, i64>(4)? as u64,
                seconds: r.get(5)?,
            })
        })
        .and_then(Iterator::collect)
        .map_err(db_err("summing sync_runs"))?;
    Ok(rows)
}

fn run_from_row(r: &Row) -> rusqlite::Result<RunRecord> {
    let count = |i| r.get::<_, i64>(i).map(|v| v as u64);
    Ok(RunRecord {
        id: r.get(0)?,
        source: r.get(1)?,
        started_at: parse_ts(&r.get::<_, String>(2)?)?,
        finished_at: r.get::<_, Option<String>>(3)?.as_deref().map(parse_ts).transpose()?,
        status: RunStatus::parse(&r.get::<_, String>(4)?),
        counts: RunCounts {
            read: count(5)?,
            inserted: count(6)?,
            updated: count(7)?,
            unchanged: count(8)?,
            deactivated: count(9)?,
            rejected: count(10)?,
            warnings: count(11)?,
        },
        elapsed_seconds: r.get(12)?,
        rows_per_second: r.get(13)?,
        message: r.get(14)?,
        fence: None,
    })
}

/// `sync_errors` rows a filter picks, newest first; every condition is a bound parameter.
pub fn error_records(conn: &Connection, filter: &ErrorFilter) -> Result<Vec<SyncErrorRecord>, StoreError> {
    let types: Vec<&str> = filter.types.iter().map(|t| t.as_str()).collect();
    let types = (!types.is_empty()).then(|| serde_json::to_string(&types).expect("strings serialize"));
    let mut stmt = conn
        .prepare_cached(
            "SELECT id, run_id, source_table, record_id, error_type, error_message, record_data, created_at, resolved,
                    resolved_at, resolution_notes
               FROM sync_errors
              WHERE (?1 = 0 OR NOT resolved) AND (?2 IS NULL OR source_table = ?2) AND (?3 IS NULL OR id = ?3)
                AND (?4 IS NULL OR run_id = ?4)
                AND (?5 IS NULL OR error_type IN (SELECT value FROM json_each(?5)))
              ORDER BY created_at DESC, rowid DESC LIMIT ?6",
        )
        .map_err(db_err("reading sync_errors"))?;
    let rows = stmt
        .query_map(
            params![filter.unresolved, filter.source, filter.id, filter.run_id, types, filter.limit],
            error_from_row,
        )
        .and_then(Iterator::collect)
        .map_err(db_err("reading sync_errors"))?;
    Ok(rows)
}

pub fn error_tallies(conn: &Connection) -> Result<Vec<ErrorTally>, StoreError> {
    let mut stmt = conn
        .prepare(
            "SELECT source_table, error_type, COUNT(*), COALESCE(SUM(CASE WHEN resolved THEN 0 ELSE 1 END), 0)
               FROM sync_errors GROUP BY source_table, error_type ORDER BY source_table, error_type",
        )
        .map_err(db_err("counting sync_errors"))?;
    let rows = stmt
        .query_map([], |r| {
            Ok(ErrorTally {
                source: r.get(0)?,
                error_type: ErrorType::parse(&r.get::<_, String>(1)?),
                total: r.get::<_, i64>(2)? as u64,
                unresolved: r.get::<_, i64>(3)? as u64,
            })
        })
        .and_then(Iterator::collect)
        .map_err(db_err("counting sync_errors"))?;
    Ok(rows)
}

fn error_from_row(r: &Row) -> rusqlite::Result<SyncErrorRecord> {
    Ok(SyncErrorRecord {
        id: r.get(0)?,
        run_id: r.get(1)?,
        source_table: r.get(2)?,
        record_id: r.get(3)?,
        error_type: ErrorType::parse(&r.get::<_, String>(4)?),
        error_message: r.get(5)?,
        record_data: json(r, 6)?,
        created_at: parse_ts(&r.get::<_, String>(7)?)?,
        resolved: r.get(8)?,
        resolved_at: r.get::<_, Option<String>>(9)?.as_deref().map(parse_ts).transpose()?,
        resolution_notes: r.get(10)?,
    })
}

/// Marks errors resolved now with their notes, in one transaction under `fence`.
pub fn resolve_errors(
    conn: &mut Connection,
    resolutions: &[ErrorResolution],
    fence: Option<&Fence>,
) -> Result<(), StoreError> {
    let tx = conn.transaction().map_err(db_err("starting a transaction"))?;
    lease::check_fence(&tx, fence)?;
    {
        let mut stmt = tx
            .prepare_cached(
                "UPDATE sync_errors SET resolved = 1, resolved_at = ?2, resolution_notes = ?3 WHERE id = ?1",
            )
            .map_err(db_err("preparing the sync_errors update"))?;
        let now = ts(now_micros());
        for r in resolutions {
            stmt.execute(params![r.id, now, r.note]).map_err(db_err("resolving sync_errors"))?;
        }
    }
    tx.commit().map_err(db_err("resolving sync_errors"))
}

/// Deletes old finished runs without unresolved errors, and old resolved errors.
pub fn prune(
    conn: &mut Connection,
    runs_before: Option<DateTime<Utc>>,
    errors_before: Option<DateTime<Utc>>,
) -> Result<PruneCounts, StoreError> {
    let tx = conn.transaction().map_err(db_err("starting a transaction"))?;
    let errors = match errors_before {
        Some(before) => tx
            .execute("DELETE FROM sync_errors WHERE resolved AND resolved_at < ?1", [ts(before)])
            .map_err(db_err("pruning resolved sync_errors"))?,
        None => 0,
    };
    let runs = match runs_before {
        Some(before) => tx
            .execute(
                "DELETE FROM sync_runs WHERE status <> 'running' AND started_at < ?1
                    AND NOT EXISTS (SELECT 1 FROM sync_errors e WHERE e.run_id = sync_runs.id AND NOT e.resolved)",
                [ts(before)],
            )
            .map_err(db_err("pruning sync_runs"))?,
        None => 0,
    };
    tx.commit().map_err(db_err("pruning the control tables"))?;
    Ok(PruneCounts { runs: runs as u64, errors: errors as u64 })
}

pub fn inbox_file_imported(conn: &Connection, file: &InboxFile) -> Result<bool, StoreError> {
    conn.query_row(
        "SELECT 1 FROM inbox_files WHERE distributor = ?1 AND path = ?2 AND fingerprint = ?3",
        params![file.distributor, file.path, file.fingerprint],
        |_| Ok(()),
    )
    .optional()
    .map(|found| found.is_some())
    .map_err(db_err("reading inbox_files"))
}

pub fn record_inbox_file(
    conn: &mut Connection,
    file: &InboxFile,
    run_id: Uuid,
    fence: Option<&Fence>,
) -> Result<(), StoreError> {
    let tx = conn.transaction().map_err(db_err("starting a transaction"))?;
    lease::check_fence(&tx, fence)?;
    tx.execute(
        "INSERT INTO inbox_files (distributor, path, fingerprint, run_id, imported_at) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (distributor, path, fingerprint) DO NOTHING",
        params![file.distributor, file.path, file.fingerprint, run_id, ts(now_micros())],
    )
    .map_err(db_err("recording an inbox file"))?;
    tx.commit().map_err(db_err("recording an inbox file"))
}

pub(super) fn json(r: &Row, i: usize) -> rusqlite::Result<serde_json::Value> {
    let s: String = r.get(i)?;
    serde_json::from_str(&s)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, Box::new(e)))
}
