//! Airtable cell values (`cellFormat=json`) typed for their store columns.
//!
//! Blank cells are absent from a record; they become NULL, except a checkbox, which is false. A
//! computed field that failed (`{"error": "#ERROR!"}`, `{"specialValue": "NaN"}`) becomes NULL with
//! a warning. A value that does not fit its column becomes NULL and is reported as rejected; the
//! rest of the record is kept either way.

use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde_json::Value;

use crate::catalog::{catalog_record_id, is_attachment, CatalogRecord, CellValue, ColumnType, ScalarType};
use crate::control::ErrorType;
use crate::gtin::Gtin14;

use super::client::RawRecord;
use super::mapping::TableMapping;

/// Something wrong with one cell of a record.
#[derive(Debug, Clone, PartialEq)]
pub struct CellProblem {
    pub kind: ErrorType,
    /// Store column, or `createdTime`.
    pub column: String,
    pub field: String,
    pub message: String,
}

/// Types every mapped cell of a record.
pub fn convert_record(mapping: &TableMapping, raw: &RawRecord) -> (CatalogRecord, Vec<CellProblem>) {
    let mut problems = Vec::new();
    let created_time =
        DateTime::parse_from_rfc3339(&raw.created_time).map(|t| micros(t.to_utc())).unwrap_or_else(|_| {
            problems.push(CellProblem {
                kind: ErrorType::Warning,
                column: "airtable_created_time".into(),
                field: "createdTime".into(),
                message: format!("createdTime {:?} is not a timestamp; stored as 1970-01-01", raw.created_time),
            });
            DateTime::UNIX_EPOCH
        });
    let values = mapping
        .catalog
        .columns
        .iter()
        .zip(&mapping.fields)
        .map(|(column, field)| {
            let (value, problem) = convert_cell(raw.fields.get(&field.field_id), column.ty);
            if let Some((kind, message)) = problem {
                problems.push(CellProblem {
                    kind,
                    column: column.name.clone(),
                    field: field.field_name.clone(),
                    message,
                });
            }
            value
        })
        .collect();
    (CatalogRecord::sealed(&raw.id, created_time, values), problems)
}

type Problem = Option<(ErrorType, String)>;

/// One cell: its typed value, and what is wrong with it if anything.
pub fn convert_cell(value: Option<&Value>, ty: ColumnType) -> (CellValue, Problem) {
    let Some(value) = value.filter(|v| !v.is_null()) else {
        return (
            if ty == ColumnType::Scalar(ScalarType::Boolean) { CellValue::Boolean(false) } else { CellValue::Null },
            None,
        );
    };
    if let Some(marker) = computed_failure(value) {
        return (
            CellValue::Null,
            Some((ErrorType::Warning, format!("the computed value is {marker}; stored as NULL"))),
        );
    }
    if has_nul(value) {
        // PostgreSQL refuses NUL in text and JSON; refused here, both stores stay alike.
        return (
            CellValue::Null,
            Some((ErrorType::Rejected, "the value contains a NUL character; stored as NULL".into())),
        );
    }
    let converted = match ty {
        ColumnType::Scalar(scalar) => scalar_cell(value, scalar),
        ColumnType::Array(scalar) => array_cell(value, scalar),
        ColumnType::Links => links_cell(value),
    };
    match converted {
        Ok((value, warning)) => (value, warning.map(|w| (ErrorType::Warning, w))),
        Err(reason) => (CellValue::Null, Some((ErrorType::Rejected, format!("{reason}; stored as NULL")))),
    }
}

fn has_nul(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(has_nul),
        Value::Object(o) => o.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
        _ => false,
    }
}

/// `{"error": …}` or `{"specialValue": …}`: what Airtable puts in place of a failed computation.
fn computed_failure(value: &Value) -> Option<String> {
    let object = value.as_object().filter(|o| o.len() == 1)?;
    object.get("error").or_else(|| object.get("specialValue")).map(|v| v.as_str().map_or(v.to_string(), str::to_string))
}

