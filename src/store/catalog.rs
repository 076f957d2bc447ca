//! What both backends share about catalog tables: the rules a table or column name must meet before
//! it may reach SQL text, the DDL a table needs (in each backend's type names), the check that each
//! value fits its column, and the plan of a batch — which rows to insert, update or leave alone —
//! decided from the content hashes the store holds.
//!
//! Names come from `catsync.toml`, so they are validated here again however the config checked them:
//! the store is the last line before SQL. Every identifier is double-quoted as well, so a column
//! named `order` or `select` is just a column.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde_json::Value;
use uuid::Uuid;

use crate::catalog::{CatalogColumn, CatalogRecord, CatalogTable, CellValue, ColumnType, ScalarType, RESERVED_COLUMNS};
use crate::control::{RunCounts, RunRecord};
use crate::store::StoreError;

/// Longest identifier PostgreSQL keeps without truncating it (NAMEDATALEN − 1); CockroachDB and
/// SQLite accept it too, so one limit serves every backend.
pub const MAX_NAME_BYTES: usize = 63;

/// Tables catsync itself creates (migrations, and the feed-import stages): never a catalog table.
const OWN_TABLES: &[&str] = &[
    "distributor_products",
    "sync_control",
    "sync_runs",
    "sync_errors",
    "id_mappings",
    "schema_migrations",
    "feed_stage",
    "catsync_feed_stage",
];

/// `id_mappings.source_system` of catalog rows.
pub const SOURCE_SYSTEM: &str = "airtable";

fn schema_error(table: &str, reason: String) -> StoreError {
    StoreError::CatalogSchema { table: table.to_string(), reason }
}

fn is_valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase() || c == '_');
    first_ok && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') && name.len() <= MAX_NAME_BYTES
}

const NAME_RULE: &str = "use lowercase letters, digits and _ (not starting with a digit), at most 63 bytes";

/// Refuses a table whose name or column names could not safely become SQL identifiers, or would
/// collide with catsync's own tables, bookkeeping columns or link tables.
pub fn validate(table: &CatalogTable) -> Result<(), StoreError> {
    let name = table.name.as_str();
    if !is_valid_name(name) {
        return Err(schema_error(name, format!("not a valid table name: {NAME_RULE}; rename it in catsync.toml")));
    }
    if OWN_TABLES.contains(&name) {
        let own = OWN_TABLES.join(", ");
        return Err(schema_error(
            name,
            format!("catsync keeps its own data in {own}; give the table another name in catsync.toml"),
        ));
    }
    // `a_` + `__` + `b` and `a` + `__` + `_b` would name one link table for two tables.
    if name.contains("__") || name.ends_with('_') {
        return Err(schema_error(
            name,
            "a table name may not contain \"__\" or end with \"_\" (link tables are named <table>__<column>); \
             rename it in catsync.toml"
                .into(),
        ));
    }
    if name.starts_with("sqlite_") {
        return Err(schema_error(
            name,
            "SQLite reserves names starting with sqlite_; rename the table in catsync.toml".into(),
        ));
    }
    let mut seen = HashSet::new();
    for column in &table.columns {
        validate_column(table, column)?;
        if !seen.insert(column.name.as_str()) {
            return Err(schema_error(
                name,
                format!("column \"{}\" is configured twice; remove one in catsync.toml", column.name),
            ));
        }
    }
    Ok(())
}

fn validate_column(table: &CatalogTable, column: &CatalogColumn) -> Result<(), StoreError> {
    let col = column.name.as_str();
    if !is_valid_name(col) {
        return Err(schema_error(
            &table.name,
            format!("column {col:?} is not a valid column name: {NAME_RULE}; rename it in catsync.toml"),
        ));
    }
    if RESERVED_COLUMNS.contains(&col) {
        let reserved = RESERVED_COLUMNS.join(", ");
        return Err(schema_error(
            &table.name,
            format!("column \"{col}\" is reserved (every catalog table has {reserved}); rename it in catsync.toml"),
        ));
    }
    let link = table.link_table(col);
    if column.ty == ColumnType::Links && col.starts_with('_') {
        let reason = format!("the links column \"{col}\" may not start with \"_\" (its link table would be \"{link}\"); rename it in catsync.toml");
        return Err(schema_error(&table.name, reason));
    }
    if column.ty == ColumnType::Links && link.len() > MAX_NAME_BYTES {
        let reason = format!(
            "the link table \"{link}\" of column \"{col}\" would be longer than 63 bytes; shorten the table or \
             column name in catsync.toml"
        );
        return Err(schema_error(&table.name, reason));
    }
    Ok(())
}

