//! Cell values as the API returns them (airtable-api.md §6): which fields are computed, the
//! emptiness rules, values computed at read time (lookups, counts, created and modified times),
//! attachment URLs that change on every read, and how a cell looks to a formula or a sort.

use std::cmp::Ordering;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde_json::{json, Map, Value};

use super::base::{Base, Field, Ids, Record, Table};
use super::formula::{parse_datetime, Row, Val};

/// How a field's value comes to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FieldClass {
    /// Edited by people; a change moves the record's modified time.
    Input,
    /// Computed by Airtable but held here as given (formula, rollup, button, AI text, sync source):
    /// setting it never moves the modified time.
    Stored,
    /// Set by Airtable when a record is created or edited (auto number, created by, modified by).
    System,
    /// Computed on every read (lookup, count, created time, last modified time).
    Derived,
}

pub(crate) fn class(kind: &str) -> FieldClass {
    match kind {
        "formula" | "rollup" | "button" | "aiText" | "externalSyncSource" => FieldClass::Stored,
        "autoNumber" | "createdBy" | "lastModifiedBy" => FieldClass::System,
        "multipleLookupValues" | "count" | "createdTime" | "lastModifiedTime" => FieldClass::Derived,
        _ => FieldClass::Input,
    }
}

/// An empty cell, left out of `fields` (§6.1): `""`, `[]`, `false`, `null`. Zero is a value.
pub(crate) fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null | Value::Bool(false) => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

/// UTC with milliseconds and `Z`, as the API writes timestamps.
pub(crate) fn iso(d: DateTime<Utc>) -> String {
    d.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// Checks a value written to a cell and puts it in the API's form; `None` for an empty value.
pub(crate) fn normalize(field: &Field, value: Value, ids: &mut Ids) -> Result<Option<Value>, String> {
    if is_empty(&value) {
        return Ok(None);
    }
    let wrong =
        |expected: &str| Err(format!("field {:?} ({}) expects {expected}, got {value}", field.name, field.kind));
    let strings = |v: &Value| v.as_array().is_some_and(|a| a.iter().all(Value::is_string));
    let value = match field.kind.as_str() {
        "singleLineText" | "multilineText" | "richText" | "email" | "url" | "phoneNumber" | "singleSelect"
            if !value.is_string() =>
        {
            return wrong("a string")
        }
        "number" | "currency" | "percent" | "rating" | "duration" | "autoNumber" if !value.is_number() => {
            return wrong("a number")
        }
        "checkbox" if value != Value::Bool(true) => return wrong("true, false or null"),
        "multipleSelects" | "multipleRecordLinks" if !strings(&value) => return wrong("an array of strings"),
        "date" => match value.as_str().and_then(|s| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()) {
            Some(d) => json!(d.format("%Y-%m-%d").to_string()),
            None => return wrong("a date YYYY-MM-DD"),
        },
        "dateTime" => match value.as_str().and_then(parse_datetime) {
            Some(d) => json!(iso(d)),
            None => return wrong("an ISO 8601 date-time"),
        },
        "multipleAttachments" => {
            let Some(list) = value.as_array() else { return wrong("an array of attachment objects") };
            let mut out = Vec::new();
            for a in list {
                let Some(mut a) = a.as_object().cloned() else { return wrong("an array of attachment objects") };
                if !a.get("id").and_then(Value::as_str).is_some_and(|id| id.starts_with("att")) {
                    a.insert("id".into(), json!(ids.id("att")));
                }
                out.push(Value::Object(a));
            }
            Value::Array(out)
        }
        _ => value,
    };
    Ok(Some(value))
}

/// What a read returns besides the cells.
pub(crate) struct ReadOptions<'a> {
    /// Only these fields (indexes into the table's fields); all when `None`.
    pub only: Option<&'a [usize]>,
    pub by_id: bool,
    pub comment_count: bool,
}

/// A record as listings and get-record return it: `{id, createdTime, fields}`.
pub(crate) fn record_json(row: &RowView, opts: &ReadOptions, ids: &mut Ids) -> Value {
    let fields = fields_json(row, opts, ids);
    let mut out = json!({ "id": row.rec.id, "createdTime": iso(row.rec.created), "fields": fields });
    if opts.comment_count {
        out["commentCount"] = json!(0);
    }
    out
}

