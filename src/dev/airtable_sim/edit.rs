//! Edits as a person in the Airtable UI makes them, with the timestamps Airtable would record.
//!
//! A change to a non-computed cell moves the record's modified time (second resolution, simulator
//! clock). A link cell is editable on both sides: changing it also changes the inverse link cell of
//! the records linked or unlinked, and moves *their* modified times. Computed values (lookups,
//! counts) follow at read time and move nothing. Schema changes move no timestamp.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

use super::base::{Field, Record};
use super::cells::{self, FieldClass};
use super::{SimError, State, SIM_USER_ID};

/// The inverse side of a link change: which cell, which record, when.
#[derive(Clone, Copy)]
struct Relink<'a> {
    inverse: &'a str,
    this: &'a str,
    now: DateTime<Utc>,
}

/// One cell to write: a field index and its normalized value (`None` clears).
type CellChange = (usize, Option<Value>);

fn sim_user() -> Value {
    json!({ "id": SIM_USER_ID, "email": "simulator@example.com", "name": "Airtable simulator" })
}

impl State {
    /// A base (id or name) and a table (name or id) of it.
    pub(crate) fn locate(&self, base: &str, table: &str) -> Result<(usize, usize), SimError> {
        let bi = self.base_index(base).ok_or_else(|| SimError::UnknownBase(base.to_string()))?;
        let ti = self.bases[bi]
            .table(table)
            .ok_or_else(|| SimError::UnknownTable { base: base.to_string(), table: table.to_string() })?;
        Ok((bi, ti))
    }

    /// A record of the table, deleted or not.
    fn record_at(&self, bi: usize, ti: usize, record: &str) -> Result<usize, SimError> {
        let table = &self.bases[bi].tables[ti];
        table
            .record_index
            .get(record)
            .copied()
            .ok_or_else(|| SimError::UnknownRecord { table: table.name.clone(), record: record.to_string() })
    }

    fn field_at(&self, bi: usize, ti: usize, field: &str) -> Result<usize, SimError> {
        let table = &self.bases[bi].tables[ti];
        table.field(field).ok_or_else(|| SimError::UnknownField { table: table.name.clone(), field: field.to_string() })
    }

    pub(crate) fn create_record(
        &mut self,
        base: &str,
        table: &str,
        fields: Map<String, Value>,
    ) -> Result<String, SimError> {
        let (bi, ti) = self.locate(base, table)?;
        let changes = self.check_cells(bi, ti, fields)?;
        let now = self.now_secs();
        let id = self.ids.id("rec");
        let t = &mut self.bases[bi].tables[ti];
        let mut rec = Record {
            id: id.clone(),
            created: now,
            modified: now,
            field_modified: Default::default(),
            cells: Default::default(),
            deleted: false,
        };
        for f in &t.fields {
            match f.kind.as_str() {
                "autoNumber" => {
                    rec.cells.insert(f.id.clone(), json!(t.next_auto_number));
                    t.next_auto_number += 1;
                }
                "createdBy" | "lastModifiedBy" => {
                    rec.cells.insert(f.id.clone(), sim_user());
                }
                _ => {}
            }
        }
        t.record_index.insert(id.clone(), t.records.len());
        t.records.push(rec);
        let ri = t.records.len() - 1;
        self.apply_cells(bi, ti, ri, changes, now);
        Ok(id)
    }

    pub(crate) fn update_record(
        &mut self,
        base: &str,
        table: &str,
        record: &str,
        fields: Map<String, Value>,
    ) -> Result<(), SimError> {
        let (bi, ti) = self.locate(base, table)?;
        let ri = self.record_at(bi, ti, record)?;
        if self.bases[bi].tables[ti].records[ri].deleted {
            return Err(SimError::UnknownRecord { table: table.to_string(), record: record.to_string() });
        }
        let changes = self.check_cells(bi, ti, fields)?;
        let now = self.now_secs();
        self.apply_cells(bi, ti, ri, changes, now);
        Ok(())
    }

    pub(crate) fn delete_record(&mut self, base: &str, table: &str, record: &str) -> Result<(), SimError> {
        let (bi, ti) = self.locate(base, table)?;
        let ri = self.record_at(bi, ti, record)?;
        let rec = &mut self.bases[bi].tables[ti].records[ri];
        if rec.deleted {
            return Err(SimError::UnknownRecord { table: table.to_string(), record: record.to_string() });
        }
        rec.deleted = true;
        Ok(())
    }

    pub(crate) fn restore_record(&mut self, base: &str, table: &str, record: &str) -> Result<(), SimError> {
        let (bi, ti) = self.locate(base, table)?;
        let ri = self.record_at(bi, ti, record)?;
        self.bases[bi].tables[ti].records[ri].deleted = false;
        Ok(())
    }

