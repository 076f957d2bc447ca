//! Catalog tables: store tables that mirror Airtable tables, one typed column per mapped field.
//!
//! The Airtable source turns records into `CatalogRecord`s and the store persists them; neither
//! knows the other. Ids are UUID v5 of the Airtable record id, so a linked record's id is known
//! without a lookup and the order in which tables sync does not matter.

use std::fmt;

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use uuid::Uuid;

/// Namespace of catalog record ids (distinct from distributor product ids).
const AIRTABLE_NAMESPACE: Uuid = Uuid::from_u128(0x2c9e_71d4_0a8b_5f36_9e14_b7c2_58d0_a431);

/// Deterministic id of an Airtable record, used as the primary key of its row and of links to it.
pub fn catalog_record_id(airtable_id: &str) -> Uuid {
    Uuid::new_v5(&AIRTABLE_NAMESPACE, airtable_id.as_bytes())
}

/// The source name of the catalog table `name` (`airtable:<name>`).
pub fn catalog_source(name: &str) -> String {
    format!("airtable:{name}")
}

/// Column names every catalog table has; a mapped column may not take them.
pub const RESERVED_COLUMNS: &[&str] = &[
    "id",
    "airtable_id",
    "airtable_created_time",
    "content_hash",
    "row_version",
    "first_synced_at",
    "updated_at",
    "deleted_at",
];

/// The type of a single value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScalarType {
    Text,
    Integer,
    Numeric,
    Boolean,
    Date,
    Timestamp,
    Json,
    /// Text holding a GTIN-14 validated by its check digit.
    Gtin,
}

impl ScalarType {
    pub fn name(self) -> &'static str {
        match self {
            ScalarType::Text => "text",
            ScalarType::Integer => "integer",
            ScalarType::Numeric => "numeric",
            ScalarType::Boolean => "boolean",
            ScalarType::Date => "date",
            ScalarType::Timestamp => "timestamp",
            ScalarType::Json => "json",
            ScalarType::Gtin => "gtin",
        }
    }

    /// Every scalar type, in the order error messages list them.
    pub const ALL: [ScalarType; 8] = [
        ScalarType::Text,
        ScalarType::Integer,
        ScalarType::Numeric,
        ScalarType::Boolean,
        ScalarType::Date,
        ScalarType::Timestamp,
        ScalarType::Json,
        ScalarType::Gtin,
    ];
}

/// The type of a catalog column, as written in the config (`numeric`, `text[]`, `links`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ColumnType {
    Scalar(ScalarType),
    /// A list of values (multiple selects, lookups); elements may be NULL.
    Array(ScalarType),
    /// Linked records: an array of catalog record ids, and a link table `<table>__<column>`.
    Links,
}

impl ColumnType {
    /// Parses a config type name; `None` for an unknown name.
    pub fn parse(name: &str) -> Option<ColumnType> {
        let name = name.trim().to_ascii_lowercase();
        if name == "links" {
            return Some(ColumnType::Links);
        }
        let (scalar, array) = match name.strip_suffix("[]") {
            Some(inner) => (inner, true),
            None => (name.as_str(), false),
        };
        let scalar = ScalarType::ALL.into_iter().find(|t| t.name() == scalar)?;
        Some(if array { ColumnType::Array(scalar) } else { ColumnType::Scalar(scalar) })
    }

    /// Every type name `parse` accepts, for error messages.
    pub fn names() -> String {
        let scalars: Vec<&str> = ScalarType::ALL.iter().map(|t| t.name()).collect();
        format!("{}, links, or a scalar type followed by [] for a list", scalars.join(", "))
    }
}

impl fmt::Display for ColumnType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ColumnType::Scalar(t) => f.write_str(t.name()),
            ColumnType::Array(t) => write!(f, "{}[]", t.name()),
            ColumnType::Links => f.write_str("links"),
        }
    }
}

/// One mapped column of a catalog table.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CatalogColumn {
    /// Store column name, validated (lowercase letters, digits, `_`).
    pub name: String,
    pub ty: ColumnType,
}