type Converted = Result<(CellValue, Option<String>), String>;

fn scalar_cell(value: &Value, scalar: ScalarType) -> Converted {
    if let (Value::Array(items), false) = (value, scalar == ScalarType::Json) {
        return scalar_from_list(items, scalar);
    }
    let value = match scalar {
        ScalarType::Gtin => return gtin(value),
        ScalarType::Text => text(value).map(non_blank).ok_or_else(|| expected("text", value)),
        ScalarType::Integer => integer(value).map(CellValue::Integer).ok_or_else(|| expected("a whole number", value)),
        ScalarType::Numeric => numeric(value).map(CellValue::Numeric).ok_or_else(|| expected("a number", value)),
        ScalarType::Boolean => match value {
            Value::Bool(b) => Ok(CellValue::Boolean(*b)),
            Value::Number(n) => Ok(CellValue::Boolean(n.as_f64() != Some(0.0))),
            _ => Err(expected("a checkbox", value)),
        },
        ScalarType::Date => date(value).map(CellValue::Date).ok_or_else(|| expected("a date", value)),
        ScalarType::Timestamp => {
            timestamp(value).map(CellValue::Timestamp).ok_or_else(|| expected("a date-time", value))
        }
        ScalarType::Json => Ok(CellValue::Json(without_thumbnails(value.clone()))),
    };
    value.map(|v| (v, None))
}

/// A list in a single-value column: one element is that element; text joins; more is an error.
fn scalar_from_list(items: &[Value], scalar: ScalarType) -> Converted {
    match (items, scalar) {
        ([], _) => Ok((CellValue::Null, None)),
        ([only], _) => scalar_cell(only, scalar),
        (_, ScalarType::Text) => {
            let parts: Option<Vec<String>> = items.iter().map(text).collect();
            parts.map(|p| (CellValue::Text(p.join(", ")), None)).ok_or_else(|| expected("text", &Value::from(items)))
        }
        _ => Err(format!(
            "a list of {} values in a single-value {} column; give the column type \"{}[]\"",
            items.len(),
            scalar.name(),
            scalar.name()
        )),
    }
}

fn array_cell(value: &Value, scalar: ScalarType) -> Converted {
    let mut flat = Vec::new();
    flatten(value, &mut flat);
    let mut warning = None;
    let mut out = Vec::with_capacity(flat.len());
    for item in flat {
        if item.is_null() {
            out.push(CellValue::Null);
        } else if let Some(marker) = computed_failure(item) {
            warning = Some(format!("an element is {marker}; stored as NULL"));
            out.push(CellValue::Null);
        } else {
            let (v, w) = scalar_cell(item, scalar)?;
            warning = warning.or(w);
            out.push(v);
        }
    }
    Ok((if out.is_empty() { CellValue::Null } else { CellValue::Array(out) }, warning))
}

/// Lookups of multi-value fields may nest lists; they are flattened in order.
fn flatten<'a>(value: &'a Value, out: &mut Vec<&'a Value>) {
    match value {
        Value::Array(items) => items.iter().for_each(|item| flatten(item, out)),
        other => out.push(other),
    }
}

fn links_cell(value: &Value) -> Converted {
    let Value::Array(items) = value else { return Err(expected("a list of linked records", value)) };
    let ids: Option<Vec<_>> = items
        .iter()
        .map(|item| match item {
            Value::String(id) => Some(id.as_str()),
            Value::Object(o) => o.get("id").and_then(Value::as_str),
            _ => None,
        })
        .map(|id| id.filter(|id| id.starts_with("rec")).map(catalog_record_id))
        .collect();
    match ids {
        Some(ids) if ids.is_empty() => Ok((CellValue::Null, None)),
        Some(ids) => Ok((CellValue::Links(ids), None)),
        None => Err(expected("a list of record ids", value)),
    }
}

/// Text of a scalar: strings, numbers, and the `text`/`name` of barcode and collaborator objects.
fn text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Object(o) => o.get("text").or_else(|| o.get("name")).and_then(Value::as_str).map(str::to_string),
        _ => None,
    }
}