    pub(crate) fn rename_field(
        &mut self,
        base: &str,
        table: &str,
        field: &str,
        new_name: &str,
    ) -> Result<(), SimError> {
        let (bi, ti) = self.locate(base, table)?;
        let fi = self.field_at(bi, ti, field)?;
        let t = &mut self.bases[bi].tables[ti];
        if t.fields.iter().enumerate().any(|(i, f)| i != fi && f.name == new_name) {
            return Err(SimError::DuplicateField { table: t.name.clone(), name: new_name.to_string() });
        }
        let f = &mut t.fields[fi];
        f.name = new_name.to_string();
        f.schema.insert("name".into(), json!(new_name));
        Ok(())
    }

    pub(crate) fn add_field(&mut self, base: &str, table: &str, schema: Value) -> Result<String, SimError> {
        let (bi, ti) = self.locate(base, table)?;
        let given_id = schema.get("id").is_some();
        let new_id = (!given_id).then(|| self.ids.id("fld"));
        let mut field = Field::from_schema(&schema, new_id).map_err(|e| SimError::InvalidField(e.to_string()))?;
        let b = &self.bases[bi];
        let t = &b.tables[ti];
        if t.fields.iter().any(|f| f.name == field.name) {
            return Err(SimError::DuplicateField { table: t.name.clone(), name: field.name });
        }
        if b.tables.iter().any(|t| t.field_by_id(&field.id).is_some()) {
            return Err(SimError::InvalidField(format!("field id {} is taken", field.id)));
        }
        if let Some(link) = field.option_str("recordLinkFieldId") {
            if t.field_by_id(link).is_none_or(|l| l.kind != "multipleRecordLinks") {
                return Err(SimError::InvalidField(format!(
                    "recordLinkFieldId {link} is not a link field of {}",
                    t.name
                )));
            }
        }
        let mut inverse = None;
        if field.kind == "multipleRecordLinks" {
            let linked = field.option_str("linkedTableId").and_then(|id| b.tables.iter().position(|t| t.id == id));
            let li =
                linked.ok_or_else(|| SimError::InvalidField("a link field needs an existing linkedTableId".into()))?;
            if field.option_str("inverseLinkFieldId").is_none() {
                let linked = &b.tables[li];
                let mut name = t.name.clone();
                let mut n = 2;
                while linked.fields.iter().any(|f| f.name == name) {
                    name = format!("{} {n}", t.name);
                    n += 1;
                }
                let inverse_id = self.ids.id("fld");
                let inverse_schema = json!({
                    "id": inverse_id, "name": name, "type": "multipleRecordLinks",
                    "options": {"linkedTableId": t.id, "isReversed": false, "prefersSingleRecordLink": false,
                                "inverseLinkFieldId": field.id}
                });
                let options = field.schema.entry("options").or_insert_with(|| json!({}));
                options["inverseLinkFieldId"] = json!(inverse_id);
                inverse = Some((li, Field::from_schema(&inverse_schema, None)?));
            }
        }
        let id = field.id.clone();
        self.bases[bi].tables[ti].fields.push(field);
        if let Some((li, inverse)) = inverse {
            self.bases[bi].tables[li].fields.push(inverse);
        }
        Ok(id)
    }

    pub(crate) fn remove_field(&mut self, base: &str, table: &str, field: &str) -> Result<(), SimError> {
        let (bi, ti) = self.locate(base, table)?;
        let fi = self.field_at(bi, ti, field)?;
        let t = &mut self.bases[bi].tables[ti];
        if t.fields[fi].id == t.primary_field_id {
            return Err(SimError::PrimaryField { table: t.name.clone(), field: field.to_string() });
        }
        let removed = t.fields.remove(fi);
        for rec in &mut t.records {
            rec.cells.remove(&removed.id);
            rec.field_modified.remove(&removed.id);
        }
        for view in &mut t.views {
            if let Some(Value::Array(visible)) = view.schema.get_mut("visibleFieldIds") {
                visible.retain(|v| v != &json!(removed.id));
            }
        }
        // Fields that read through the removed one stop working, as in Airtable.
        for f in self.bases[bi].tables.iter_mut().flat_map(|t| t.fields.iter_mut()) {
            let Some(options) = f.schema.get_mut("options").and_then(Value::as_object_mut) else { continue };
            if options.get("inverseLinkFieldId") == Some(&json!(removed.id)) {
                options.remove("inverseLinkFieldId");
            }
            let reads_it = ["recordLinkFieldId", "fieldIdInLinkedTable"]
                .iter()
                .any(|k| options.get(*k) == Some(&json!(removed.id)));
            if reads_it {
                options.insert("isValid".into(), json!(false));
                options.insert("result".into(), Value::Null);
            }
        }
        Ok(())
    }