/// A store table synced from one Airtable table.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CatalogTable {
    /// Store table name, validated like column names.
    pub name: String,
    pub columns: Vec<CatalogColumn>,
}

impl CatalogTable {
    /// The `sync_control`/`sync_runs`/`sync_errors` source name of this table.
    pub fn source(&self) -> String {
        catalog_source(&self.name)
    }

    /// The link table of a `links` column: one row per (record, position).
    pub fn link_table(&self, column: &str) -> String {
        format!("{}__{}", self.name, column)
    }

    /// The `id_mappings.target_system` of this table's rows.
    pub fn target_system(&self) -> String {
        format!("store:{}", self.name)
    }
}

/// Which catalog columns hold which text, by position in the table's columns.
#[derive(Debug, Clone)]
pub struct CatalogRoles {
    title: Option<usize>,
    description: Option<usize>,
    brand: Option<usize>,
    mpn: Option<usize>,
    gtin: Option<usize>,
    price: Option<usize>,
}

impl CatalogRoles {
    /// The roles of `[catalog]` in `table` (validated against the config at load).
    pub fn new(section: &crate::config::CatalogSection, table: &CatalogTable) -> CatalogRoles {
        let at = |role: &Option<toml::Spanned<String>>| {
            role.as_ref().and_then(|c| table.columns.iter().position(|col| &col.name == c.get_ref()))
        };
        CatalogRoles {
            title: at(&section.title),
            description: at(&section.description),
            brand: at(&section.brand),
            mpn: at(&section.mpn),
            gtin: at(&section.gtin),
            price: at(&section.price),
        }
    }

    /// The description column's text, if the catalog has one.
    pub fn description(&self, record: &StoredCatalogRecord) -> Option<String> {
        self.description.map(|i| cell_text(&record.record.values[i])).filter(|s| !s.is_empty())
    }

    /// A catalog row as matching reads it.
    pub fn product_text(&self, record: &StoredCatalogRecord) -> crate::matching::ProductText {
        let values = &record.record.values;
        let text = |role: Option<usize>| role.map(|i| cell_text(&values[i])).unwrap_or_default();
        crate::matching::ProductText {
            id: record.record.id.to_string(),
            title: text(self.title),
            brand: text(self.brand),
            mpn: text(self.mpn),
            gtin: text(self.gtin),
            price: self.price.and_then(|i| cell_number(&values[i])),
        }
    }
}

/// A cell as plain text: lists (lookups of a linked brand, say) joined, links left out.
pub fn cell_text(value: &CellValue) -> String {
    match value {
        CellValue::Null | CellValue::Links(_) => String::new(),
        CellValue::Text(s) => s.clone(),
        CellValue::Integer(i) => i.to_string(),
        CellValue::Numeric(d) => d.normalize().to_string(),
        CellValue::Boolean(b) => b.to_string(),
        CellValue::Date(d) => d.to_string(),
        CellValue::Timestamp(t) => t.to_rfc3339(),
        CellValue::Json(serde_json::Value::String(s)) => s.clone(),
        CellValue::Json(j) => j.to_string(),
        CellValue::Array(items) => items.iter().map(cell_text).filter(|s| !s.is_empty()).collect::<Vec<_>>().join(" "),
    }
}

fn cell_number(value: &CellValue) -> Option<f64> {
    match value {
        CellValue::Integer(i) => Some(*i as f64),
        CellValue::Numeric(d) => rust_decimal::prelude::ToPrimitive::to_f64(d),
        CellValue::Array(items) => items.iter().find_map(cell_number),
        _ => None,
    }
}

/// A typed value of one cell. `Null` is a blank cell, or a value that failed its type.
#[derive(Debug, Clone, PartialEq)]
pub enum CellValue {
    Null,
    Text(String),
    Integer(i64),
    Numeric(Decimal),
    Boolean(bool),
    Date(NaiveDate),
    Timestamp(DateTime<Utc>),
    Json(serde_json::Value),
    /// Linked catalog record ids, in the cell's order.
    Links(Vec<Uuid>),
    /// Elements of an array column, each `Null` or of the column's scalar type.
    Array(Vec<CellValue>),
}