/// A cleared rich-text cell comes back as "\n": blank, not text.
fn non_blank(s: String) -> CellValue {
    if s.trim().is_empty() {
        CellValue::Null
    } else {
        CellValue::Text(s)
    }
}

fn numeric(value: &Value) -> Option<Decimal> {
    let text = match value {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.trim().to_string(),
        _ => return None,
    };
    Decimal::from_str(&text).or_else(|_| Decimal::from_scientific(&text)).ok()
}

fn integer(value: &Value) -> Option<i64> {
    if let Some(i) = value.as_i64() {
        return Some(i);
    }
    let d = numeric(value)?;
    if d.fract().is_zero() {
        i64::try_from(d).ok()
    } else {
        None
    }
}

fn date(value: &Value) -> Option<NaiveDate> {
    let s = value.as_str()?.trim();
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok().or_else(|| timestamp(value).map(|t| t.date_naive()))
}

fn timestamp(value: &Value) -> Option<DateTime<Utc>> {
    let s = value.as_str()?.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(micros(t.to_utc()));
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok().map(|d| d.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc())
}

/// Both stores keep microseconds; truncating here makes a value compare equal after a round trip.
fn micros(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(t.timestamp_micros()).unwrap_or(t)
}

fn gtin(value: &Value) -> Converted {
    let Some(raw) = text(value) else { return Err(expected("a GTIN", value)) };
    if raw.trim().is_empty() {
        return Ok((CellValue::Null, None));
    }
    match Gtin14::parse(&raw) {
        Ok(g) => Ok((CellValue::Text(g.as_str().to_string()), None)),
        Err((e, Some(kept))) => Ok((CellValue::Text(kept.as_str().to_string()), Some(format!("GTIN: {e}")))),
        Err((e, None)) => Err(format!("GTIN: {e}")),
    }
}

/// Attachments keep id, url, filename, size, type (and image dimensions); their thumbnails are
/// three more expiring URLs to the same file.
fn without_thumbnails(mut value: Value) -> Value {
    match &mut value {
        Value::Array(items) => items.iter_mut().for_each(|item| *item = without_thumbnails(item.take())),
        Value::Object(o) if is_attachment(o) => {
            o.remove("thumbnails");
        }
        _ => {}
    }
    value
}

