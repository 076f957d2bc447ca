//! A `[[airtable.tables]]` section resolved against the base schema: which field feeds which store
//! column, by field id, so that a field renamed in Airtable keeps syncing.

use std::collections::BTreeMap;

use crate::catalog::{CatalogColumn, CatalogTable};
use crate::config::{AirtableTableSection, ColumnSource};

use super::schema::{BaseSchema, FieldSchema, TableSchema};

/// One store column and the field it reads.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MappedField {
    pub field_id: String,
    /// The field's current name in Airtable, for messages.
    pub field_name: String,
    /// The Airtable field type (`currency`, `formula`, …).
    pub airtable_type: String,
}

/// Everything a sync of one table needs to know about it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TableMapping {
    pub base: String,
    pub table_id: String,
    pub table_name: String,
    pub primary_field_id: String,
    pub reconcile_every: u32,
    pub catalog: CatalogTable,
    /// `fields[i]` feeds `catalog.columns[i]`.
    pub fields: Vec<MappedField>,
}

/// A mapping that does not fit the base as it is now.
#[derive(Debug, thiserror::Error)]
pub enum MappingError {
    #[error("base {base} has no table {table:?} (its tables: {known})")]
    UnknownTable { base: String, table: String, known: String },
    #[error("table {table:?} in base {base} has no field {field:?} for column {column:?}: renamed or deleted in Airtable? Its fields: {known}. Run `catsync check` to compare the config with the base")]
    UnknownField { base: String, table: String, column: String, field: String, known: String },
}

impl TableMapping {
    /// Resolves each column's field: by the id the config pins, else by the id or name it gives,
    /// else by the id `remembered` from the last successful sync (column → field id), so that a
    /// field renamed in Airtable keeps syncing even when the config names it by name.
    pub fn resolve(
        section: &AirtableTableSection,
        schema: &BaseSchema,
        remembered: &BTreeMap<String, String>,
    ) -> Result<TableMapping, MappingError> {
        let base = section.base.get_ref().clone();
        let table = schema.table(&section.table).ok_or_else(|| MappingError::UnknownTable {
            base: base.clone(),
            table: section.table.clone(),
            known: schema.tables.iter().map(|t| format!("{:?}", t.name)).collect::<Vec<_>>().join(", "),
        })?;
        let mut columns = Vec::new();
        let mut fields = Vec::new();
        for (column, source) in &section.columns {
            let source = source.get_ref();
            let field = find_field(table, source, remembered.get(column.get_ref())).ok_or_else(|| {
                MappingError::UnknownField {
                    base: base.clone(),
                    table: table.name.clone(),
                    column: column.get_ref().clone(),
                    field: source.field().to_string(),
                    known: table.field_names(),
                }
            })?;
            columns.push(CatalogColumn {
                name: column.get_ref().clone(),
                ty: source.column_type().unwrap_or_else(|| field.column_type()),
            });
            fields.push(MappedField {
                field_id: field.id.clone(),
                field_name: field.name.clone(),
                airtable_type: field.kind.clone(),
            });
        }
        Ok(TableMapping {
            base,
            table_id: table.id.clone(),
            table_name: table.name.clone(),
            primary_field_id: table.primary_field_id.clone(),
            reconcile_every: section.reconcile_every,
            catalog: CatalogTable { name: section.into.get_ref().clone(), columns },
            fields,
        })
    }

    /// Whether a mapped field can change when *other* records change — computed fields (lookups,
    /// rollups, formulas, counts, …), and links, which lose a record deleted on the other side —
    /// none of which moves this record's `LAST_MODIFIED_TIME()`.
    pub fn follows_other_records(&self) -> bool {
        const FOLLOWING: &[&str] =
            &["multipleRecordLinks", "multipleLookupValues", "rollup", "formula", "count", "button", "aiText"];
        self.fields.iter().any(|f| FOLLOWING.contains(&f.airtable_type.as_str()))
    }

