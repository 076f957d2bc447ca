//! Catalog tables in PostgreSQL/CockroachDB: their DDL, the batches a catalog sync writes, and
//! reading rows back as typed cells.
//!
//! Every batch is one transaction on the sync's own connection, retried whole on serialization
//! conflicts. It first reads the stored content hash of each id (no `xmax` trick: CockroachDB has no
//! `xmax`), then writes only what changed: new rows and their link rows by binary COPY (multi-row
//! INSERTs on the path CockroachDB takes), changed or returning rows by prepared UPDATEs pipelined
//! on the connection, link rows of changed rows replaced, new ids mapped in `id_mappings`.
//! Statements are prepared once per sync. Values are bound as parameters of the column's type; a
//! JSON list column (`json[]`) is one JSONB array rather than `JSONB[]`, whose support on
//! CockroachDB is uncertain.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use bytes::{BufMut, BytesMut};
use chrono::{DateTime, NaiveDate, Utc};
use futures_util::future::try_join_all;
use rust_decimal::Decimal;
use tokio_postgres::types::{accepts, to_sql_checked, FromSql, IsNull, Kind, ToSql, Type};
use tokio_postgres::{Client, Row, Statement};
use uuid::Uuid;

use super::connect::ImportPath;
use super::{control, copy_in, db_err, in_transaction, outbox, placeholders};
use crate::catalog::{
    CatalogLink, CatalogRecord, CatalogTable, CellValue, ColumnType, ScalarType, StoredCatalogRecord,
};
use crate::control::lease::Fence;
use crate::control::{now_micros, OutboxEntity, RunCounts, SyncErrorRecord};
use crate::store::catalog::{
    self as shared, add_counts, array_from_json, array_to_json, checked_batch, linked_ids, quoted, BatchPlan, SqlTypes,
    StoredState,
};
use crate::store::{CatalogRows, CatalogSync, CatalogSyncEnd, StoreError};

/// The protocol's limit on parameters in one statement.
const MAX_PARAMS: usize = 65_535;
/// Rows per multi-row insert: large enough to amortize a statement, small enough to parse quickly.
const MAX_ROWS_PER_STATEMENT: usize = 250;

const TYPES: SqlTypes = SqlTypes {
    uuid: "UUID",
    timestamp: "TIMESTAMPTZ",
    bigint: "INT8",
    int4: "INT4",
    add_column: "ADD COLUMN IF NOT EXISTS",
    declare,
    reported,
};

/// How PostgreSQL holds a column type: declared name, `information_schema.columns.udt_name`, and
/// the type of its values on the wire.
struct PgColumn {
    ddl: String,
    udt: String,
    wire: Type,
}

/// Declared name, `udt_name`, and wire types of a value and of an array of values.
fn scalar_type(s: ScalarType) -> (&'static str, &'static str, Type, Type) {
    match s {
        ScalarType::Text | ScalarType::Gtin => ("TEXT", "text", Type::TEXT, Type::TEXT_ARRAY),
        ScalarType::Integer => ("INT8", "int8", Type::INT8, Type::INT8_ARRAY),
        ScalarType::Numeric => ("NUMERIC", "numeric", Type::NUMERIC, Type::NUMERIC_ARRAY),
        ScalarType::Boolean => ("BOOLEAN", "bool", Type::BOOL, Type::BOOL_ARRAY),
        ScalarType::Date => ("DATE", "date", Type::DATE, Type::DATE_ARRAY),
        ScalarType::Timestamp => ("TIMESTAMPTZ", "timestamptz", Type::TIMESTAMPTZ, Type::TIMESTAMPTZ_ARRAY),
        ScalarType::Json => ("JSONB", "jsonb", Type::JSONB, Type::JSONB_ARRAY),
    }
}

fn pg_column(ty: ColumnType) -> PgColumn {
    let column = |ddl: &str, udt: &str, wire: Type| PgColumn { ddl: ddl.into(), udt: udt.into(), wire };
    match ty {
        ColumnType::Scalar(s) => {
            let (ddl, udt, wire, _) = scalar_type(s);
            column(ddl, udt, wire)
        }
        // A list of JSON values is one JSONB array (see the module doc).
        ColumnType::Array(ScalarType::Json) => pg_column(ColumnType::Scalar(ScalarType::Json)),
        ColumnType::Array(s) => {
            let (ddl, udt, _, array) = scalar_type(s);
            column(&format!("{ddl}[]"), &format!("_{udt}"), array)
        }
        ColumnType::Links => column("UUID[]", "_uuid", Type::UUID_ARRAY),
    }
}