/// The non-empty cells of a record, keyed by field name (or id), with fresh attachment URLs.
pub(crate) fn fields_json(row: &RowView, opts: &ReadOptions, ids: &mut Ids) -> Value {
    let RowView { base, table, rec, now } = *row;
    let mut fields = Map::new();
    let all: Vec<usize>;
    let only = match opts.only {
        Some(only) => only,
        None => {
            all = (0..table.fields.len()).collect();
            &all
        }
    };
    for &fi in only {
        let field = &table.fields[fi];
        let mut value = cell(base, table, rec, field, 0);
        if is_empty(&value) {
            continue;
        }
        mint_urls(&mut value, ids, now);
        fields.insert(if opts.by_id { field.id.clone() } else { field.name.clone() }, value);
    }
    Value::Object(fields)
}

/// A cell's value as read, computed fields included; `Null` when empty. Attachment URLs are not
/// filled in (see `mint_urls`).
pub(crate) fn cell(base: &Base, table: &Table, rec: &Record, field: &Field, depth: u8) -> Value {
    if depth > 4 {
        return Value::Null;
    }
    let date_only = field.result_type() == Some("date");
    let timestamp = |d: DateTime<Utc>| if date_only { json!(d.format("%Y-%m-%d").to_string()) } else { json!(iso(d)) };
    match field.kind.as_str() {
        "multipleRecordLinks" => {
            let linked = field.option_str("linkedTableId").and_then(|id| base.table_by_id(id));
            let ids = live_links(rec.cells.get(&field.id), linked);
            Value::Array(ids.into_iter().map(|(id, _)| json!(id)).collect())
        }
        "count" => {
            let Some((_, linked)) = link_of(base, table, field) else { return Value::Null };
            json!(live_links(field.option_str("recordLinkFieldId").and_then(|l| rec.cells.get(l)), linked).len())
        }
        "multipleLookupValues" => {
            let Some((link, Some(linked))) = link_of(base, table, field) else { return Value::Null };
            let Some(target) = field.option_str("fieldIdInLinkedTable").and_then(|id| linked.field_by_id(id)) else {
                return Value::Null;
            };
            let mut values = Vec::new();
            for (_, other) in live_links(rec.cells.get(&link.id), Some(linked)) {
                match cell(base, linked, other, target, depth + 1) {
                    Value::Array(items) => values.extend(items),
                    v if !is_empty(&v) => values.push(v),
                    _ => {}
                }
            }
            Value::Array(values)
        }
        "createdTime" => timestamp(rec.created),
        "lastModifiedTime" => {
            let referenced: Vec<String> = field
                .options()
                .and_then(|o| o.get("referencedFieldIds"))
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
                .unwrap_or_default();
            timestamp(modified_time(rec, &referenced))
        }
        _ => rec.cells.get(&field.id).cloned().unwrap_or(Value::Null),
    }
}

/// The link field a lookup or count reads through, and the table it links to.
fn link_of<'a>(base: &'a Base, table: &'a Table, field: &Field) -> Option<(&'a Field, Option<&'a Table>)> {
    let link = table.field_by_id(field.option_str("recordLinkFieldId")?)?;
    Some((link, link.option_str("linkedTableId").and_then(|id| base.table_by_id(id))))
}

/// The linked ids of a link cell whose records are live, with those records.
fn live_links<'a>(cell: Option<&'a Value>, linked: Option<&'a Table>) -> Vec<(&'a str, &'a Record)> {
    let ids = cell.and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str);
    ids.filter_map(|id| Some((id, linked?.live_record(id)?))).collect()
}

/// The last change to any of these fields (to any non-computed field when empty).
pub(crate) fn modified_time(rec: &Record, fields: &[String]) -> DateTime<Utc> {
    if fields.is_empty() {
        return rec.modified;
    }
    fields.iter().map(|f| rec.field_modified.get(f).copied().unwrap_or(rec.created)).max().unwrap_or(rec.modified)
}