/// An identifier in double quotes. Only validated names get here; doubling quotes is belt and braces.
pub fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// An index name unique to `table` that fits in 63 bytes: a long table name is cut and made unique
/// again with a hash of the whole name (PostgreSQL would silently truncate, and two truncated names
/// could collide).
pub fn index_name(table: &str, suffix: &str) -> String {
    let name = format!("{table}_{suffix}");
    if name.len() <= MAX_NAME_BYTES {
        return name;
    }
    let hash = xxhash_rust::xxh3::xxh3_64(table.as_bytes());
    let keep = MAX_NAME_BYTES - suffix.len() - 18;
    format!("{}_{hash:016x}_{suffix}", &table[..keep])
}

/// The links columns of a table, with their position among the values of a record.
pub fn link_columns(table: &CatalogTable) -> impl Iterator<Item = (usize, &CatalogColumn)> {
    table.columns.iter().enumerate().filter(|(_, c)| c.ty == ColumnType::Links)
}

/// The named links column of a table, or an error saying it is not one.
pub fn links_column<'a>(table: &'a CatalogTable, column: &str) -> Result<&'a CatalogColumn, StoreError> {
    table
        .columns
        .iter()
        .find(|c| c.name == column && c.ty == ColumnType::Links)
        .ok_or_else(|| schema_error(&table.name, format!("\"{column}\" is not a links column of this table")))
}

/// The linked ids of a record's links cell (a NULL cell links nothing).
pub fn linked_ids(record: &CatalogRecord, index: usize) -> &[Uuid] {
    match &record.values[index] {
        CellValue::Links(ids) => ids,
        _ => &[],
    }
}

/// How one backend names and declares types, so one function writes the DDL of both.
pub struct SqlTypes {
    pub uuid: &'static str,
    pub timestamp: &'static str,
    pub bigint: &'static str,
    pub int4: &'static str,
    /// `ADD COLUMN IF NOT EXISTS` where the backend has it.
    pub add_column: &'static str,
    /// The declared type of a mapped column.
    pub declare: fn(ColumnType) -> String,
    /// How the backend's catalog reports that type (`udt_name`, `PRAGMA table_info`), lowercase.
    pub reported: fn(ColumnType) -> String,
}

impl SqlTypes {
    fn all_column_types() -> impl Iterator<Item = ColumnType> {
        let scalars = ScalarType::ALL.into_iter();
        scalars
            .map(ColumnType::Scalar)
            .chain(ScalarType::ALL.into_iter().map(ColumnType::Array))
            .chain([ColumnType::Links])
    }

    /// The column type catsync declares as `reported` (the first, where two share a stored type).
    fn column_type(&self, reported: &str) -> Option<ColumnType> {
        Self::all_column_types().find(|t| (self.reported)(*t) == reported)
    }

    /// A stored type in catsync's words when it is one catsync declares, else as the database says.
    fn describe(&self, reported: &str) -> String {
        match self.column_type(reported) {
            Some(t) => format!("{t}"),
            None => format!("the database type {reported}"),
        }
    }
}

/// A catalog table as the store has it: its mapped columns (not catsync's own, and only of types
/// catsync declares) from `(name, reported type)` in column order; `None` when there is no table.
pub fn stored_table(name: &str, columns: Vec<(String, String)>, types: &SqlTypes) -> Option<CatalogTable> {
    if columns.is_empty() {
        return None;
    }
    let columns = columns
        .into_iter()
        .filter(|(column, _)| !RESERVED_COLUMNS.contains(&column.as_str()))
        .filter_map(|(column, reported)| Some(CatalogColumn { name: column, ty: types.column_type(&reported)? }))
        .collect();
    Some(CatalogTable { name: name.to_string(), columns })
}