fn declare(ty: ColumnType) -> String {
    pg_column(ty).ddl
}

fn reported(ty: ColumnType) -> String {
    pg_column(ty).udt
}

/// Creates the table and its link tables, or adds the columns the config gained — in one
/// transaction that first locks the schema version row, so concurrent prepares queue up instead of
/// racing on the catalog (CREATE TABLE IF NOT EXISTS is not safe against itself in PostgreSQL). On
/// CockroachDB, where DDL commits on its own (v25.1+), the statements' IF NOT EXISTS carries it.
pub async fn prepare(c: &Client, table: &CatalogTable) -> Result<(), StoreError> {
    shared::validate(table)?;
    in_transaction(c, "preparing a catalog table", || async {
        c.query("SELECT version FROM schema_migrations ORDER BY version DESC LIMIT 1 FOR UPDATE", &[])
            .await
            .map_err(db_err("locking the schema"))?;
        let existing = stored_columns(c, &table.name).await?;
        for statement in shared::ddl(table, &existing, &TYPES)? {
            c.batch_execute(&statement).await.map_err(db_err("creating a catalog table"))?;
        }
        Ok(())
    })
    .await
}

/// Each column of a table in the current schema with its `udt_name`; empty when there is no table.
async fn stored_columns(c: &Client, table: &str) -> Result<HashMap<String, String>, StoreError> {
    let rows = c
        .query(
            "SELECT column_name::TEXT, udt_name::TEXT FROM information_schema.columns
              WHERE table_schema = current_schema() AND table_name = $1",
            &[&table],
        )
        .await
        .map_err(db_err("reading the columns of a catalog table"))?;
    Ok(rows.iter().map(|r| (r.get(0), r.get::<_, String>(1).to_lowercase())).collect())
}

/// A catalog table as stored, its columns in order; `None` when there is no such table.
pub async fn stored_table(c: &Client, table: &str) -> Result<Option<CatalogTable>, StoreError> {
    let rows = c
        .query(
            "SELECT column_name::TEXT, lower(udt_name::TEXT) FROM information_schema.columns
              WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
            &[&table],
        )
        .await
        .map_err(db_err("reading the columns of a catalog table"))?;
    Ok(shared::stored_table(table, rows.iter().map(|r| (r.get(0), r.get(1))).collect(), &TYPES))
}

/// The statements of one catalog table, built once per sync from validated names.
struct TableSql {
    table: CatalogTable,
    select_state: String,
    insert: NewRows,
    update: String,
    id_mappings: String,
    soft_delete: String,
    live_ids: String,
    links: Vec<LinkSql>,
}

struct LinkSql {
    /// Position of the column among a record's values.
    index: usize,
    delete: String,
    insert: NewRows,
}

impl TableSql {
    fn new(table: &CatalogTable, path: ImportPath) -> Result<TableSql, StoreError> {
        shared::validate(table)?;
        let name = quoted(&table.name);
        let links = shared::link_columns(table)
            .map(|(index, column)| {
                let link = quoted(&table.link_table(&column.name));
                LinkSql {
                    index,
                    delete: format!("DELETE FROM {link} WHERE record_id = ANY($1)"),
                    insert: NewRows::new(
                        path,
                        &link,
                        "record_id, position, linked_id",
                        vec![Type::UUID, Type::INT4, Type::UUID],
                    ),
                }
            })
            .collect();
        let types = [Type::UUID, Type::TEXT, Type::TIMESTAMPTZ]
            .into_iter()
            .chain(table.columns.iter().map(|c| pg_column(c.ty).wire))
            .chain([Type::TEXT, Type::TIMESTAMPTZ, Type::TIMESTAMPTZ])
            .collect();
        let columns = format!("{}, first_synced_at, updated_at", shared::written_columns(table));
        Ok(TableSql {
            select_state: format!("SELECT id, content_hash, deleted_at IS NULL FROM {name} WHERE id = ANY($1)"),
            insert: NewRows::new(path, &name, &columns, types),
            update: shared::update_sql(table, |n| format!("${n}")),
            // The new rows are already in the table: map them from there, in one statement.
            id_mappings: format!(
                "INSERT INTO id_mappings ({}) SELECT airtable_id, id::TEXT, $2, $3, '{{}}', $4, $4 FROM {name}
                  WHERE id = ANY($1){}",
                shared::ID_MAPPING_COLUMNS,
                shared::ID_MAPPING_CONFLICT
            ),
            soft_delete: format!(
                "UPDATE {name} SET deleted_at = $2, updated_at = $2, row_version = row_version + 1
                  WHERE airtable_id = ANY($1) AND deleted_at IS NULL RETURNING id"
            ),
            live_ids: format!("SELECT airtable_id FROM {name} WHERE deleted_at IS NULL"),
            links,
            table: table.clone(),
        })
    }
}

