//! Bases as the simulator holds them — tables, fields, views, records — and their fixture format.
//!
//! A fixture is the schema of `GET /v0/meta/bases/{id}/tables` for one base, plus per table a
//! `records` list (`id`, `createdTime`, optional `modifiedTime`, `fields` keyed by field name or id)
//! and, per view, two simulator-only keys: `filterByFormula` (which records the view shows) and
//! `sort` (its order). Loading checks ids, names and references, and makes both sides of every
//! link field with an inverse agree.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

use super::cells::{self, FieldClass};
use super::formula::{parse_datetime, Formula};
use super::SimError;

const ALNUM: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Random ids and URL tokens (xorshift64*, seeded from the clock: unique, not reproducible).
pub(crate) struct Ids {
    state: u64,
}

impl Ids {
    pub(crate) fn new() -> Ids {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        Ids { state: (nanos as u64) ^ 0x9E37_79B9_7F4A_7C15 | 1 }
    }

    fn next_u64(&mut self) -> u64 {
        let mut x = self.state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.state = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// `len` random alphanumerics.
    pub(crate) fn token(&mut self, len: usize) -> String {
        (0..len).map(|_| ALNUM[(self.next_u64() % ALNUM.len() as u64) as usize] as char).collect()
    }

    /// A new Airtable id: the 3-letter prefix and 14 alphanumerics.
    pub(crate) fn id(&mut self, prefix: &str) -> String {
        format!("{prefix}{}", self.token(14))
    }
}

/// Whether `s` has the shape of an Airtable id with this prefix (17 characters).
pub(crate) fn is_id(s: &str, prefix: &str) -> bool {
    s.len() == 17 && s.starts_with(prefix) && s[3..].bytes().all(|b| b.is_ascii_alphanumeric())
}

pub(crate) struct Base {
    pub id: String,
    pub name: String,
    pub permission_level: String,
    pub tables: Vec<Table>,
}

pub(crate) struct Table {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub primary_field_id: String,
    pub fields: Vec<Field>,
    pub views: Vec<View>,
    /// In creation order; deleted records stay, flagged, so that a restore brings back the same id.
    pub records: Vec<Record>,
    pub record_index: HashMap<String, usize>,
    pub next_auto_number: i64,
}

pub(crate) struct Field {
    pub id: String,
    pub name: String,
    pub kind: String,
    /// The field's schema object as the metadata endpoint returns it.
    pub schema: Map<String, Value>,
}

pub(crate) struct View {
    pub id: String,
    pub name: String,
    pub kind: String,
    pub schema: Map<String, Value>,
    pub filter: Option<String>,
    /// Field name or id, descending.
    pub sort: Vec<(String, bool)>,
}

#[derive(Clone)]
pub(crate) struct Record {
    pub id: String,
    pub created: DateTime<Utc>,
    /// The last change to a non-computed field (what `LAST_MODIFIED_TIME()` returns).
    pub modified: DateTime<Utc>,
    pub field_modified: HashMap<String, DateTime<Utc>>,
    /// Stored cells by field id; empty values are never stored.
    pub cells: HashMap<String, Value>,
    pub deleted: bool,
}

impl Base {
    /// A table by id, else by name.
    pub(crate) fn table(&self, key: &str) -> Option<usize> {
        self.tables.iter().position(|t| t.id == key).or_else(|| self.tables.iter().position(|t| t.name == key))
    }

    pub(crate) fn table_by_id(&self, id: &str) -> Option<&Table> {
        self.tables.iter().find(|t| t.id == id)
    }

    /// The body of `GET /v0/meta/bases/{id}/tables`.
    pub(crate) fn schema_json(&self, visible_field_ids: bool) -> Value {
        let tables: Vec<Value> = self
            .tables
            .iter()
            .map(|t| {
                let mut table = Map::new();
                table.insert("id".into(), json!(t.id));
                table.insert("name".into(), json!(t.name));
                if let Some(d) = &t.description {
                    table.insert("description".into(), json!(d));
                }
                table.insert("primaryFieldId".into(), json!(t.primary_field_id));
                table.insert("fields".into(), t.fields.iter().map(|f| Value::Object(f.schema.clone())).collect());
                let views = t.views.iter().map(|v| {
                    let mut view = v.schema.clone();
                    if v.kind != "grid" || !visible_field_ids {
                        view.remove("visibleFieldIds");
                    } else if !view.contains_key("visibleFieldIds") {
                        view.insert("visibleFieldIds".into(), t.fields.iter().map(|f| json!(f.id)).collect());
                    }
                    Value::Object(view)
                });
                table.insert("views".into(), views.collect());
                Value::Object(table)
            })
            .collect();
        json!({ "tables": tables })
    }