/// The statements that create `table` or bring it up to its configuration. `existing` maps each
/// column the store has to its reported type (empty: no such table). Every statement is idempotent.
pub fn ddl(
    table: &CatalogTable,
    existing: &HashMap<String, String>,
    types: &SqlTypes,
) -> Result<Vec<String>, StoreError> {
    let name = quoted(&table.name);
    let mut statements = Vec::new();
    if existing.is_empty() {
        statements.push(create_table(table, types));
    } else {
        for column in columns_to_add(table, existing, types)? {
            let (col, ty) = (quoted(&column.name), (types.declare)(column.ty));
            statements.push(format!("ALTER TABLE {name} {} {col} {ty}", types.add_column));
        }
    }
    for (_, column) in link_columns(table) {
        let link = table.link_table(&column.name);
        statements.push(format!(
            "CREATE TABLE IF NOT EXISTS {} (record_id {uuid} NOT NULL, position {int4} NOT NULL, \
             linked_id {uuid} NOT NULL, PRIMARY KEY (record_id, position))",
            quoted(&link),
            uuid = types.uuid,
            int4 = types.int4,
        ));
        statements.push(format!(
            "CREATE INDEX IF NOT EXISTS {} ON {} (linked_id)",
            quoted(&index_name(&link, "linked_id")),
            quoted(&link)
        ));
    }
    Ok(statements)
}

fn create_table(table: &CatalogTable, types: &SqlTypes) -> String {
    let mapped: String =
        table.columns.iter().map(|c| format!("{} {}, ", quoted(&c.name), (types.declare)(c.ty))).collect();
    format!(
        "CREATE TABLE IF NOT EXISTS {} (id {uuid} PRIMARY KEY, airtable_id TEXT NOT NULL UNIQUE, \
         airtable_created_time {ts}, {mapped}content_hash TEXT NOT NULL, row_version {bigint} NOT NULL DEFAULT 1, \
         first_synced_at {ts} NOT NULL, updated_at {ts} NOT NULL, deleted_at {ts})",
        quoted(&table.name),
        uuid = types.uuid,
        ts = types.timestamp,
        bigint = types.bigint,
    )
}

/// The configured columns the stored table lacks; an error for a column stored with another type,
/// or for a table that is not a catalog table at all.
fn columns_to_add<'a>(
    table: &'a CatalogTable,
    existing: &HashMap<String, String>,
    types: &SqlTypes,
) -> Result<Vec<&'a CatalogColumn>, StoreError> {
    let missing: Vec<&str> = RESERVED_COLUMNS.iter().copied().filter(|c| !existing.contains_key(*c)).collect();
    if !missing.is_empty() {
        let reason = format!(
            "a table of this name exists but is not a catalog table (it has no {}); give the catalog table another \
             name in catsync.toml",
            missing.join(", ")
        );
        return Err(schema_error(&table.name, reason));
    }
    let mut to_add = Vec::new();
    for column in &table.columns {
        match existing.get(&column.name) {
            None => to_add.push(column),
            Some(stored) if *stored == (types.reported)(column.ty) => {}
            Some(stored) => {
                let reason = format!(
                    "column \"{col}\" is stored as {stored} but catsync.toml configures it as {configured}; either \
                     rename the column in catsync.toml (the new name gets a new column of the new type), or drop the \
                     store column \"{col}\" (its values are lost) and sync again",
                    col = column.name,
                    stored = types.describe(stored),
                    configured = column.ty,
                );
                return Err(schema_error(&table.name, reason));
            }
        }
    }
    Ok(to_add)
}

/// The columns a row is written with, in the order of `row_params`: id, airtable_id,
/// airtable_created_time, the mapped columns, content_hash.
pub fn written_columns(table: &CatalogTable) -> String {
    let mapped: String = table.columns.iter().map(|c| format!("{}, ", quoted(&c.name))).collect();
    format!("id, airtable_id, airtable_created_time, {mapped}content_hash")
}

/// Parameters of one written row (see `written_columns`).
pub fn row_params(table: &CatalogTable) -> usize {
    table.columns.len() + 4
}

