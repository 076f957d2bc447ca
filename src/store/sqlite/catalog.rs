//! Catalog tables in SQLite: their DDL, the batches a catalog sync writes, and reading rows back as
//! typed cells.
//!
//! Each batch is one `BEGIN IMMEDIATE` transaction on the store's connection: the stored content
//! hash of each id is looked up first, then only new rows are inserted and changed or returning rows
//! updated, with cached prepared statements. Values follow the foundation's conventions (UUIDs as
//! 16-byte BLOBs, timestamps as RFC 3339 UTC text with microseconds, JSON as text, booleans 0/1);
//! numerics are decimal text, so their scale and all 28 digits survive (SQLite's NUMERIC affinity
//! would turn them into 15-digit floats). Arrays and links are JSON arrays. Each declared type names
//! what the column holds (`DECIMAL_TEXT`, `TEXT_ARRAY_JSON`, …), which is how a changed column type
//! is recognized.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::NaiveDate;
use rusqlite::types::{ToSqlOutput, Value, ValueRef};
use rusqlite::{params, CachedStatement, Connection, OptionalExtension, Row, ToSql, TransactionBehavior};
use rust_decimal::Decimal;
use uuid::Uuid;

use super::{control, db_err, outbox, parse_ts, run_blocking, ts};
use crate::catalog::{
    CatalogLink, CatalogRecord, CatalogTable, CellValue, ColumnType, ScalarType, StoredCatalogRecord,
};
use crate::control::lease::Fence;
use crate::control::{now_micros, OutboxEntity, RunCounts, SyncErrorRecord};
use crate::store::catalog::{
    self as shared, add_counts, array_from_json, array_to_json, checked_batch, linked_ids, quoted, timestamp_text,
    BatchPlan, SqlTypes, StoredState,
};
use crate::store::{CatalogRows, CatalogSync, CatalogSyncEnd, StoreError};

const TYPES: SqlTypes = SqlTypes {
    uuid: "BLOB",
    timestamp: "TEXT",
    bigint: "INTEGER",
    int4: "INTEGER",
    add_column: "ADD COLUMN",
    declare,
    reported,
};

/// Declared types end in what SQLite stores (an affinity of TEXT keeps decimal and ISO text as it
/// is); arrays and links hold JSON text, whose leading `[` no affinity ever converts.
fn declare(ty: ColumnType) -> String {
    match ty {
        ColumnType::Scalar(s) => scalar_type(s).to_string(),
        ColumnType::Array(ScalarType::Gtin) => "TEXT_ARRAY_JSON".into(),
        ColumnType::Array(s) => format!("{}_ARRAY_JSON", s.name().to_uppercase()),
        ColumnType::Links => "LINKS_JSON".into(),
    }
}

fn scalar_type(s: ScalarType) -> &'static str {
    match s {
        ScalarType::Text | ScalarType::Gtin => "TEXT",
        ScalarType::Integer => "INTEGER",
        ScalarType::Numeric => "DECIMAL_TEXT",
        ScalarType::Boolean => "BOOLEAN",
        ScalarType::Date => "DATE_TEXT",
        ScalarType::Timestamp => "TIMESTAMP_TEXT",
        ScalarType::Json => "JSON_TEXT",
    }
}

/// `PRAGMA table_info` reports the declared type as written; compared in lowercase.
fn reported(ty: ColumnType) -> String {
    declare(ty).to_lowercase()
}

/// Creates the table and its link tables, or adds the columns the config gained, in one write
/// transaction: a concurrent prepare waits for it and then finds everything in place.
pub fn prepare(conn: &mut Connection, table: &CatalogTable) -> Result<(), StoreError> {
    shared::validate(table)?;
    let tx =
        conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(db_err("starting a schema change"))?;
    let existing = stored_columns(&tx, &table.name)?;
    for statement in shared::ddl(table, &existing, &TYPES)? {
        tx.execute_batch(&statement).map_err(db_err("creating a catalog table"))?;
    }
    tx.commit().map_err(db_err("committing a catalog table"))
}

/// Each column of a table with its declared type in lowercase; empty when there is no table.
fn stored_columns(conn: &Connection, table: &str) -> Result<HashMap<String, String>, StoreError> {
    let mut stmt = conn
        .prepare("SELECT name, lower(type) FROM pragma_table_info(?1)")
        .map_err(db_err("reading the columns of a catalog table"))?;
    let rows = stmt
        .query_map(params![table], |r| Ok((r.get(0)?, r.get(1)?)))
        .and_then(Iterator::collect)
        .map_err(db_err("reading the columns of a catalog table"))?;
    Ok(rows)
}