    /// Resolves field keys and checks values, before anything changes.
    fn check_cells(&mut self, bi: usize, ti: usize, fields: Map<String, Value>) -> Result<Vec<CellChange>, SimError> {
        let mut changes = Vec::new();
        for (key, value) in fields {
            let fi = self.field_at(bi, ti, &key)?;
            let base = &self.bases[bi];
            let field = &base.tables[ti].fields[fi];
            if matches!(cells::class(&field.kind), FieldClass::Derived | FieldClass::System) {
                return Err(SimError::ComputedField { field: field.name.clone(), kind: field.kind.clone() });
            }
            let value = cells::normalize(field, value, &mut self.ids).map_err(SimError::InvalidValue)?;
            if field.kind == "multipleRecordLinks" {
                let linked = field.option_str("linkedTableId").and_then(|id| base.table_by_id(id));
                for id in value.iter().flat_map(|v| v.as_array().into_iter().flatten()).filter_map(Value::as_str) {
                    if linked.is_none_or(|t| t.live_record(id).is_none()) {
                        return Err(SimError::InvalidValue(format!(
                            "{id} is not a record of the table {:?} links to",
                            field.name
                        )));
                    }
                }
            }
            changes.push((fi, value));
        }
        Ok(changes)
    }

    /// Writes checked cells; links change on both sides, modified times move where a person's edit
    /// changed a non-computed cell.
    fn apply_cells(&mut self, bi: usize, ti: usize, ri: usize, changes: Vec<CellChange>, now: DateTime<Utc>) {
        let mut edited = false;
        for (fi, new) in changes {
            let table = &self.bases[bi].tables[ti];
            let field = &table.fields[fi];
            let (field_id, class) = (field.id.clone(), cells::class(&field.kind));
            let rec = &table.records[ri];
            let old = rec.cells.get(&field_id).cloned();
            if old == new {
                continue;
            }
            if field.kind == "multipleRecordLinks" {
                let linked = field.option_str("linkedTableId").and_then(|id| self.bases[bi].table(id));
                if let (Some(li), Some(inverse)) = (linked, field.option_str("inverseLinkFieldId")) {
                    let (inverse, this) = (inverse.to_string(), rec.id.clone());
                    let link = Relink { inverse: &inverse, this: &this, now };
                    let ids = |v: &Option<Value>| -> HashSet<String> {
                        v.iter()
                            .flat_map(|v| v.as_array().into_iter().flatten())
                            .filter_map(Value::as_str)
                            .map(str::to_string)
                            .collect()
                    };
                    let (before, after) = (ids(&old), ids(&new));
                    for other in before.difference(&after) {
                        self.relink(bi, li, other, &link, false);
                    }
                    for other in after.difference(&before) {
                        self.relink(bi, li, other, &link, true);
                    }
                }
            }
            let rec = &mut self.bases[bi].tables[ti].records[ri];
            match new {
                Some(v) => rec.cells.insert(field_id.clone(), v),
                None => rec.cells.remove(&field_id),
            };
            if class == FieldClass::Input {
                rec.modified = now;
                rec.field_modified.insert(field_id, now);
                edited = true;
            }
        }
        if edited {
            self.touch_modified_by(bi, ti, ri);
        }
    }

    /// Adds `link.this` to (or removes it from) the inverse link cell of record `other` in table `li`.
    fn relink(&mut self, bi: usize, li: usize, other: &str, link: &Relink, add: bool) {
        let Relink { inverse, this, now } = *link;
        let table = &mut self.bases[bi].tables[li];
        let Some(&ri) = table.record_index.get(other) else { return };
        let rec = &mut table.records[ri];
        let mut list: Vec<Value> = rec.cells.get(inverse).and_then(Value::as_array).cloned().unwrap_or_default();
        let had = list.iter().any(|v| v == this);
        if add == had {
            return;
        }
        if add {
            list.push(json!(this));
        } else {
            list.retain(|v| v != this);
        }
        if list.is_empty() {
            rec.cells.remove(inverse);
        } else {
            rec.cells.insert(inverse.to_string(), Value::Array(list));
        }
        rec.modified = now;
        rec.field_modified.insert(inverse.to_string(), now);
        self.touch_modified_by(bi, li, ri);
    }

    fn touch_modified_by(&mut self, bi: usize, ti: usize, ri: usize) {
        let table = &mut self.bases[bi].tables[ti];
        let ids: Vec<String> =
            table.fields.iter().filter(|f| f.kind == "lastModifiedBy").map(|f| f.id.clone()).collect();
        for id in ids {
            table.records[ri].cells.insert(id, sim_user());
        }
    }
}