fn expected(what: &str, value: &Value) -> String {
    let mut shown = value.to_string();
    if shown.len() > 80 {
        let cut = (0..=80).rev().find(|&i| shown.is_char_boundary(i)).unwrap_or(0);
        shown.truncate(cut);
        shown.push('…');
    }
    format!("expected {what}, found {shown}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cell(value: Value, ty: &str) -> (CellValue, Problem) {
        convert_cell(Some(&value), ColumnType::parse(ty).unwrap())
    }

    #[test]
    fn blank_is_null_and_an_absent_checkbox_is_false() {
        assert_eq!(convert_cell(None, ColumnType::parse("text").unwrap()), (CellValue::Null, None));
        assert_eq!(convert_cell(None, ColumnType::parse("boolean").unwrap()), (CellValue::Boolean(false), None));
        assert_eq!(cell(json!("\n"), "text").0, CellValue::Null);
        assert_eq!(cell(json!(0), "integer").0, CellValue::Integer(0));
    }

    #[test]
    fn nul_characters_are_rejected_in_text_and_json() {
        for (value, ty) in
            [(json!("a\u{0}b"), "text"), (json!({"k": "x\u{0}y"}), "json"), (json!(["a\u{0}"]), "text[]")]
        {
            let (v, p) = cell(value, ty);
            assert_eq!(v, CellValue::Null);
            assert_eq!(p.unwrap().0, ErrorType::Rejected);
        }
    }

    #[test]
    fn numbers_keep_their_exact_decimal_value() {
        assert_eq!(cell(json!(129.9), "numeric").0, CellValue::Numeric(Decimal::from_str("129.9").unwrap()));
        assert_eq!(cell(json!(1e-7), "numeric").0, CellValue::Numeric(Decimal::from_str("0.0000001").unwrap()));
        assert_eq!(cell(json!(4980.0), "integer").0, CellValue::Integer(4980));
        let (v, p) = cell(json!(2.5), "integer");
        assert_eq!(v, CellValue::Null);
        assert_eq!(p.unwrap().0, ErrorType::Rejected);
    }

    #[test]
    fn failed_computations_are_null_with_a_warning() {
        for marker in [json!({"error": "#ERROR!"}), json!({"specialValue": "NaN"})] {
            let (v, p) = cell(marker, "numeric");
            assert_eq!(v, CellValue::Null);
            let (kind, message) = p.unwrap();
            assert_eq!(kind, ErrorType::Warning);
            assert!(message.contains("#ERROR!") || message.contains("NaN"), "{message}");
        }
    }

    #[test]
    fn lists_links_and_lookups() {
        let (v, _) = cell(json!(["recB3JrTAwR4y9ojf", "recljoQoaF1Llqsaj"]), "links");
        assert_eq!(
            v,
            CellValue::Links(vec![catalog_record_id("recB3JrTAwR4y9ojf"), catalog_record_id("recljoQoaF1Llqsaj")])
        );
        let (v, _) = cell(json!([["Bosch"], null, "Makita"]), "text[]");
        assert_eq!(
            v,
            CellValue::Array(vec![CellValue::Text("Bosch".into()), CellValue::Null, CellValue::Text("Makita".into())])
        );
        assert_eq!(cell(json!([42]), "numeric").0, CellValue::Numeric(Decimal::from(42)));
        assert_eq!(cell(json!(["a", "b"]), "text").0, CellValue::Text("a, b".into()));
        assert_eq!(cell(json!([1, 2]), "numeric").1.unwrap().0, ErrorType::Rejected);
    }

    #[test]
    fn dates_times_and_zones() {
        assert_eq!(cell(json!("2025-03-01"), "date").0, CellValue::Date(NaiveDate::from_ymd_opt(2025, 3, 1).unwrap()));
        let (v, _) = cell(json!("2025-03-01T09:30:00.123456789Z"), "timestamp");
        assert_eq!(v, CellValue::Timestamp(DateTime::from_timestamp_micros(1_740_821_400_123_456).unwrap()));
        let (v, _) = cell(json!("2025-03-01T10:30:00+01:00"), "timestamp");
        assert_eq!(v, CellValue::Timestamp(DateTime::from_timestamp(1_740_821_400, 0).unwrap()));
    }

    #[test]
    fn attachments_keep_their_url_without_thumbnails_and_barcodes_give_their_text() {
        let read = |url: &str| {
            let attachment = json!([{"id": "attRVdD53X83RZJzz", "url": url, "filename": "a.png", "size": 3,
                "thumbnails": {"small": {"url": "https://x/2"}}}]);
            cell(attachment, "json").0
        };
        let first = read("https://x/1");
        let kept = json!([{"id": "attRVdD53X83RZJzz", "url": "https://x/1", "filename": "a.png", "size": 3}]);
        assert_eq!(first, CellValue::Json(kept));
        let hash =
            |v: CellValue| CatalogRecord::sealed("recB3JrTAwR4y9ojf", DateTime::UNIX_EPOCH, vec![v]).content_hash;
        assert_eq!(hash(first), hash(read("https://x/fresh")), "a fresh URL is not a change");
        assert_ne!(hash(read("https://x/1")), hash(CellValue::Json(json!([{"id": "attOTHER000000000"}]))));
        assert_eq!(cell(json!({"text": "4006381333931"}), "text").0, CellValue::Text("4006381333931".into()));
        assert_eq!(cell(json!({"text": "4006381333931"}), "gtin").0, CellValue::Text("04006381333931".into()));
        let (v, p) = cell(json!("4006381333932"), "gtin");
        assert_eq!(v, CellValue::Text("04006381333932".into()));
        assert_eq!(p.unwrap().0, ErrorType::Warning);
    }
}