/// A catalog table as stored, its columns in order; `None` when there is no such table.
pub fn stored_table(conn: &Connection, table: &str) -> Result<Option<CatalogTable>, StoreError> {
    let mut stmt = conn
        .prepare("SELECT name, lower(type) FROM pragma_table_info(?1) ORDER BY cid")
        .map_err(db_err("reading the columns of a catalog table"))?;
    let columns = stmt
        .query_map(params![table], |r| Ok((r.get(0)?, r.get(1)?)))
        .and_then(Iterator::collect)
        .map_err(db_err("reading the columns of a catalog table"))?;
    Ok(shared::stored_table(table, columns, &TYPES))
}

/// The statements of one catalog table, built once per sync from validated names.
struct TableSql {
    table: CatalogTable,
    select_state: String,
    insert: String,
    update: String,
    id_mapping: String,
    soft_delete: String,
    live_ids: String,
    links: Vec<LinkSql>,
}

struct LinkSql {
    /// Position of the column among a record's values.
    index: usize,
    delete: String,
    insert: String,
}

impl TableSql {
    fn new(table: &CatalogTable) -> Result<TableSql, StoreError> {
        shared::validate(table)?;
        let name = quoted(&table.name);
        let n = shared::row_params(table);
        let row: Vec<String> = (1..=n).map(|i| format!("?{i}")).collect();
        let links = shared::link_columns(table)
            .map(|(index, column)| {
                let link = quoted(&table.link_table(&column.name));
                LinkSql {
                    index,
                    delete: format!("DELETE FROM {link} WHERE record_id = ?1"),
                    insert: format!("INSERT INTO {link} (record_id, position, linked_id) VALUES (?1, ?2, ?3)"),
                }
            })
            .collect();
        Ok(TableSql {
            select_state: format!("SELECT content_hash, deleted_at IS NULL FROM {name} WHERE id = ?1"),
            insert: format!(
                "INSERT INTO {name} ({}, first_synced_at, updated_at) VALUES ({}, ?{m}, ?{m})",
                shared::written_columns(table),
                row.join(", "),
                m = n + 1
            ),
            update: shared::update_sql(table, |n| format!("?{n}")),
            id_mapping: format!(
                "INSERT INTO id_mappings ({}) VALUES (?1, ?2, ?3, ?4, '{{}}', ?5, ?5){}",
                shared::ID_MAPPING_COLUMNS,
                shared::ID_MAPPING_CONFLICT
            ),
            soft_delete: format!(
                "UPDATE {name} SET deleted_at = ?2, updated_at = ?2, row_version = row_version + 1
                  WHERE airtable_id = ?1 AND deleted_at IS NULL RETURNING id"
            ),
            live_ids: format!("SELECT airtable_id FROM {name} WHERE deleted_at IS NULL ORDER BY airtable_id"),
            links,
            table: table.clone(),
        })
    }
}

/// A cell as SQLite stores it; text is bound without a copy.
struct Cell<'a>(&'a CellValue);

impl ToSql for Cell<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self.0 {
            CellValue::Null => ToSqlOutput::Owned(Value::Null),
            CellValue::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
            CellValue::Integer(i) => ToSqlOutput::Owned(Value::Integer(*i)),
            CellValue::Numeric(d) => ToSqlOutput::Owned(Value::Text(d.to_string())),
            CellValue::Boolean(b) => ToSqlOutput::Owned(Value::Integer(i64::from(*b))),
            CellValue::Date(d) => ToSqlOutput::Owned(Value::Text(d.format("%Y-%m-%d").to_string())),
            CellValue::Timestamp(t) => ToSqlOutput::Owned(Value::Text(timestamp_text(*t))),
            CellValue::Json(v) => ToSqlOutput::Owned(Value::Text(v.to_string())),
            CellValue::Links(ids) => ToSqlOutput::Owned(Value::Text(serde_json::json!(ids).to_string())),
            CellValue::Array(items) => ToSqlOutput::Owned(Value::Text(array_to_json(items).to_string())),
        })
    }
}