/// `UPDATE` of a changed or returning row; parameters as `written_columns`, then the time of the
/// change. `p` turns a parameter number into the backend's placeholder.
pub fn update_sql(table: &CatalogTable, p: fn(usize) -> String) -> String {
    let mapped: String =
        table.columns.iter().enumerate().map(|(i, c)| format!("{} = {}, ", quoted(&c.name), p(i + 4))).collect();
    let n = row_params(table);
    format!(
        "UPDATE {} SET airtable_id = {}, airtable_created_time = {}, {mapped}content_hash = {}, \
         row_version = row_version + 1, updated_at = {}, deleted_at = NULL WHERE id = {}",
        quoted(&table.name),
        p(2),
        p(3),
        p(n),
        p(n + 1),
        p(1),
    )
}

/// Columns of an `id_mappings` row, and what a mapping that exists already does: nothing (the ids
/// are deterministic, so an existing mapping is the same mapping).
pub const ID_MAPPING_COLUMNS: &str =
    "source_id, target_id, source_system, target_system, metadata, created_at, updated_at";
pub const ID_MAPPING_CONFLICT: &str = " ON CONFLICT (source_id, source_system, target_system) DO NOTHING";

/// `SELECT` of every row of a table: the bookkeeping columns (0–7), then the mapped columns from 8.
pub fn select_records_sql(table: &CatalogTable) -> Result<String, StoreError> {
    validate(table)?;
    let mapped: String = table.columns.iter().map(|col| format!(", {}", quoted(&col.name))).collect();
    Ok(format!(
        "SELECT id, airtable_id, airtable_created_time, content_hash, row_version, first_synced_at, updated_at, \
         deleted_at{mapped} FROM {}",
        quoted(&table.name)
    ))
}

/// Index of the first mapped column in `select_records_sql`.
pub const FIRST_MAPPED: usize = 8;

/// `SELECT` of a links column's link rows, ordered by record id (byte order on every backend:
/// PostgreSQL orders UUIDs by their bytes, SQLite compares BLOBs with memcmp) and position.
pub fn select_links_sql(table: &CatalogTable, column: &str) -> Result<String, StoreError> {
    validate(table)?;
    links_column(table, column)?;
    Ok(format!(
        "SELECT record_id, position, linked_id FROM {} ORDER BY record_id, position",
        quoted(&table.link_table(column))
    ))
}

/// A value that does not fit its column is a bug in the source that typed it: say which.
pub fn check_record(table: &CatalogTable, record: &CatalogRecord) -> Result<(), StoreError> {
    if record.values.len() != table.columns.len() {
        return Err(schema_error(
            &table.name,
            format!(
                "record {} has {} values for {} columns (a bug in the source that built it)",
                record.airtable_id,
                record.values.len(),
                table.columns.len()
            ),
        ));
    }
    for (column, value) in table.columns.iter().zip(&record.values) {
        if !fits(column.ty, value) {
            let reason = format!(
                "record {}, column \"{}\": a {} value does not fit the column's type {} (a bug in the source that \
                 typed it)",
                record.airtable_id,
                column.name,
                variant_name(value),
                column.ty
            );
            return Err(schema_error(&table.name, reason));
        }
    }
    Ok(())
}

fn fits(ty: ColumnType, value: &CellValue) -> bool {
    match (ty, value) {
        (_, CellValue::Null) => true,
        (ColumnType::Scalar(s), v) => scalar_fits(s, v),
        (ColumnType::Array(s), CellValue::Array(items)) => {
            items.iter().all(|v| matches!(v, CellValue::Null) || scalar_fits(s, v))
        }
        (ColumnType::Links, CellValue::Links(_)) => true,
        _ => false,
    }
}

fn scalar_fits(ty: ScalarType, value: &CellValue) -> bool {
    matches!(
        (ty, value),
        (ScalarType::Text | ScalarType::Gtin, CellValue::Text(_))
            | (ScalarType::Integer, CellValue::Integer(_))
            | (ScalarType::Numeric, CellValue::Numeric(_))
            | (ScalarType::Boolean, CellValue::Boolean(_))
            | (ScalarType::Date, CellValue::Date(_))
            | (ScalarType::Timestamp, CellValue::Timestamp(_))
            | (ScalarType::Json, CellValue::Json(_))
    )
}