/// How rows known to be new reach a table: binary COPY on PostgreSQL, multi-row INSERTs on the
/// path CockroachDB takes (its COPY cannot be driven through the extended protocol).
enum NewRows {
    Copy { statement: String, types: Vec<Type> },
    Insert(MultiRow),
}

impl NewRows {
    fn new(path: ImportPath, table: &str, columns: &str, types: Vec<Type>) -> NewRows {
        match path {
            ImportPath::CopyMerge => {
                NewRows::Copy { statement: format!("COPY {table} ({columns}) FROM STDIN (FORMAT binary)"), types }
            }
            ImportPath::BatchUpsert => NewRows::Insert(MultiRow {
                head: format!("INSERT INTO {table} ({columns}) VALUES "),
                per_row: types.len(),
            }),
        }
    }

    async fn write(
        &self,
        c: &Client,
        prepared: &Prepared,
        rows: &[Vec<Param<'_>>],
        context: &'static str,
    ) -> Result<(), StoreError> {
        match self {
            NewRows::Copy { statement, types } => {
                copy_in(c, statement, types, rows.len(), |i, row| row.extend_from_slice(&rows[i])).await
            }
            NewRows::Insert(multi) => insert_rows(c, prepared, multi, rows, context).await,
        }
    }
}

/// A multi-row `INSERT … VALUES (…), (…)` of `per_row` parameters a row.
struct MultiRow {
    head: String,
    per_row: usize,
}

impl MultiRow {
    fn rows_per_statement(&self) -> usize {
        (MAX_PARAMS / self.per_row).min(MAX_ROWS_PER_STATEMENT)
    }