/// Binds a record to ?1..?n in the order of `shared::written_columns`, and `now` to ?n+1.
fn bind_record(stmt: &mut CachedStatement<'_>, r: &CatalogRecord, now: &str) -> rusqlite::Result<()> {
    stmt.raw_bind_parameter(1, r.id)?;
    stmt.raw_bind_parameter(2, &r.airtable_id)?;
    stmt.raw_bind_parameter(3, ts(r.created_time))?;
    for (i, value) in r.values.iter().enumerate() {
        stmt.raw_bind_parameter(4 + i, Cell(value))?;
    }
    let n = r.values.len() + 4;
    stmt.raw_bind_parameter(n, &r.content_hash)?;
    stmt.raw_bind_parameter(n + 1, now)
}

/// Runs an insert or update statement once per record.
fn write_rows(conn: &Connection, sql: &str, records: &[&CatalogRecord], now: &str) -> Result<(), StoreError> {
    let mut stmt = conn.prepare_cached(sql).map_err(db_err("preparing a catalog row statement"))?;
    for r in records {
        bind_record(&mut stmt, r, now).and_then(|()| stmt.raw_execute()).map_err(db_err("writing a catalog row"))?;
    }
    Ok(())
}

/// One batch inside the caller's transaction: classify, write, map, link. Returns its counts.
fn write_batch(
    conn: &Connection,
    sql: &TableSql,
    records: &[CatalogRecord],
    problems: &[SyncErrorRecord],
    now: &str,
) -> Result<RunCounts, StoreError> {
    control::insert_errors(conn, problems)?;
    let stored = stored_states(conn, sql, records)?;
    let plan = BatchPlan::new(records, &stored);
    write_rows(conn, &sql.insert, &plan.insert, now)?;
    write_rows(conn, &sql.update, &plan.update, now)?;
    map_ids(conn, sql, &plan.insert, now)?;
    let changed = plan.changed();
    replace_links(conn, sql, &changed)?;
    outbox::record(conn, OutboxEntity::Product, changed.iter().map(|r| &r.id), now)?;
    Ok(plan.counts())
}

fn stored_states(
    conn: &Connection,
    sql: &TableSql,
    records: &[CatalogRecord],
) -> Result<HashMap<Uuid, StoredState>, StoreError> {
    let mut stmt = conn.prepare_cached(&sql.select_state).map_err(db_err("preparing the content hash lookup"))?;
    let mut stored = HashMap::new();
    for r in records {
        let state = stmt
            .query_row(params![r.id], |row| Ok(StoredState { content_hash: row.get(0)?, live: row.get(1)? }))
            .optional()
            .map_err(db_err("reading stored content hashes"))?;
        if let Some(state) = state {
            stored.insert(r.id, state);
        }
    }
    Ok(stored)
}

/// Maps each new row in `id_mappings` (Airtable record id → store row id).
fn map_ids(conn: &Connection, sql: &TableSql, inserted: &[&CatalogRecord], now: &str) -> Result<(), StoreError> {
    let mut stmt = conn.prepare_cached(&sql.id_mapping).map_err(db_err("preparing the id_mappings insert"))?;
    let target_system = sql.table.target_system();
    for r in inserted {
        stmt.execute(params![r.airtable_id, r.id.hyphenated().to_string(), shared::SOURCE_SYSTEM, target_system, now])
            .map_err(db_err("recording a catalog id in id_mappings"))?;
    }
    Ok(())
}

/// Replaces the link rows of every links column of the changed records.
fn replace_links(conn: &Connection, sql: &TableSql, changed: &[&CatalogRecord]) -> Result<(), StoreError> {
    // In key order, consecutive rows land on the same B-tree pages.
    let mut changed = changed.to_vec();
    changed.sort_unstable_by_key(|r| r.id);
    for link in &sql.links {
        let mut delete = conn.prepare_cached(&link.delete).map_err(db_err("preparing the link delete"))?;
        let mut insert = conn.prepare_cached(&link.insert).map_err(db_err("preparing the link insert"))?;
        for r in &changed {
            delete.execute(params![r.id]).map_err(db_err("removing replaced link rows"))?;
            for (position, linked) in linked_ids(r, link.index).iter().enumerate() {
                insert.execute(params![r.id, position as i64, linked]).map_err(db_err("writing a link row"))?;
            }
        }
    }
    Ok(())
}