    /// Reads a fixture (see the module doc).
    pub(crate) fn from_fixture(fixture: &Value, ids: &mut Ids) -> Result<Base, SimError> {
        let bad = |msg: String| SimError::InvalidFixture(msg);
        let obj = fixture.as_object().ok_or_else(|| bad("the fixture is not a JSON object".into()))?;
        let id = str_key(obj, "id", "base")?;
        if !is_id(&id, "app") {
            return Err(bad(format!("base id {id:?} is not \"app\" followed by 14 letters or digits")));
        }
        let name = str_key(obj, "name", &id)?;
        let permission_level = obj.get("permissionLevel").and_then(Value::as_str).unwrap_or("create").to_string();
        let tables_json = obj.get("tables").and_then(Value::as_array).ok_or_else(|| bad(format!("{id}: no tables")))?;
        let mut base = Base { id, name, permission_level, tables: Vec::new() };
        for t in tables_json {
            let table = Table::from_schema(t)?;
            if base.tables.iter().any(|o| o.id == table.id || o.name == table.name) {
                return Err(bad(format!("table {} ({}) appears twice", table.name, table.id)));
            }
            base.tables.push(table);
        }
        base.check_references()?;
        for (ti, t) in tables_json.iter().enumerate() {
            let empty = Vec::new();
            let records = t.get("records").and_then(Value::as_array).unwrap_or(&empty);
            for r in records {
                let record = base.tables[ti].record_from_fixture(r, ids)?;
                if base.tables.iter().any(|t| t.record_index.contains_key(&record.id)) {
                    return Err(bad(format!("record {} appears twice", record.id)));
                }
                let table = &mut base.tables[ti];
                table.record_index.insert(record.id.clone(), table.records.len());
                table.records.push(record);
            }
            base.tables[ti].number_records();
        }
        base.link_both_sides()?;
        Ok(base)
    }

    /// Link, lookup and count options name tables and fields that exist; view formulas parse.
    fn check_references(&self) -> Result<(), SimError> {
        for t in &self.tables {
            for f in &t.fields {
                let what = format!("field {:?} of table {:?}", f.name, t.name);
                if f.kind == "multipleRecordLinks" {
                    let linked = f.option_str("linkedTableId").and_then(|id| self.table_by_id(id));
                    let linked =
                        linked.ok_or_else(|| SimError::InvalidFixture(format!("{what}: unknown linkedTableId")))?;
                    if let Some(inverse) = f.option_str("inverseLinkFieldId") {
                        if linked.field_by_id(inverse).is_none_or(|i| i.kind != "multipleRecordLinks") {
                            return Err(SimError::InvalidFixture(format!("{what}: unknown inverseLinkFieldId")));
                        }
                    }
                }
                if let Some(link) = f.option_str("recordLinkFieldId") {
                    let link = t.field_by_id(link).filter(|l| l.kind == "multipleRecordLinks");
                    let link =
                        link.ok_or_else(|| SimError::InvalidFixture(format!("{what}: unknown recordLinkFieldId")))?;
                    if let Some(target) = f.option_str("fieldIdInLinkedTable") {
                        let linked = link.option_str("linkedTableId").and_then(|id| self.table_by_id(id));
                        if linked.and_then(|l| l.field_by_id(target)).is_none() {
                            return Err(SimError::InvalidFixture(format!("{what}: unknown fieldIdInLinkedTable")));
                        }
                    }
                }
            }
            for v in &t.views {
                if let Some(filter) = &v.filter {
                    t.formula(filter).map_err(|e| {
                        SimError::InvalidFixture(format!("view {:?} of table {:?}: {}", v.name, t.name, e.message()))
                    })?;
                }
                for (field, _) in &v.sort {
                    if t.field(field).is_none() {
                        return Err(SimError::InvalidFixture(format!(
                            "view {:?} sorts by unknown field {field:?}",
                            v.name
                        )));
                    }
                }
            }
        }
        Ok(())
    }

