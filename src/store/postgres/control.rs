//! The control tables in PostgreSQL/CockroachDB: runs, errors and per-source progress.

use chrono::{DateTime, Utc};
use tokio_postgres::types::ToSql;
use tokio_postgres::{GenericClient, Row};
use uuid::Uuid;

use super::{db_err, placeholders};
use crate::control::{
    ControlAdvance, ErrorFilter, ErrorResolution, ErrorTally, ErrorType, InboxFile, PruneCounts, RunCounts, RunRecord,
    RunStatus, RunTally, SourceStatus, SyncErrorRecord,
};
use crate::store::StoreError;

/// Rows per multi-row insert: 8 parameters each stays far below the 65,535 limit.
const ERROR_ROWS_PER_STATEMENT: usize = 1000;

pub async fn insert_run(c: &impl GenericClient, run: &RunRecord) -> Result<(), StoreError> {
    c.execute(
        "INSERT INTO sync_runs (id, source_table, started_at, status) VALUES ($1, $2, $3, $4)",
        &[&run.id, &run.source, &run.started_at, &run.status.as_str()],
    )
    .await
    .map_err(db_err("recording the start of a run"))?;
    Ok(())
}

pub async fn finish_run(c: &impl GenericClient, run: &RunRecord) -> Result<(), StoreError> {
    let n = |v: u64| v as i64;
    let k = &run.counts;
    c.execute(
        "UPDATE sync_runs SET finished_at = $2, status = $3, rows_read = $4, rows_inserted = $5, rows_updated = $6,
                rows_unchanged = $7, rows_deactivated = $8, rows_rejected = $9, rows_warned = $10,
                elapsed_seconds = $11, rows_per_second = $12, message = $13
          WHERE id = $1",
        &[
            &run.id,
            &run.finished_at,
            &run.status.as_str(),
            &n(k.read),
            &n(k.inserted),
            &n(k.updated),
            &n(k.unchanged),
            &n(k.deactivated),
            &n(k.rejected),
            &n(k.warnings),
            &run.elapsed_seconds,
            &run.rows_per_second,
            &run.message,
        ],
    )
    .await
    .map_err(db_err("recording the end of a run"))?;
    Ok(())
}

pub async fn insert_errors(c: &impl GenericClient, errors: &[SyncErrorRecord]) -> Result<(), StoreError> {
    for chunk in errors.chunks(ERROR_ROWS_PER_STATEMENT) {
        let mut sql = String::from(
            "INSERT INTO sync_errors (id, run_id, source_table, record_id, error_type, error_message, record_data, created_at) VALUES ",
        );
        let mut params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = Vec::with_capacity(chunk.len() * 8);
        let kinds: Vec<&str> = chunk.iter().map(|e| e.error_type.as_str()).collect();
        for (i, e) in chunk.iter().enumerate() {
            let b = i * 8;
            sql.push_str(&format!("{}({})", if i > 0 { "," } else { "" }, placeholders(b + 1, 8)));
            params.extend_from_slice(&[
                &e.id,
                &e.run_id,
                &e.source_table,
                &e.record_id,
                &kinds[i],
                &e.error_message,
                &e.record_data,
                &e.created_at,
            ]);
        }
        c.execute(sql.as_str(), &params).await.map_err(db_err("recording rejected records in sync_errors"))?;
    }
    Ok(())
}

/// Moves a source's watermark and totals after a successful run.
pub async fn advance(c: &impl GenericClient, run: &RunRecord, advance: &ControlAdvance) -> Result<(), StoreError> {
    let k = &run.counts;
    c.execute(
        "INSERT INTO sync_control (source_table, last_sync_time, watermark, records_processed, success_count, error_count,
                                   metrics, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)
         ON CONFLICT (source_table) DO UPDATE SET
             last_sync_time = excluded.last_sync_time,
             watermark = excluded.watermark,
             records_processed = sync_control.records_processed + excluded.records_processed,
             success_count = sync_control.success_count + excluded.success_count,
             error_count = sync_control.error_count + excluded.error_count,
             metrics = excluded.metrics,
             updated_at = excluded.updated_at",
        &[
            &run.source,
            &run.started_at,
            &advance.watermark,
            &(k.read as i64),
            &((k.read - k.rejected) as i64),
            &(k.rejected as i64),
            &advance.metrics,
            &run.finished_at.unwrap_or(run.started_at),
        ],
    )
    .await
    .map_err(db_err("advancing sync_control"))?;
    Ok(())
}

/// Records the end of a run: a succeeded one moves its source to `advance`; without one, its
/// `failures` count against the source and nothing moves.
pub async fn conclude(
    c: &impl GenericClient,
    run: &RunRecord,
    advance: Option<&ControlAdvance>,
    failures: i64,
) -> Result<(), StoreError> {
    finish_run(c, run).await?;
    match advance {
        Some(advance) => self::advance(c, run, advance).await,
        None => record_failure(c, &run.source, failures).await,
    }
}