    fn sql(&self, rows: usize) -> String {
        let mut sql = self.head.clone();
        for i in 0..rows {
            let sep = if i > 0 { "," } else { "" };
            sql.push_str(&format!("{sep}({})", placeholders(1 + i * self.per_row, self.per_row)));
        }
        sql
    }
}

/// Statements prepared on the sync's connection, by SQL text.
#[derive(Default)]
struct Prepared(Mutex<HashMap<String, Statement>>);

impl Prepared {
    async fn get(&self, c: &Client, sql: &str) -> Result<Statement, StoreError> {
        if let Some(s) = self.0.lock().expect("no task panics holding the statements").get(sql) {
            return Ok(s.clone());
        }
        let statement = c.prepare(sql).await.map_err(db_err("preparing a catalog statement"))?;
        self.0.lock().expect("no task panics holding the statements").insert(sql.to_string(), statement.clone());
        Ok(statement)
    }
}

type Param<'a> = &'a (dyn ToSql + Sync);

/// Inserts rows with multi-row statements, all sent at once (the connection pipelines them).
async fn insert_rows(
    c: &Client,
    prepared: &Prepared,
    sql: &MultiRow,
    rows: &[Vec<Param<'_>>],
    context: &'static str,
) -> Result<(), StoreError> {
    let mut work = Vec::new();
    for chunk in rows.chunks(sql.rows_per_statement()) {
        let statement = prepared.get(c, &sql.sql(chunk.len())).await?;
        let params: Vec<Param<'_>> = chunk.iter().flatten().copied().collect();
        work.push((statement, params));
    }
    try_join_all(work.iter().map(|(s, p)| c.execute(s, p))).await.map_err(db_err(context))?;
    Ok(())
}

/// A cell bound as the column's type: the server's parameter type decides the encoding, so a NULL
/// is a NULL of that type and an array is an array of the column's element type.
#[derive(Debug)]
struct Cell<'a>(&'a CellValue);

type BoxError = Box<dyn std::error::Error + Sync + Send>;

impl ToSql for Cell<'_> {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        match self.0 {
            CellValue::Null => Ok(IsNull::Yes),
            CellValue::Text(s) => s.to_sql_checked(ty, out),
            CellValue::Integer(i) => i.to_sql_checked(ty, out),
            CellValue::Numeric(d) => Numeric(*d).to_sql_checked(ty, out),
            CellValue::Boolean(b) => b.to_sql_checked(ty, out),
            CellValue::Date(d) => d.to_sql_checked(ty, out),
            CellValue::Timestamp(t) => t.to_sql_checked(ty, out),
            CellValue::Json(v) => v.to_sql_checked(ty, out),
            CellValue::Links(ids) => ids.to_sql_checked(ty, out),
            CellValue::Array(items) => array_to_sql(items, ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

fn array_to_sql(items: &[CellValue], ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
    let Kind::Array(element) = ty.kind() else { return array_to_json(items).to_sql_checked(ty, out) };
    fn typed<'a, T>(items: &'a [CellValue], pick: impl Fn(&'a CellValue) -> Option<T>) -> Vec<Option<T>> {
        items.iter().map(pick).collect()
    }
    match element.name() {
        "int8" => typed(items, |v| if let CellValue::Integer(i) = v { Some(*i) } else { None }).to_sql_checked(ty, out),
        "numeric" => typed(items, |v| if let CellValue::Numeric(d) = v { Some(Numeric(*d)) } else { None })
            .to_sql_checked(ty, out),
        "bool" => typed(items, |v| if let CellValue::Boolean(b) = v { Some(*b) } else { None }).to_sql_checked(ty, out),
        "date" => typed(items, |v| if let CellValue::Date(d) = v { Some(*d) } else { None }).to_sql_checked(ty, out),
        "timestamptz" => {
            typed(items, |v| if let CellValue::Timestamp(t) = v { Some(*t) } else { None }).to_sql_checked(ty, out)
        }
        _ => typed(items, |v| if let CellValue::Text(s) = v { Some(s.as_str()) } else { None }).to_sql_checked(ty, out),
    }
}

/// A decimal bound with its scale. rust_decimal sends any zero as a plain `0`, so `0.000` would read
/// back as `0`; a zero is written here as an empty NUMERIC that keeps its display scale.
#[derive(Debug)]
struct Numeric(Decimal);

impl ToSql for Numeric {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        if !self.0.is_zero() {
            return self.0.to_sql(ty, out);
        }
        // NUMERIC's binary form: digit count, weight, sign, display scale — then no digits.
        for field in [0, 0, 0, self.0.scale() as u16] {
            out.put_u16(field);
        }
        Ok(IsNull::No)
    }

    accepts!(NUMERIC);
    to_sql_checked!();
}

/// The parameters of `shared::written_columns` for each record, then `extra` (times of the change).
fn record_params<'a>(
    records: &[&'a CatalogRecord],
    cells: &'a [Vec<Cell<'a>>],
    extra: &[Param<'a>],
) -> Vec<Vec<Param<'a>>> {
    records
        .iter()
        .zip(cells)
        .map(|(record, cells)| {
            let mut row: Vec<Param<'a>> = Vec::with_capacity(cells.len() + 4 + extra.len());
            row.extend_from_slice(&[&record.id, &record.airtable_id, &record.created_time]);
            row.extend(cells.iter().map(|c| c as Param<'a>));
            row.push(&record.content_hash);
            row.extend_from_slice(extra);
            row
        })
        .collect()
}

fn cells_of<'a>(records: &[&'a CatalogRecord]) -> Vec<Vec<Cell<'a>>> {
    records.iter().map(|r| r.values.iter().map(Cell).collect()).collect()
}