/// Soft-deletes the live rows of these Airtable ids; returns how many.
fn soft_delete(conn: &Connection, sql: &TableSql, airtable_ids: &[String], now: &str) -> Result<u64, StoreError> {
    let mut stmt = conn.prepare_cached(&sql.soft_delete).map_err(db_err("preparing the soft delete"))?;
    let mut ids = Vec::new();
    for airtable_id in airtable_ids {
        let mut rows = stmt.query(params![airtable_id, now]).map_err(db_err("soft-deleting a catalog row"))?;
        while let Some(row) = rows.next().map_err(db_err("soft-deleting a catalog row"))? {
            ids.push(row.get::<_, Uuid>(0).map_err(db_err("soft-deleting a catalog row"))?);
        }
    }
    outbox::record(conn, OutboxEntity::Product, &ids, now)?;
    Ok(ids.len() as u64)
}

/// A catalog sync on the store's connection; each `write` is a write transaction of its own.
pub struct SqliteCatalogSync {
    conn: Arc<Mutex<Connection>>,
    sql: Arc<TableSql>,
    /// Store-side counts of the batches committed so far.
    counts: RunCounts,
    /// The sync's lease, checked in every batch's transaction.
    fence: Option<Fence>,
}

impl SqliteCatalogSync {
    pub fn begin(
        conn: Arc<Mutex<Connection>>,
        table: &CatalogTable,
        fence: Option<Fence>,
    ) -> Result<SqliteCatalogSync, StoreError> {
        Ok(SqliteCatalogSync { conn, sql: Arc::new(TableSql::new(table)?), counts: RunCounts::default(), fence })
    }
}

/// Runs `work` in a write transaction taken up front (no lock upgrade that could fail half-way),
/// while `fence` holds its lease.
fn in_write_transaction<T>(
    conn: &mut Connection,
    fence: Option<&Fence>,
    work: impl FnOnce(&Connection) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let tx =
        conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(db_err("starting a transaction"))?;
    super::lease::check_fence(&tx, fence)?;
    let value = work(&tx)?;
    tx.commit().map_err(db_err("committing a catalog batch"))?;
    Ok(value)
}

#[async_trait]
impl CatalogSync for SqliteCatalogSync {
    async fn write(&mut self, records: Vec<CatalogRecord>, problems: Vec<SyncErrorRecord>) -> Result<(), StoreError> {
        let records = checked_batch(&self.sql.table, records)?;
        let sql = self.sql.clone();
        let (now, fence) = (ts(now_micros()), self.fence.clone());
        let counts = run_blocking(self.conn.clone(), move |c| {
            in_write_transaction(c, fence.as_ref(), |tx| write_batch(tx, &sql, &records, &problems, &now))
        })
        .await?;
        self.counts = add_counts(self.counts, counts);
        Ok(())
    }

    async fn live_airtable_ids(&mut self) -> Result<Vec<String>, StoreError> {
        let sql = self.sql.clone();
        run_blocking(self.conn.clone(), move |c| {
            let mut stmt = c.prepare_cached(&sql.live_ids).map_err(db_err("reading live catalog rows"))?;
            let ids = stmt.query_map([], |r| r.get(0)).and_then(Iterator::collect);
            ids.map_err(db_err("reading live catalog rows"))
        })
        .await
    }

    async fn commit(self: Box<Self>, end: CatalogSyncEnd) -> Result<RunCounts, StoreError> {
        let records = checked_batch(&self.sql.table, end.records)?;
        let (sql, synced) = (self.sql.clone(), self.counts);
        let (now, fence) = (ts(now_micros()), self.fence.clone());
        run_blocking(self.conn.clone(), move |c| {
            in_write_transaction(c, fence.as_ref(), |tx| {
                let batch = write_batch(tx, &sql, &records, &end.problems, &now)?;
                let deactivated = soft_delete(tx, &sql, &end.delete, &now)?;
                let run = shared::finished_run(&end.run, synced, batch, deactivated);
                control::conclude(tx, &run, end.advance.as_ref(), run.counts.rejected as i64)?;
                Ok(run.counts)
            })
        })
        .await
    }
}

/// Every row of a catalog table, deleted ones included, in byte order of their Airtable ids.
pub fn records(conn: &Connection, table: &CatalogTable) -> Result<Vec<StoredCatalogRecord>, StoreError> {
    // SQLite's default BINARY collation orders text by its bytes.
    let sql = format!("{} ORDER BY airtable_id", shared::select_records_sql(table)?);
    let mut stmt = conn.prepare(&sql).map_err(db_err("reading catalog rows"))?;
    let rows = stmt
        .query_map([], |r| stored_record(table, r))
        .and_then(Iterator::collect)
        .map_err(db_err("reading catalog rows"))?;
    Ok(rows)
}