/// Gives every attachment in a value fresh URLs, valid for two hours, as each API read does.
pub(crate) fn mint_urls(v: &mut Value, ids: &mut Ids, now: DateTime<Utc>) {
    let Value::Array(items) = v else { return };
    let expires = (now + Duration::hours(2)).timestamp_millis();
    let url = |ids: &mut Ids| {
        format!(
            "https://v5.airtableusercontent.com/v3/u/38/38/{expires}/{}/{}/{}",
            ids.token(22),
            ids.token(86),
            ids.token(43)
        )
    };
    for item in items {
        let Some(obj) = item.as_object_mut() else { continue };
        if !obj.get("id").and_then(Value::as_str).is_some_and(|id| id.starts_with("att")) {
            continue;
        }
        obj.insert("url".into(), json!(url(ids)));
        if let Some(thumbs) = obj.get_mut("thumbnails").and_then(Value::as_object_mut) {
            for thumb in thumbs.values_mut().filter_map(Value::as_object_mut) {
                thumb.insert("url".into(), json!(url(ids)));
            }
        }
    }
}

/// A record with what reading it needs: its base and table, and the simulator's clock.
#[derive(Clone, Copy)]
pub(crate) struct RowView<'a> {
    pub base: &'a Base,
    pub table: &'a Table,
    pub rec: &'a Record,
    pub now: DateTime<Utc>,
}

impl Row for RowView<'_> {
    fn record_id(&self) -> &str {
        &self.rec.id
    }

    fn created_time(&self) -> DateTime<Utc> {
        self.rec.created
    }

    fn modified_time(&self, fields: &[String]) -> Option<DateTime<Utc>> {
        Some(modified_time(self.rec, fields))
    }

    fn value(&self, field_id: &str) -> Val {
        match self.table.field_by_id(field_id) {
            Some(field) => formula_value(field, &cell(self.base, self.table, self.rec, field, 0)),
            None => Val::Blank,
        }
    }

    fn now(&self) -> DateTime<Utc> {
        self.now
    }
}

/// A cell as a formula value: dates of date-typed fields become dates, error objects errors.
fn formula_value(field: &Field, v: &Value) -> Val {
    let dated = match field.kind.as_str() {
        "date" | "dateTime" | "createdTime" | "lastModifiedTime" => true,
        _ => matches!(field.result_type(), Some("date" | "dateTime")),
    };
    json_value(v, dated)
}

fn json_value(v: &Value, dated: bool) -> Val {
    match v {
        Value::Null => Val::Blank,
        Value::Bool(b) => Val::Bool(*b),
        Value::Number(n) => Val::Num(n.as_f64().unwrap_or(f64::NAN)),
        Value::String(s) if dated => parse_datetime(s).map_or_else(|| Val::Text(s.clone()), Val::Date),
        Value::String(s) => Val::Text(s.clone()),
        Value::Array(items) => Val::List(items.iter().map(|i| json_value(i, dated)).collect()),
        Value::Object(o) => {
            if o.contains_key("error") {
                return Val::Error;
            }
            match o.get("specialValue").and_then(Value::as_str) {
                Some("NaN") => return Val::Num(f64::NAN),
                Some("Infinity") => return Val::Num(f64::INFINITY),
                Some("-Infinity") => return Val::Num(f64::NEG_INFINITY),
                _ => {}
            }
            let text = ["name", "text", "filename", "label", "value", "email", "id"]
                .iter()
                .find_map(|k| o.get(*k).and_then(Value::as_str));
            text.map_or(Val::Blank, |t| Val::Text(t.to_string()))
        }
    }
}

/// The order of two cells in a sort: empty first, then numbers, then texts (case-insensitive).
pub(crate) fn sort_cmp(a: &Value, b: &Value) -> Ordering {
    fn key(v: &Value) -> (u8, f64, String) {
        match v {
            v if is_empty(v) => (0, 0.0, String::new()),
            Value::Bool(_) => (1, 1.0, String::new()),
            Value::Number(n) => (1, n.as_f64().unwrap_or(0.0), String::new()),
            Value::String(s) => (2, 0.0, s.to_lowercase()),
            Value::Array(items) => {
                let texts: Vec<String> =
                    items.iter().map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_lowercase)).collect();
                (2, 0.0, texts.join(", "))
            }
            other => (3, 0.0, other.to_string().to_lowercase()),
        }
    }
    let (ka, kb) = (key(a), key(b));
    ka.0.cmp(&kb.0).then(ka.1.partial_cmp(&kb.1).unwrap_or(Ordering::Equal)).then_with(|| ka.2.cmp(&kb.2))
}