/// One batch inside the caller's transaction: classify, write, map, link. Returns its counts.
async fn write_batch(
    c: &Client,
    prepared: &Prepared,
    sql: &TableSql,
    records: &[CatalogRecord],
    problems: &[SyncErrorRecord],
    now: DateTime<Utc>,
) -> Result<RunCounts, StoreError> {
    control::insert_errors(c, problems).await?;
    if records.is_empty() {
        return Ok(RunCounts::default());
    }
    let stored = stored_states(c, prepared, sql, records).await?;
    let plan = BatchPlan::new(records, &stored);
    insert_new(c, prepared, sql, &plan.insert, now).await?;
    update_changed(c, prepared, sql, &plan.update, now).await?;
    map_ids(c, prepared, sql, &plan.insert, now).await?;
    let changed = plan.changed();
    replace_links(c, prepared, sql, &changed).await?;
    let ids: Vec<Uuid> = changed.iter().map(|r| r.id).collect();
    outbox::record(c, OutboxEntity::Product, &ids, now).await?;
    Ok(plan.counts())
}

async fn stored_states(
    c: &Client,
    prepared: &Prepared,
    sql: &TableSql,
    records: &[CatalogRecord],
) -> Result<HashMap<Uuid, StoredState>, StoreError> {
    let ids: Vec<Uuid> = records.iter().map(|r| r.id).collect();
    let statement = prepared.get(c, &sql.select_state).await?;
    let rows = c.query(&statement, &[&ids]).await.map_err(db_err("reading stored content hashes"))?;
    Ok(rows.iter().map(|r| (r.get(0), StoredState { content_hash: r.get(1), live: r.get(2) })).collect())
}

async fn insert_new(
    c: &Client,
    prepared: &Prepared,
    sql: &TableSql,
    records: &[&CatalogRecord],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let cells = cells_of(records);
    let rows = record_params(records, &cells, &[&now, &now]);
    sql.insert.write(c, prepared, &rows, "inserting catalog rows").await
}

async fn update_changed(
    c: &Client,
    prepared: &Prepared,
    sql: &TableSql,
    records: &[&CatalogRecord],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    if records.is_empty() {
        return Ok(());
    }
    let statement = prepared.get(c, &sql.update).await?;
    let cells = cells_of(records);
    let params = record_params(records, &cells, &[&now]);
    try_join_all(params.iter().map(|p| c.execute(&statement, p))).await.map_err(db_err("updating catalog rows"))?;
    Ok(())
}

/// Maps each new row in `id_mappings` (Airtable record id → store row id).
async fn map_ids(
    c: &Client,
    prepared: &Prepared,
    sql: &TableSql,
    inserted: &[&CatalogRecord],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    if inserted.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = inserted.iter().map(|r| r.id).collect();
    let statement = prepared.get(c, &sql.id_mappings).await?;
    let target_system = sql.table.target_system();
    c.execute(&statement, &[&ids, &shared::SOURCE_SYSTEM, &target_system, &now])
        .await
        .map_err(db_err("recording catalog ids in id_mappings"))?;
    Ok(())
}

/// Replaces the link rows of every links column of the changed records.
async fn replace_links(
    c: &Client,
    prepared: &Prepared,
    sql: &TableSql,
    changed: &[&CatalogRecord],
) -> Result<(), StoreError> {
    if changed.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = changed.iter().map(|r| r.id).collect();
    for link in &sql.links {
        let delete = prepared.get(c, &link.delete).await?;
        c.execute(&delete, &[&ids]).await.map_err(db_err("removing replaced link rows"))?;
        let links: Vec<(Uuid, i32, Uuid)> = changed
            .iter()
            .flat_map(|r| linked_ids(r, link.index).iter().enumerate().map(|(i, linked)| (r.id, i as i32, *linked)))
            .collect();
        let rows: Vec<Vec<Param<'_>>> = links.iter().map(|(r, p, l)| vec![r as Param<'_>, p, l]).collect();
        link.insert.write(c, prepared, &rows, "writing link rows").await?;
    }
    Ok(())
}

/// Soft-deletes the live rows of these Airtable ids; returns how many.
async fn soft_delete(
    c: &Client,
    sql: &TableSql,
    airtable_ids: &[String],
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    if airtable_ids.is_empty() {
        return Ok(0);
    }
    let rows = c.query(&sql.soft_delete, &[&airtable_ids, &now]).await.map_err(db_err("soft-deleting catalog rows"))?;
    let ids: Vec<Uuid> = rows.iter().map(|r| r.get(0)).collect();
    outbox::record(c, OutboxEntity::Product, &ids, now).await?;
    Ok(ids.len() as u64)
}

