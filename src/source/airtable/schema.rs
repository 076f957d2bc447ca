//! A base's schema as the metadata API describes it, and what each Airtable field type becomes
//! in the store.

use serde::Deserialize;
use serde_json::Value;

use crate::catalog::{ColumnType, ScalarType, RESERVED_COLUMNS};

/// `GET /v0/meta/bases/{baseId}/tables`
#[derive(Debug, Clone, Deserialize)]
pub struct BaseSchema {
    pub tables: Vec<TableSchema>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TableSchema {
    pub id: String,
    pub name: String,
    pub primary_field_id: String,
    pub fields: Vec<FieldSchema>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct FieldSchema {
    pub id: String,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub options: Option<Value>,
}

impl BaseSchema {
    /// A table by id or name (ids never change; names are tried second).
    pub fn table(&self, id_or_name: &str) -> Option<&TableSchema> {
        self.tables.iter().find(|t| t.id == id_or_name).or_else(|| self.tables.iter().find(|t| t.name == id_or_name))
    }
}

impl TableSchema {
    pub fn field_by_id(&self, id: &str) -> Option<&FieldSchema> {
        self.fields.iter().find(|f| f.id == id)
    }

    pub fn field_by_name(&self, name: &str) -> Option<&FieldSchema> {
        self.fields.iter().find(|f| f.name == name)
    }

    pub fn field_names(&self) -> String {
        self.fields.iter().map(|f| format!("{:?}", f.name)).collect::<Vec<_>>().join(", ")
    }
}

impl FieldSchema {
    /// The store column type that keeps every value of this field.
    pub fn column_type(&self) -> ColumnType {
        match self.kind.as_str() {
            "multipleRecordLinks" => ColumnType::Links,
            "multipleSelects" => ColumnType::Array(ScalarType::Text),
            "multipleLookupValues" => match self.result().map(result_scalar) {
                Some(Some(scalar)) => ColumnType::Array(scalar),
                _ => ColumnType::Scalar(ScalarType::Json),
            },
            "formula" | "rollup" => match self.result().map(result_scalar) {
                Some(Some(scalar)) => ColumnType::Scalar(scalar),
                _ => ColumnType::Scalar(ScalarType::Json),
            },
            kind => ColumnType::Scalar(scalar_of(kind, self.options.as_ref()).unwrap_or(ScalarType::Json)),
        }
    }

    /// `options.result` of computed fields: the type and options of what they yield.
    fn result(&self) -> Option<&Value> {
        self.options.as_ref()?.get("result").filter(|r| !r.is_null())
    }
}

fn result_scalar(result: &Value) -> Option<ScalarType> {
    let kind = result.get("type")?.as_str()?;
    if matches!(kind, "multipleRecordLinks" | "multipleSelects") {
        return Some(ScalarType::Text);
    }
    scalar_of(kind, result.get("options"))
}

/// The scalar store type of a field type; `None` for values kept as JSON. A number's precision is
/// only how Airtable displays it (an average shown as 541 is 540.83…): every number is `numeric`.
fn scalar_of(kind: &str, options: Option<&Value>) -> Option<ScalarType> {
    Some(match kind {
        "singleLineText" | "email" | "url" | "multilineText" | "richText" | "phoneNumber" | "singleSelect"
        | "externalSyncSource" | "barcode" => ScalarType::Text,
        "number" | "currency" | "percent" | "duration" => ScalarType::Numeric,
        "rating" | "autoNumber" | "count" => ScalarType::Integer,
        "checkbox" => ScalarType::Boolean,
        "date" => ScalarType::Date,
        "dateTime" => ScalarType::Timestamp,
        "createdTime" | "lastModifiedTime" => {
            let result = options.and_then(|o| o.get("result")).and_then(|r| r.get("type")).and_then(Value::as_str);
            if result == Some("date") {
                ScalarType::Date
            } else {
                ScalarType::Timestamp
            }
        }
        _ => return None,
    })
}

/// A store column name for a field name: lowercase ASCII words joined by `_`
/// ("Brand name" → `brand_name`, "Item #" → `item`), never empty, reserved or taken.
pub fn column_name(field_name: &str, taken: &[String]) -> String {
    let mut name = String::new();
    for c in field_name.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            name.push(c);
        } else if !name.is_empty() && !name.ends_with('_') {
            name.push('_');
        }
    }
    let mut name = name.trim_end_matches('_').to_string();
    if name.is_empty() {
        name.push_str("field");
    } else if name.as_bytes()[0].is_ascii_digit() {
        name.insert_str(0, "field_");
    }
    if RESERVED_COLUMNS.contains(&name.as_str()) {
        name.push_str("_field");
    }
    name.truncate(50);
    let base = name.clone();
    let mut n = 2;
    while taken.contains(&name) {
        name = format!("{base}_{n}");
        n += 1;
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn field(kind: &str, options: Value) -> FieldSchema {
        FieldSchema { id: "fld00000000000001".into(), name: "F".into(), kind: kind.into(), options: Some(options) }
    }

    #[test]
    fn computed_fields_are_typed_by_their_result() {
        let lookup = field("multipleLookupValues", json!({"result": {"type": "singleLineText"}}));
        assert_eq!(lookup.column_type(), ColumnType::Array(ScalarType::Text));
        let formula = field("formula", json!({"result": {"type": "currency", "options": {"precision": 2}}}));
        assert_eq!(formula.column_type(), ColumnType::Scalar(ScalarType::Numeric));
        let invalid = field("formula", json!({"result": null}));
        assert_eq!(invalid.column_type(), ColumnType::Scalar(ScalarType::Json));
        let modified = field("lastModifiedTime", json!({"result": {"type": "date"}}));
        assert_eq!(modified.column_type(), ColumnType::Scalar(ScalarType::Date));
    }

    #[test]
    fn every_documented_type_has_a_column_type() {
        assert_eq!(field("number", json!({"precision": 0})).column_type(), ColumnType::Scalar(ScalarType::Numeric));
        let average = field("rollup", json!({"result": {"type": "number", "options": {"precision": 0}}}));
        assert_eq!(average.column_type(), ColumnType::Scalar(ScalarType::Numeric), "display precision is not a type");
        assert_eq!(field("autoNumber", json!(null)).column_type(), ColumnType::Scalar(ScalarType::Integer));
        assert_eq!(field("number", json!({"precision": 2})).column_type(), ColumnType::Scalar(ScalarType::Numeric));
        assert_eq!(field("multipleRecordLinks", json!({})).column_type(), ColumnType::Links);
        assert_eq!(field("multipleAttachments", json!({})).column_type(), ColumnType::Scalar(ScalarType::Json));
        assert_eq!(field("someFutureType", json!({})).column_type(), ColumnType::Scalar(ScalarType::Json));
    }

    #[test]
    fn column_names_are_plain_and_unique() {
        assert_eq!(column_name("Brand name", &[]), "brand_name");
        assert_eq!(column_name("Item #", &[]), "item");
        assert_eq!(column_name("2nd price (€)", &[]), "field_2nd_price");
        assert_eq!(column_name("ID", &[]), "id_field");
        assert_eq!(column_name("Prix", &["prix".to_string()]), "prix_2");
        assert_eq!(column_name("!!!", &[]), "field");
    }
}