    /// Adds each record to the inverse link cell of the records it links to, where missing.
    fn link_both_sides(&mut self) -> Result<(), SimError> {
        let mut additions = Vec::new();
        for t in &self.tables {
            for f in t.fields.iter().filter(|f| f.kind == "multipleRecordLinks") {
                let linked_id = f.option_str("linkedTableId").unwrap_or_default();
                let li = self.tables.iter().position(|t| t.id == linked_id).unwrap_or_default();
                let inverse = f.option_str("inverseLinkFieldId");
                for r in &t.records {
                    for target in r.cells.get(&f.id).and_then(Value::as_array).into_iter().flatten() {
                        let target = target.as_str().unwrap_or_default();
                        let Some(&ri) = self.tables[li].record_index.get(target) else {
                            return Err(SimError::InvalidFixture(format!(
                                "record {} links to {target:?}, which is not a record of table {:?}",
                                r.id, self.tables[li].name
                            )));
                        };
                        if let Some(inverse) = inverse {
                            additions.push((li, ri, inverse.to_string(), r.id.clone()));
                        }
                    }
                }
            }
        }
        for (ti, ri, field, id) in additions {
            let cell = self.tables[ti].records[ri].cells.entry(field).or_insert_with(|| json!([]));
            if let Some(list) = cell.as_array_mut() {
                if !list.iter().any(|v| v == &json!(id)) {
                    list.push(json!(id));
                }
            }
        }
        Ok(())
    }
}

impl Table {
    fn from_schema(t: &Value) -> Result<Table, SimError> {
        let obj = t.as_object().ok_or_else(|| SimError::InvalidFixture("a table is not a JSON object".into()))?;
        let id = str_key(obj, "id", "table")?;
        if !is_id(&id, "tbl") {
            return Err(SimError::InvalidFixture(format!(
                "table id {id:?} is not \"tbl\" followed by 14 letters or digits"
            )));
        }
        let name = str_key(obj, "name", &id)?;
        let mut table = Table {
            primary_field_id: str_key(obj, "primaryFieldId", &name)?,
            description: obj.get("description").and_then(Value::as_str).map(str::to_string),
            id,
            name,
            fields: Vec::new(),
            views: Vec::new(),
            records: Vec::new(),
            record_index: HashMap::new(),
            next_auto_number: 1,
        };
        for f in obj.get("fields").and_then(Value::as_array).into_iter().flatten() {
            let field = Field::from_schema(f, None)?;
            if table.fields.iter().any(|o| o.id == field.id || o.name == field.name) {
                return Err(SimError::InvalidFixture(format!(
                    "field {:?} appears twice in {:?}",
                    field.name, table.name
                )));
            }
            table.fields.push(field);
        }
        if table.field_by_id(&table.primary_field_id).is_none() {
            return Err(SimError::InvalidFixture(format!(
                "table {:?}: primaryFieldId is not one of its fields",
                table.name
            )));
        }
        for v in obj.get("views").and_then(Value::as_array).into_iter().flatten() {
            table.views.push(View::from_schema(v)?);
        }
        Ok(table)
    }

    fn record_from_fixture(&self, r: &Value, ids: &mut Ids) -> Result<Record, SimError> {
        let bad = |msg: String| SimError::InvalidFixture(format!("table {:?}: {msg}", self.name));
        let obj = r.as_object().ok_or_else(|| bad("a record is not a JSON object".into()))?;
        let id = obj.get("id").and_then(Value::as_str).filter(|id| is_id(id, "rec"));
        let id = id.ok_or_else(|| {
            bad(format!("record id {:?} is not \"rec\" followed by 14 letters or digits", obj.get("id")))
        })?;
        let time = |key: &str| -> Result<Option<DateTime<Utc>>, SimError> {
            match obj.get(key) {
                None => Ok(None),
                Some(v) => v.as_str().and_then(parse_datetime).map(Some).ok_or_else(|| bad(format!("{id}: bad {key}"))),
            }
        };
        let created = time("createdTime")?.ok_or_else(|| bad(format!("{id}: no createdTime")))?;
        let modified = time("modifiedTime")?.unwrap_or(created).max(created);
        let mut record = Record {
            id: id.to_string(),
            created,
            modified,
            field_modified: HashMap::new(),
            cells: HashMap::new(),
            deleted: false,
        };
        let empty = Map::new();
        for (key, value) in obj.get("fields").and_then(Value::as_object).unwrap_or(&empty) {
            let fi = self.field(key).ok_or_else(|| bad(format!("{id}: unknown field {key:?}")))?;
            let field = &self.fields[fi];
            if cells::class(&field.kind) == FieldClass::Derived {
                return Err(bad(format!("{id}: field {key:?} is computed ({}); leave it out", field.kind)));
            }
            let value = cells::normalize(field, value.clone(), ids).map_err(|reason| bad(format!("{id}: {reason}")))?;
            if let Some(value) = value {
                if cells::class(&field.kind) == FieldClass::Input {
                    record.field_modified.insert(field.id.clone(), modified);
                }
                record.cells.insert(field.id.clone(), value);
            }
        }
        Ok(record)
    }