/// A catalog sync on its own connection; each `write` is a transaction of its own.
pub struct PgCatalogSync {
    client: Client,
    sql: TableSql,
    prepared: Prepared,
    /// Store-side counts of the batches committed so far.
    counts: RunCounts,
    /// The sync's lease, checked in every batch's transaction.
    fence: Option<Fence>,
}

impl PgCatalogSync {
    pub fn begin(
        client: Client,
        path: ImportPath,
        table: &CatalogTable,
        fence: Option<Fence>,
    ) -> Result<PgCatalogSync, StoreError> {
        Ok(PgCatalogSync {
            client,
            sql: TableSql::new(table, path)?,
            prepared: Prepared::default(),
            counts: RunCounts::default(),
            fence,
        })
    }
}

#[async_trait]
impl CatalogSync for PgCatalogSync {
    async fn write(&mut self, records: Vec<CatalogRecord>, problems: Vec<SyncErrorRecord>) -> Result<(), StoreError> {
        let records = checked_batch(&self.sql.table, records)?;
        let now = now_micros();
        let (c, prepared, sql, fence) = (&self.client, &self.prepared, &self.sql, self.fence.as_ref());
        let counts = in_transaction(c, "committing a catalog batch", || async {
            super::lease::check_fence(c, fence).await?;
            write_batch(c, prepared, sql, &records, &problems, now).await
        })
        .await?;
        self.counts = add_counts(self.counts, counts);
        Ok(())
    }

    async fn live_airtable_ids(&mut self) -> Result<Vec<String>, StoreError> {
        let rows = self.client.query(&self.sql.live_ids, &[]).await.map_err(db_err("reading live catalog rows"))?;
        let mut ids: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
        ids.sort_unstable();
        Ok(ids)
    }

    async fn commit(self: Box<Self>, end: CatalogSyncEnd) -> Result<RunCounts, StoreError> {
        let records = checked_batch(&self.sql.table, end.records)?;
        let now = now_micros();
        let (c, prepared, sql) = (&self.client, &self.prepared, &self.sql);
        let run = in_transaction(c, "committing a catalog sync", || async {
            super::lease::check_fence(c, self.fence.as_ref()).await?;
            let batch = write_batch(c, prepared, sql, &records, &end.problems, now).await?;
            let deactivated = soft_delete(c, sql, &end.delete, now).await?;
            let run = shared::finished_run(&end.run, self.counts, batch, deactivated);
            control::conclude(c, &run, end.advance.as_ref(), run.counts.rejected as i64).await?;
            Ok(run)
        })
        .await?;
        Ok(run.counts)
    }
}

/// Every row of a catalog table, deleted ones included, in byte order of their Airtable ids
/// (sorted here, so the database's collation does not matter).
pub async fn records(c: &Client, table: &CatalogTable) -> Result<Vec<StoredCatalogRecord>, StoreError> {
    let sql = shared::select_records_sql(table)?;
    let rows = c.query(&sql, &[]).await.map_err(db_err("reading catalog rows"))?;
    let mut records = rows.iter().map(|r| stored_record(table, r)).collect::<Result<Vec<_>, _>>()?;
    records.sort_by(|a, b| a.record.airtable_id.cmp(&b.record.airtable_id));
    Ok(records)
}

/// Rows by id, or a page of live rows in id order (`CatalogRows`).
pub async fn rows(
    c: &Client,
    table: &CatalogTable,
    rows: &CatalogRows,
) -> Result<Vec<StoredCatalogRecord>, StoreError> {
    let select = shared::select_records_sql(table)?;
    let found = match rows {
        CatalogRows::Ids(ids) => c.query(&format!("{select} WHERE id = ANY($1)"), &[ids]).await,
        CatalogRows::LiveAfter { after, limit } => {
            let sql =
                format!("{select} WHERE deleted_at IS NULL AND ($1::UUID IS NULL OR id > $1) ORDER BY id LIMIT $2");
            c.query(&sql, &[after, &i64::from(*limit)]).await
        }
    }
    .map_err(db_err("reading catalog rows"))?;
    found.iter().map(|r| stored_record(table, r)).collect()
}