    /// Column → field id, remembered with the watermark.
    pub fn field_ids(&self) -> BTreeMap<String, String> {
        self.catalog.columns.iter().zip(&self.fields).map(|(c, f)| (c.name.clone(), f.field_id.clone())).collect()
    }

    /// Identifies what the store holds: when it changes (a column added, a field re-pointed), the
    /// next sync is a full one so that no row misses the new values.
    pub fn fingerprint(&self) -> String {
        let mut text = format!("{}\x1f{}", self.base, self.table_id);
        for (column, field) in self.catalog.columns.iter().zip(&self.fields) {
            text.push_str(&format!("\x1e{}\x1f{}\x1f{}", column.name, column.ty, field.field_id));
        }
        format!("{:032x}", xxhash_rust::xxh3::xxh3_128(text.as_bytes()))
    }
}

/// By pinned id first (it survives renames), then by id or name as written, then by the id the
/// last sync resolved.
fn find_field<'a>(
    table: &'a TableSchema,
    source: &ColumnSource,
    remembered: Option<&String>,
) -> Option<&'a FieldSchema> {
    source
        .field_id()
        .and_then(|id| table.field_by_id(id))
        .or_else(|| table.field_by_id(source.field()))
        .or_else(|| table.field_by_name(source.field()))
        .or_else(|| remembered.and_then(|id| table.field_by_id(id)))
}

/// A difference between the config and the base, as `catsync check` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Drift {
    /// The pinned field is still there under another name: syncing continues, the config is stale.
    Renamed {
        column: String,
        id: String,
        config_name: String,
        airtable_name: String,
    },
    /// No field with that id or name: the column cannot be synced.
    Missing {
        column: String,
        field: String,
    },
    /// A field of the table that no column reads.
    Unmapped {
        field: String,
        id: String,
        kind: String,
    },
    UnknownTable {
        table: String,
    },
}

impl std::fmt::Display for Drift {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Drift::Renamed { column, id, config_name, airtable_name } => write!(
                f,
                "field {id} of column {column:?} was renamed from {config_name:?} to {airtable_name:?}; it still syncs (by id); update field = {airtable_name:?} in the config"
            ),
            Drift::Missing { column, field } => {
                write!(f, "column {column:?}: field {field:?} no longer exists in Airtable; the table cannot sync until the config is fixed")
            }
            Drift::Unmapped { field, id, kind } => {
                write!(f, "field {field:?} ({id}, {kind}) is not synced: add it to the columns to sync it")
            }
            Drift::UnknownTable { table } => write!(f, "table {table:?} no longer exists in the base"),
        }
    }
}

/// Compares one `[[airtable.tables]]` section with the base schema (and the field ids the last
/// sync resolved).
pub fn drift(section: &AirtableTableSection, schema: &BaseSchema, remembered: &BTreeMap<String, String>) -> Vec<Drift> {
    let Some(table) = schema.table(&section.table) else {
        return vec![Drift::UnknownTable { table: section.table.clone() }];
    };
    let mut found = Vec::new();
    let mut drifts = Vec::new();
    for (column, source) in &section.columns {
        let source = source.get_ref();
        let column = column.get_ref().clone();
        match find_field(table, source, remembered.get(&column)) {
            None => drifts.push(Drift::Missing { column, field: source.field().to_string() }),
            Some(field) => {
                let named = source.field() != field.id && source.field() != field.name;
                if named {
                    drifts.push(Drift::Renamed {
                        column,
                        id: field.id.clone(),
                        config_name: source.field().to_string(),
                        airtable_name: field.name.clone(),
                    });
                }
                found.push(field.id.clone());
            }
        }
    }
    drifts.extend(table.fields.iter().filter(|f| !found.contains(&f.id)).map(|f| Drift::Unmapped {
        field: f.name.clone(),
        id: f.id.clone(),
        kind: f.kind.clone(),
    }));
    drifts
}