fn variant_name(value: &CellValue) -> &'static str {
    match value {
        CellValue::Null => "null",
        CellValue::Text(_) => "text",
        CellValue::Integer(_) => "integer",
        CellValue::Numeric(_) => "numeric",
        CellValue::Boolean(_) => "boolean",
        CellValue::Date(_) => "date",
        CellValue::Timestamp(_) => "timestamp",
        CellValue::Json(_) => "json",
        CellValue::Links(_) => "links",
        CellValue::Array(_) => "array",
    }
}

/// Checks a batch and keeps the last record of each id (one statement may not touch a row twice).
pub fn checked_batch(table: &CatalogTable, records: Vec<CatalogRecord>) -> Result<Vec<CatalogRecord>, StoreError> {
    for record in &records {
        check_record(table, record)?;
    }
    let last: HashMap<Uuid, usize> = records.iter().enumerate().map(|(i, r)| (r.id, i)).collect();
    Ok(records.into_iter().enumerate().filter(|(i, r)| last[&r.id] == *i).map(|(_, r)| r).collect())
}

/// What the store holds for one id of a batch.
pub struct StoredState {
    pub content_hash: String,
    pub live: bool,
}

/// A batch sorted by what it does to the store.
pub struct BatchPlan<'a> {
    pub insert: Vec<&'a CatalogRecord>,
    /// Changed rows, and deleted ones that came back.
    pub update: Vec<&'a CatalogRecord>,
    pub unchanged: u64,
}

impl<'a> BatchPlan<'a> {
    pub fn new(records: &'a [CatalogRecord], stored: &HashMap<Uuid, StoredState>) -> BatchPlan<'a> {
        let mut plan = BatchPlan { insert: Vec::new(), update: Vec::new(), unchanged: 0 };
        for record in records {
            match stored.get(&record.id) {
                None => plan.insert.push(record),
                Some(s) if s.live && s.content_hash == record.content_hash => plan.unchanged += 1,
                Some(_) => plan.update.push(record),
            }
        }
        plan
    }

    /// Rows inserted or updated: their link rows are replaced, and the search outbox will list them.
    pub fn changed(&self) -> Vec<&'a CatalogRecord> {
        self.insert.iter().chain(&self.update).copied().collect()
    }

    pub fn counts(&self) -> RunCounts {
        RunCounts {
            inserted: self.insert.len() as u64,
            updated: self.update.len() as u64,
            unchanged: self.unchanged,
            ..RunCounts::default()
        }
    }
}

/// The store-side counts of two parts of one sync, together.
pub fn add_counts(a: RunCounts, b: RunCounts) -> RunCounts {
    RunCounts {
        inserted: a.inserted + b.inserted,
        updated: a.updated + b.updated,
        unchanged: a.unchanged + b.unchanged,
        deactivated: a.deactivated + b.deactivated,
        ..a
    }
}

/// The run a catalog sync ends with: the store-side counts of its earlier batches, its last batch
/// and its soft deletes, with the reader-side counts the run already carries.
pub fn finished_run(run: &RunRecord, earlier: RunCounts, last_batch: RunCounts, deactivated: u64) -> RunRecord {
    let store_side = add_counts(add_counts(earlier, last_batch), RunCounts { deactivated, ..RunCounts::default() });
    RunRecord { counts: store_side.with_reader_counts(&run.counts), ..run.clone() }
}