fn stored_record(table: &CatalogTable, r: &Row) -> Result<StoredCatalogRecord, StoreError> {
    let read = || -> Result<StoredCatalogRecord, BoxError> {
        let values = table
            .columns
            .iter()
            .enumerate()
            .map(|(i, col)| cell(r, shared::FIRST_MAPPED + i, col.ty))
            .collect::<Result<_, _>>()?;
        Ok(StoredCatalogRecord {
            record: CatalogRecord {
                id: r.try_get(0)?,
                airtable_id: r.try_get(1)?,
                created_time: r.try_get(2)?,
                values,
                content_hash: r.try_get(3)?,
            },
            row_version: r.try_get(4)?,
            first_synced_at: r.try_get(5)?,
            updated_at: r.try_get(6)?,
            deleted_at: r.try_get(7)?,
        })
    };
    read().map_err(|e| StoreError::Database {
        context: format!("reading a row of catalog table {}", table.name),
        reason: e.to_string(),
        retryable: false,
    })
}

/// One column of a row as a cell of the column's type.
fn cell(r: &Row, i: usize, ty: ColumnType) -> Result<CellValue, BoxError> {
    match ty {
        ColumnType::Scalar(s) => by_scalar(Single, r, i, s),
        ColumnType::Array(ScalarType::Json) => match r.try_get::<_, Option<serde_json::Value>>(i)? {
            Some(json) => Ok(CellValue::Array(array_from_json(ScalarType::Json, json)?)),
            None => Ok(CellValue::Null),
        },
        ColumnType::Array(s) => by_scalar(Elements, r, i, s),
        ColumnType::Links => Ok(r.try_get::<_, Option<Vec<Uuid>>>(i)?.map_or(CellValue::Null, CellValue::Links)),
    }
}

/// Reads a column holding one value (`Single`) or an array of values (`Elements`) of a Rust type.
trait Decode {
    fn decode<T: for<'a> FromSql<'a>>(
        &self,
        r: &Row,
        i: usize,
        cell: fn(T) -> CellValue,
    ) -> Result<CellValue, BoxError>;
}

struct Single;
struct Elements;

impl Decode for Single {
    fn decode<T: for<'a> FromSql<'a>>(
        &self,
        r: &Row,
        i: usize,
        cell: fn(T) -> CellValue,
    ) -> Result<CellValue, BoxError> {
        Ok(r.try_get::<_, Option<T>>(i)?.map_or(CellValue::Null, cell))
    }
}

impl Decode for Elements {
    fn decode<T: for<'a> FromSql<'a>>(
        &self,
        r: &Row,
        i: usize,
        cell: fn(T) -> CellValue,
    ) -> Result<CellValue, BoxError> {
        let items = r.try_get::<_, Option<Vec<Option<T>>>>(i)?;
        Ok(items.map_or(CellValue::Null, |items| {
            CellValue::Array(items.into_iter().map(|v| v.map_or(CellValue::Null, cell)).collect())
        }))
    }
}

/// The Rust type each scalar type is read as.
fn by_scalar(d: impl Decode, r: &Row, i: usize, s: ScalarType) -> Result<CellValue, BoxError> {
    match s {
        ScalarType::Text | ScalarType::Gtin => d.decode::<String>(r, i, CellValue::Text),
        ScalarType::Integer => d.decode::<i64>(r, i, CellValue::Integer),
        ScalarType::Numeric => d.decode::<Decimal>(r, i, CellValue::Numeric),
        ScalarType::Boolean => d.decode::<bool>(r, i, CellValue::Boolean),
        ScalarType::Date => d.decode::<NaiveDate>(r, i, CellValue::Date),
        ScalarType::Timestamp => d.decode::<DateTime<Utc>>(r, i, CellValue::Timestamp),
        ScalarType::Json => d.decode::<serde_json::Value>(r, i, CellValue::Json),
    }
}

/// The link rows of a links column, by record id and position.
pub async fn links(c: &Client, table: &CatalogTable, column: &str) -> Result<Vec<CatalogLink>, StoreError> {
    let rows = c.query(&shared::select_links_sql(table, column)?, &[]).await.map_err(db_err("reading link rows"))?;
    Ok(rows.iter().map(|r| CatalogLink { record_id: r.get(0), position: r.get(1), linked_id: r.get(2) }).collect())
}