/// One Airtable record, typed for its catalog table: `values[i]` belongs to `columns[i]`.
#[derive(Debug, Clone, PartialEq)]
pub struct CatalogRecord {
    pub id: Uuid,
    pub airtable_id: String,
    pub created_time: DateTime<Utc>,
    pub values: Vec<CellValue>,
    /// xxh3-128 of the values and created time, hex: equal hash, nothing to write.
    pub content_hash: String,
}

/// A catalog row as stored, with its bookkeeping.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredCatalogRecord {
    pub record: CatalogRecord,
    /// Bumped by every change, deletion included (search documents are versioned by it).
    pub row_version: i64,
    pub first_synced_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// When a reconcile found the record gone from Airtable (soft delete).
    pub deleted_at: Option<DateTime<Utc>>,
}

/// One row of a link table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CatalogLink {
    pub record_id: Uuid,
    pub position: i32,
    pub linked_id: Uuid,
}

impl CatalogRecord {
    /// A record with its content hash computed.
    pub fn sealed(airtable_id: &str, created_time: DateTime<Utc>, values: Vec<CellValue>) -> CatalogRecord {
        let mut h = xxhash_rust::xxh3::Xxh3::new();
        h.update(&created_time.timestamp_micros().to_le_bytes());
        for value in &values {
            hash_value(&mut h, value);
        }
        CatalogRecord {
            id: catalog_record_id(airtable_id),
            airtable_id: airtable_id.to_string(),
            created_time,
            values,
            content_hash: format!("{:032x}", h.digest128()),
        }
    }
}

/// An Airtable attachment object (its id starts with `att`).
pub fn is_attachment(object: &serde_json::Map<String, serde_json::Value>) -> bool {
    object.get("id").and_then(serde_json::Value::as_str).is_some_and(|id| id.starts_with("att"))
}

/// Attachment URLs change on every read and expire after two hours: they are kept, but a new URL
/// for the same file is not a change of the record.
fn without_attachment_urls(value: &serde_json::Value) -> std::borrow::Cow<'_, serde_json::Value> {
    use serde_json::Value;
    match value {
        Value::Array(items) if items.iter().any(|i| matches!(i, Value::Object(o) if is_attachment(o))) => {
            let items = items
                .iter()
                .map(|item| match item {
                    Value::Object(o) if is_attachment(o) => Value::Object(
                        o.iter().filter(|(k, _)| *k != "url").map(|(k, v)| (k.clone(), v.clone())).collect(),
                    ),
                    other => other.clone(),
                })
                .collect();
            std::borrow::Cow::Owned(Value::Array(items))
        }
        other => std::borrow::Cow::Borrowed(other),
    }
}

/// Feeds a value to the hasher tag- and length-prefixed, so that values cannot run into each other.
fn hash_value(h: &mut xxhash_rust::xxh3::Xxh3, value: &CellValue) {
    let mut bytes = |tag: u8, b: &[u8]| {
        h.update(&[tag]);
        h.update(&(b.len() as u64).to_le_bytes());
        h.update(b);
    };
    match value {
        CellValue::Null => bytes(0, &[]),
        CellValue::Text(s) => bytes(1, s.as_bytes()),
        CellValue::Integer(i) => bytes(2, &i.to_le_bytes()),
        // Normalized, so 1.50 and 1.5 (the same price) hash alike.
        CellValue::Numeric(d) => bytes(3, d.normalize().to_string().as_bytes()),
        CellValue::Boolean(b) => bytes(4, &[*b as u8]),
        CellValue::Date(d) => bytes(5, d.to_string().as_bytes()),
        CellValue::Timestamp(t) => bytes(6, &t.timestamp_micros().to_le_bytes()),
        CellValue::Json(j) => bytes(7, without_attachment_urls(j).to_string().as_bytes()),
        CellValue::Links(ids) => bytes(8, &ids.iter().flat_map(|id| *id.as_bytes()).collect::<Vec<u8>>()),
        CellValue::Array(items) => {
            bytes(9, &(items.len() as u64).to_le_bytes());
            items.iter().for_each(|item| hash_value(h, item));
        }
    }
}