    /// Gives auto numbers to the records that have none, after the highest one given.
    fn number_records(&mut self) {
        let Some(field) = self.fields.iter().find(|f| f.kind == "autoNumber").map(|f| f.id.clone()) else { return };
        let highest = self.records.iter().filter_map(|r| r.cells.get(&field).and_then(Value::as_i64)).max();
        self.next_auto_number = highest.unwrap_or(0) + 1;
        for r in &mut self.records {
            if !r.cells.contains_key(&field) {
                r.cells.insert(field.clone(), json!(self.next_auto_number));
                self.next_auto_number += 1;
            }
        }
    }

    /// A field by name, else by id.
    pub(crate) fn field(&self, key: &str) -> Option<usize> {
        self.fields.iter().position(|f| f.name == key).or_else(|| self.fields.iter().position(|f| f.id == key))
    }

    pub(crate) fn field_by_id(&self, id: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.id == id)
    }

    /// A view by name, else by id.
    pub(crate) fn view(&self, key: &str) -> Option<usize> {
        self.views.iter().position(|v| v.name == key).or_else(|| self.views.iter().position(|v| v.id == key))
    }

    /// A live record by id.
    pub(crate) fn live_record(&self, id: &str) -> Option<&Record> {
        self.record_index.get(id).map(|&i| &self.records[i]).filter(|r| !r.deleted)
    }

    /// Parses a formula against this table's fields.
    pub(crate) fn formula(&self, text: &str) -> Result<Formula, super::formula::FormulaError> {
        Formula::parse(text, |name| self.field(name).map(|i| self.fields[i].id.clone()))
    }
}

impl Field {
    /// Reads a field schema; `id` overrides (or supplies) its id.
    pub(crate) fn from_schema(f: &Value, id: Option<String>) -> Result<Field, SimError> {
        let mut schema =
            f.as_object().cloned().ok_or_else(|| SimError::InvalidFixture("a field is not a JSON object".into()))?;
        if let Some(id) = id {
            schema.insert("id".into(), json!(id));
        }
        let id = str_key(&schema, "id", "field")?;
        if !is_id(&id, "fld") {
            return Err(SimError::InvalidFixture(format!(
                "field id {id:?} is not \"fld\" followed by 14 letters or digits"
            )));
        }
        let name = str_key(&schema, "name", &id)?;
        let kind = str_key(&schema, "type", &name)?;
        Ok(Field { id, name, kind, schema })
    }

    pub(crate) fn options(&self) -> Option<&Map<String, Value>> {
        self.schema.get("options").and_then(Value::as_object)
    }

    pub(crate) fn option_str(&self, key: &str) -> Option<&str> {
        self.options().and_then(|o| o.get(key)).and_then(Value::as_str)
    }

    /// `options.result.type` of a computed field.
    pub(crate) fn result_type(&self) -> Option<&str> {
        self.options().and_then(|o| o.get("result")).and_then(|r| r.get("type")).and_then(Value::as_str)
    }
}

impl View {
    fn from_schema(v: &Value) -> Result<View, SimError> {
        let mut schema =
            v.as_object().cloned().ok_or_else(|| SimError::InvalidFixture("a view is not a JSON object".into()))?;
        let id = str_key(&schema, "id", "view")?;
        if !is_id(&id, "viw") {
            return Err(SimError::InvalidFixture(format!(
                "view id {id:?} is not \"viw\" followed by 14 letters or digits"
            )));
        }
        let name = str_key(&schema, "name", &id)?;
        let kind = schema.get("type").and_then(Value::as_str).unwrap_or("grid").to_string();
        let filter = schema.remove("filterByFormula").and_then(|f| f.as_str().map(str::to_string));
        let mut sort = Vec::new();
        for key in schema.remove("sort").as_ref().and_then(Value::as_array).into_iter().flatten() {
            let field = key.get("field").and_then(Value::as_str);
            let field =
                field.ok_or_else(|| SimError::InvalidFixture(format!("view {name:?}: a sort key has no field")))?;
            sort.push((field.to_string(), key.get("direction").and_then(Value::as_str) == Some("desc")));
        }
        Ok(View { id, name, kind, schema, filter, sort })
    }
}

fn str_key(obj: &Map<String, Value>, key: &str, what: &str) -> Result<String, SimError> {
    obj.get(key)
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| SimError::InvalidFixture(format!("{what}: missing string {key:?}")))
}