/// Rows by id, or a page of live rows in id order (`CatalogRows`).
pub fn rows(
    conn: &Connection,
    table: &CatalogTable,
    rows: &CatalogRows,
) -> Result<Vec<StoredCatalogRecord>, StoreError> {
    let select = shared::select_records_sql(table)?;
    let read = |sql: &str, values: &[&dyn ToSql]| -> Result<Vec<StoredCatalogRecord>, StoreError> {
        let mut stmt = conn.prepare_cached(sql).map_err(db_err("reading catalog rows"))?;
        let found = stmt
            .query_map(values, |r| stored_record(table, r))
            .and_then(Iterator::collect)
            .map_err(db_err("reading catalog rows"))?;
        Ok(found)
    };
    match rows {
        CatalogRows::Ids(ids) => {
            let sql = format!("{select} WHERE id = ?1");
            let mut found = Vec::with_capacity(ids.len());
            for id in ids {
                found.extend(read(&sql, &[id])?);
            }
            Ok(found)
        }
        CatalogRows::LiveAfter { after, limit } => read(
            &format!("{select} WHERE deleted_at IS NULL AND (?1 IS NULL OR id > ?1) ORDER BY id LIMIT ?2"),
            &[after, limit],
        ),
    }
}

fn stored_record(table: &CatalogTable, r: &Row) -> rusqlite::Result<StoredCatalogRecord> {
    let values = table
        .columns
        .iter()
        .enumerate()
        .map(|(i, col)| cell(r, shared::FIRST_MAPPED + i, col.ty))
        .collect::<rusqlite::Result<_>>()?;
    Ok(StoredCatalogRecord {
        record: CatalogRecord {
            id: r.get(0)?,
            airtable_id: r.get(1)?,
            created_time: parse_ts(&r.get::<_, String>(2)?)?,
            values,
            content_hash: r.get(3)?,
        },
        row_version: r.get(4)?,
        first_synced_at: parse_ts(&r.get::<_, String>(5)?)?,
        updated_at: parse_ts(&r.get::<_, String>(6)?)?,
        deleted_at: r.get::<_, Option<String>>(7)?.as_deref().map(parse_ts).transpose()?,
    })
}

/// One column of a row as a cell of the column's type.
fn cell(r: &Row, i: usize, ty: ColumnType) -> rusqlite::Result<CellValue> {
    let text = match (ty, r.get_ref(i)?) {
        (_, ValueRef::Null) => return Ok(CellValue::Null),
        (ColumnType::Scalar(ScalarType::Integer), _) => return Ok(CellValue::Integer(r.get(i)?)),
        (ColumnType::Scalar(ScalarType::Boolean), _) => return Ok(CellValue::Boolean(r.get(i)?)),
        _ => r.get::<_, String>(i)?,
    };
    let bad = |e: String| rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, e.into());
    let json = |s: &str| serde_json::from_str::<serde_json::Value>(s).map_err(|e| bad(e.to_string()));
    Ok(match ty {
        ColumnType::Scalar(ScalarType::Numeric) => {
            CellValue::Numeric(text.parse::<Decimal>().map_err(|e| bad(e.to_string()))?)
        }
        ColumnType::Scalar(ScalarType::Date) => {
            CellValue::Date(NaiveDate::parse_from_str(&text, "%Y-%m-%d").map_err(|e| bad(e.to_string()))?)
        }
        ColumnType::Scalar(ScalarType::Timestamp) => CellValue::Timestamp(parse_ts(&text)?),
        ColumnType::Scalar(ScalarType::Json) => CellValue::Json(json(&text)?),
        ColumnType::Scalar(_) => CellValue::Text(text),
        ColumnType::Array(s) => CellValue::Array(array_from_json(s, json(&text)?).map_err(bad)?),
        ColumnType::Links => CellValue::Links(serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?),
    })
}

/// The link rows of a links column, by record id and position.
pub fn links(conn: &Connection, table: &CatalogTable, column: &str) -> Result<Vec<CatalogLink>, StoreError> {
    let mut stmt = conn.prepare(&shared::select_links_sql(table, column)?).map_err(db_err("reading link rows"))?;
    let rows = stmt
        .query_map([], |r| Ok(CatalogLink { record_id: r.get(0)?, position: r.get(1)?, linked_id: r.get(2)? }))
        .and_then(Iterator::collect)
        .map_err(db_err("reading link rows"))?;
    Ok(rows)
}