/// Text of a timestamp as the SQLite store keeps them, also inside JSON arrays.
pub fn timestamp_text(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// The JSON form of an array cell (SQLite's arrays, and `json[]` on PostgreSQL): NULL elements are
/// `null`; numerics are strings so their scale and all 28 digits survive.
pub fn array_to_json(items: &[CellValue]) -> Value {
    Value::Array(items.iter().map(element_to_json).collect())
}

fn element_to_json(item: &CellValue) -> Value {
    match item {
        CellValue::Text(s) => Value::String(s.clone()),
        CellValue::Integer(i) => Value::from(*i),
        CellValue::Numeric(d) => Value::String(d.to_string()),
        CellValue::Boolean(b) => Value::Bool(*b),
        CellValue::Date(d) => Value::String(d.format("%Y-%m-%d").to_string()),
        CellValue::Timestamp(t) => Value::String(timestamp_text(*t)),
        CellValue::Json(v) => v.clone(),
        CellValue::Null | CellValue::Links(_) | CellValue::Array(_) => Value::Null,
    }
}

/// An array cell back from its JSON form. A JSON `null` element reads back as `Null`, also in a
/// `json[]` column (where it may have been written as `Json(null)`).
pub fn array_from_json(ty: ScalarType, json: Value) -> Result<Vec<CellValue>, String> {
    let Value::Array(items) = json else { return Err(format!("{json} is not a JSON array")) };
    items.into_iter().map(|v| element_from_json(ty, v)).collect()
}

fn element_from_json(ty: ScalarType, v: Value) -> Result<CellValue, String> {
    let wrong = |v: &Value| format!("{v} is not a {} element", ty.name());
    Ok(match (ty, v) {
        (_, Value::Null) => CellValue::Null,
        (ScalarType::Json, v) => CellValue::Json(v),
        (ScalarType::Text | ScalarType::Gtin, Value::String(s)) => CellValue::Text(s),
        (ScalarType::Integer, v) => CellValue::Integer(v.as_i64().ok_or_else(|| wrong(&v))?),
        (ScalarType::Boolean, Value::Bool(b)) => CellValue::Boolean(b),
        (ScalarType::Numeric, Value::String(s)) => CellValue::Numeric(s.parse::<Decimal>().map_err(|e| e.to_string())?),
        (ScalarType::Date, Value::String(s)) => {
            CellValue::Date(NaiveDate::parse_from_str(&s, "%Y-%m-%d").map_err(|e| e.to_string())?)
        }
        (ScalarType::Timestamp, Value::String(s)) => {
            CellValue::Timestamp(DateTime::parse_from_rfc3339(&s).map_err(|e| e.to_string())?.with_timezone(&Utc))
        }
        (_, v) => return Err(wrong(&v)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(name: &str, columns: &[(&str, ColumnType)]) -> CatalogTable {
        CatalogTable {
            name: name.into(),
            columns: columns.iter().map(|(n, ty)| CatalogColumn { name: (*n).into(), ty: *ty }).collect(),
        }
    }

    #[test]
    fn long_index_names_stay_unique_within_the_limit() {
        let a = index_name(&"a".repeat(60), "linked_id");
        let b = index_name(&format!("{}b", "a".repeat(59)), "linked_id");
        assert!(a.len() <= MAX_NAME_BYTES && b.len() <= MAX_NAME_BYTES);
        assert_ne!(a, b);
        assert_eq!(index_name("products__brand", "linked_id"), "products__brand_linked_id");
    }

    #[test]
    fn names_that_could_break_sql_or_collide_are_refused() {
        let text = ColumnType::Scalar(ScalarType::Text);
        for bad in ["Products", "1st", "products; drop table x", "sync_runs", "a__b", "a_", "sqlite_x", ""] {
            assert!(validate(&table(bad, &[])).is_err(), "{bad:?} was accepted");
        }
        assert!(validate(&table("products", &[("id", text)])).is_err());
        assert!(validate(&table("products", &[("x", text), ("x", text)])).is_err());
        assert!(validate(&table("products", &[(&"c".repeat(60), ColumnType::Links)])).is_err());
        assert!(validate(&table("products", &[("order", text), ("_select", text)])).is_ok());
    }

    #[test]
    fn the_last_record_of_an_id_wins() {
        let t = table("t", &[]);
        let record = |hash: &str| CatalogRecord {
            id: crate::catalog::catalog_record_id("rec1"),
            airtable_id: "rec1".into(),
            created_time: Utc::now(),
            values: vec![],
            content_hash: hash.into(),
        };
        let kept = checked_batch(&t, vec![record("a"), record("b")]).unwrap();
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].content_hash, "b");
    }
}