/// Counts a failed run's errors against its source without moving the watermark.
pub async fn record_failure(c: &impl GenericClient, source: &str, errors: i64) -> Result<(), StoreError> {
    c.execute(
        "INSERT INTO sync_control (source_table, error_count, created_at, updated_at) VALUES ($1, $2, now(), now())
         ON CONFLICT (source_table) DO UPDATE SET error_count = sync_control.error_count + excluded.error_count,
                                                  updated_at = excluded.updated_at",
        &[&source, &errors],
    )
    .await
    .map_err(db_err("recording a failure in sync_control"))?;
    Ok(())
}

const SOURCE_COLUMNS: &str = "source_table, last_sync_time, watermark, records_processed, success_count, error_count, \
                              metrics, created_at, updated_at";

pub async fn sources(c: &impl GenericClient) -> Result<Vec<SourceStatus>, StoreError> {
    let sql = format!("SELECT {SOURCE_COLUMNS} FROM sync_control ORDER BY source_table");
    let rows = c.query(sql.as_str(), &[]).await.map_err(db_err("reading sync_control"))?;
    Ok(rows.iter().map(source_from_row).collect())
}

/// One source's `sync_control` row, if it has one.
pub async fn source_status(c: &impl GenericClient, source: &str) -> Result<Option<SourceStatus>, StoreError> {
    let sql = format!("SELECT {SOURCE_COLUMNS} FROM sync_control WHERE source_table = $1");
    let row = c.query_opt(sql.as_str(), &[&source]).await.map_err(db_err("reading sync_control"))?;
    Ok(row.as_ref().map(source_from_row))
}

fn source_from_row(r: &Row) -> SourceStatus {
    SourceStatus {
        source_table: r.get(0),
        last_sync_time: r.get(1),
        watermark: r.get(2),
        records_processed: r.get(3),
        success_count: r.get(4),
        error_count: r.get(5),
        metrics: r.get(6),
        created_at: r.get(7),
        updated_at: r.get(8),
    }
}

const RUN_COLUMNS: &str = "id, source_table, started_at, finished_at, status, rows_read, rows_inserted, rows_updated, \
                           rows_unchanged, rows_deactivated, rows_rejected, rows_warned, elapsed_seconds, \
                           rows_per_second, message";

pub async fn runs(c: &impl GenericClient, source: Option<&str>, limit: u32) -> Result<Vec<RunRecord>, StoreError> {
    let sql = format!(
        "SELECT {RUN_COLUMNS} FROM sync_runs WHERE $1::TEXT IS NULL OR source_table = $1 ORDER BY started_at DESC LIMIT $2"
    );
    query_runs(c, &sql, &[&source, &i64::from(limit)]).await
}

pub async fn slowest_runs(c: &impl GenericClient, limit: u32) -> Result<Vec<RunRecord>, StoreError> {
    let sql = format!(
        "SELECT {RUN_COLUMNS} FROM sync_runs WHERE finished_at IS NOT NULL
          ORDER BY elapsed_seconds DESC, started_at DESC LIMIT $1"
    );
    query_runs(c, &sql, &[&i64::from(limit)]).await
}

async fn query_runs(
    c: &impl GenericClient,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Vec<RunRecord>, StoreError> {
    let rows = c.query(sql, params).await.map_err(db_err("reading sync_runs"))?;
    Ok(rows.iter().map(run_from_row).collect())
}

pub async fn run_tallies(c: &impl GenericClient) -> Result<Vec<RunTally>, StoreError> {
    let rows = c
        .query(
            "SELECT source_table, status, COUNT(*)::INT8, COALESCE(SUM(rows_read), 0)::INT8,
                    COALESCE(SUM(rows_rejected), 0)::INT8, COALESCE(SUM(elapsed_seconds), 0)::FLOAT8
               FROM sync_runs GROUP BY source_table, status ORDER BY source_table, status",
            &[],
        )
        .await
        .map_err(db_err("summing sync_runs"))?;
    Ok(rows
        .iter()
        .map(|r| RunTally {
            source: r.get(0),
            status: RunStatus::parse(r.get(1)),
            runs: r.get::<_, i64>(2) as u64,
            rows_read: r.get::<_, i64>(3) as u64,
            rows_rejected: r.get::<_, i64>(4) as u64,
            seconds: r.get(5),
        })
        .collect())
}

fn run_from_row(r: &Row) -> RunRecord {
    let count = |i| r.get::<_, i64>(i) as u64;
    RunRecord {
        id: r.get(0),
        source: r.get(1),
        started_at: r.get(2),
        finished_at: r.get(3),
        status: RunStatus::parse(r.get(4)),
        counts: RunCounts {
            read: count(5),
            inserted: count(6),
            updated: count(7),
            unchanged: count(8),
            deactivated: count(9),
            rejected: count(10),
            warnings: count(11),
        },
        elapsed_seconds: r.get(12),
        rows_per_second: r.get(13),
        message: r.get(14),
        fence: None,
    }
}

/// `sync_errors` rows a filter picks, newest first; every condition is a bound parameter.
pub async fn error_records(c: &impl GenericClient, filter: &ErrorFilter) -> Result<Vec<SyncErrorRecord>, StoreError> {
    let types: Vec<&str> = filter.types.iter().map(|t| t.as_str()).collect();
    let rows = c
        .query(
            "SELECT id, run_id, source_table, record_id, error_type, error_message, record_data, created_at, resolved,
                    resolved_at, resolution_notes
               FROM sync_errors
              WHERE (NOT $1 OR NOT resolved) AND ($2::TEXT IS NULL OR source_table = $2)
                AND ($3::UUID IS NULL OR id = $3) AND ($4::UUID IS NULL OR run_id = $4)
                AND (cardinality($5::TEXT[]) = 0 OR error_type = ANY($5))
              ORDER BY created_at DESC, id DESC LIMIT $6",
            &[&filter.unresolved, &filter.source, &filter.id, &filter.run_id, &types, &i64::from(filter.limit)],
        )
        .await
        .map_err(db_err("reading sync_errors"))?;
    Ok(rows
        .iter()
        .map(|r| SyncErrorRecord {
            id: r.get(0),
            run_id: r.get(1),
            source_table: r.get(2),
            record_id: r.get(3),
            error_type: ErrorType::parse(r.get(4)),
            error_message: r.get(5),
            record_data: r.get(6),
            created_at: r.get(7),
            resolved: r.get(8),
            resolved_at: r.get(9),
            resolution_notes: r.get(10),
        })
        .collect())
}

pub async fn error_tallies(c: &impl GenericClient) -> Result<Vec<ErrorTally>, StoreError> {
    let rows = c
        .query(
            "SELECT source_table, error_type, COUNT(*)::INT8,
                    COALESCE(SUM(CASE WHEN resolved THEN 0 ELSE 1 END), 0)::INT8
               FROM sync_errors GROUP BY source_table, error_type ORDER BY source_table, error_type",
            &[],
        )
        .await
        .map_err(db_err("counting sync_errors"))?;
    Ok(rows
        .iter()
        .map(|r| ErrorTally {
            source: r.get(0),
            error_type: ErrorType::parse(r.get(1)),
            total: r.get::<_, i64>(2) as u64,
            unresolved: r.get::<_, i64>(3) as u64,
        })
        .collect())
}

/// Marks errors resolved now with their notes (inside the caller's transaction).
pub async fn resolve_errors(c: &impl GenericClient, resolutions: &[ErrorResolution]) -> Result<(), StoreError> {
    let (ids, notes): (Vec<Uuid>, Vec<&str>) = resolutions.iter().map(|r| (r.id, r.note.as_str())).unzip();
    c.execute(
        "UPDATE sync_errors SET resolved = true, resolved_at = now(), resolution_notes = t.note
           FROM unnest($1::UUID[], $2::TEXT[]) AS t (id, note) WHERE sync_errors.id = t.id",
        &[&ids, &notes],
    )
    .await
    .map_err(db_err("resolving sync_errors"))?;
    Ok(())
}

/// Deletes old finished runs without unresolved errors, and old resolved errors (inside the
/// caller's transaction).
pub async fn prune(
    c: &impl GenericClient,
    runs_before: Option<DateTime<Utc>>,
    errors_before: Option<DateTime<Utc>>,
) -> Result<PruneCounts, StoreError> {
    let errors = match errors_before {
        Some(before) => c
            .execute("DELETE FROM sync_errors WHERE resolved AND resolved_at < $1", &[&before])
            .await
            .map_err(db_err("pruning resolved sync_errors"))?,
        None => 0,
    };
    let runs = match runs_before {
        Some(before) => c
            .execute(
                "DELETE FROM sync_runs WHERE status <> 'running' AND started_at < $1
                    AND NOT EXISTS (SELECT 1 FROM sync_errors e WHERE e.run_id = sync_runs.id AND NOT e.resolved)",
                &[&before],
            )
            .await
            .map_err(db_err("pruning sync_runs"))?,
        None => 0,
    };
    Ok(PruneCounts { runs, errors })
}

pub async fn inbox_file_imported(c: &impl GenericClient, file: &InboxFile) -> Result<bool, StoreError> {
    let row = c
        .query_opt(
            "SELECT 1 FROM inbox_files WHERE distributor = $1 AND path = $2 AND fingerprint = $3",
            &[&file.distributor, &file.path, &file.fingerprint],
        )
        .await
        .map_err(db_err("reading inbox_files"))?;
    Ok(row.is_some())
}

/// Remembers an imported inbox file (inside the caller's transaction).
pub async fn record_inbox_file(c: &impl GenericClient, file: &InboxFile, run_id: Uuid) -> Result<(), StoreError> {
    c.execute(
        "INSERT INTO inbox_files (distributor, path, fingerprint, run_id, imported_at) VALUES ($1, $2, $3, $4, now())
         ON CONFLICT (distributor, path, fingerprint) DO NOTHING",
        &[&file.distributor, &file.path, &file.fingerprint, &run_id],
    )
    .await
    .map_err(db_err("recording an inbox file"))?;
    Ok(())
}
