//! Listing records (airtable-api.md §3): parameters from the query string or a `listRecords` JSON
//! body, then view, filter, sort, `maxRecords`, and pages.
//!
//! The first page takes a snapshot of the matching record ids into an iterator; its offset is
//! `itr…/rec…` (the iterator and the last record returned). Later pages read the snapshot, so edits
//! during a listing behave like a real paginated read: current values of the snapshotted records,
//! deleted ones skipped, new ones not seen. Repeating an offset repeats its page. An iterator dies
//! when unused for `iterator_idle` or on `expire_iterators`.

use std::collections::BTreeMap;
use std::time::Instant;

use serde_json::{json, Value};

use super::api::{invalid_offset, Reply};
use super::base::{is_id, Record};
use super::cells::{self, ReadOptions, RowView};
use super::formula::Formula;
use super::State;

const DEFAULT_PAGE_SIZE: usize = 100;

/// A listing in progress: the ids it matched when it started.
pub(crate) struct ListIterator {
    pub table: String,
    pub ids: Vec<String>,
    pub last_used: Instant,
    pub expired: bool,
}

/// Which query parameters a route takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum QueryMode {
    /// `GET …/{table}`: every listing parameter.
    List,
    /// `GET …/{table}/{record}`: formatting only.
    Record,
    /// The query of `POST …/listRecords`: `timeZone` and `userLocale` only.
    PostList,
}

#[derive(Debug, Default)]
pub(crate) struct ListParams {
    pub page_size: Option<usize>,
    pub max_records: Option<usize>,
    pub offset: Option<String>,
    pub view: Option<String>,
    pub fields: Option<Vec<String>>,
    pub filter: Option<String>,
    /// Field name (or id), descending.
    pub sort: Vec<(String, bool)>,
    pub by_id: bool,
    pub comment_count: bool,
}

impl ListParams {
    /// Reads a query string (`+` is a space; empty `offset`, `view` and formula are absent).
    pub(crate) fn from_query(query: &str, mode: QueryMode) -> Result<ListParams, Reply> {
        let mut p = ListParams::default();
        let mut sort: BTreeMap<usize, (Option<String>, Option<String>)> = BTreeMap::new();
        let mut format = None;
        for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
            let (key, value) = (key.as_ref(), value.into_owned());
            let allowed = match mode {
                QueryMode::List => true,
                QueryMode::Record => matches!(
                    key,
                    "cellFormat"
                        | "returnFieldsByFieldId"
                        | "timeZone"
                        | "userLocale"
                        | "includeDateDependencyMetadata"
                ),
                QueryMode::PostList => matches!(key, "timeZone" | "userLocale"),
            };
            if !allowed {
                return Err(Reply::invalid_request());
            }
            match key {
                "pageSize" => p.page_size = Some(page_size(value.parse().ok())?),
                "maxRecords" => p.max_records = Some(max_records(value.parse().ok())?),
                "offset" => p.offset = Some(value).filter(|v| !v.is_empty()),
                "view" => p.view = Some(value).filter(|v| !v.is_empty()),
                "filterByFormula" => p.filter = Some(value).filter(|v| !v.trim().is_empty()),
                "cellFormat" => format = Some(value),
                "timeZone" | "userLocale" => {}
                "returnFieldsByFieldId" => p.by_id = flag(&value)?,
                "includeDateDependencyMetadata" => {
                    flag(&value)?;
                }
                "recordMetadata[]" | "recordMetadata" if value == "commentCount" => p.comment_count = true,
                k if is_fields_key(k) => p.fields.get_or_insert_with(Vec::new).push(value),
                k => {
                    let (i, part) = sort_key(k).ok_or_else(Reply::invalid_request)?;
                    let entry = sort.entry(i).or_default();
                    if part == "field" {
                        entry.0 = Some(value);
                    } else {
                        entry.1 = Some(value);
                    }
                }
            }
        }
        cell_format(format.as_deref(), query)?;
        for (field, direction) in sort.into_values() {
            p.sort.push((field.ok_or_else(Reply::invalid_request)?, descending(direction.as_deref())?));
        }
        Ok(p)
    }

    /// Reads the JSON body of `POST …/listRecords`; its query may hold only `timeZone` and `userLocale`.
    pub(crate) fn from_body(body: &str, query: &str) -> Result<ListParams, Reply> {
        ListParams::from_query(query, QueryMode::PostList)?;
        let value: Value = if body.trim().is_empty() {
            json!({})
        } else {
            serde_json::from_str(body).map_err(|_| {
                Reply::error(400, "INVALID_REQUEST_BODY", Some("Could not parse the request body as JSON"))
            })?
        };
        let obj = value.as_object().ok_or_else(Reply::invalid_request)?;
        let invalid = Reply::invalid_request;
        let string = |v: &Value| v.as_str().map(str::to_string).ok_or_else(invalid);
        let strings = |v: &Value| -> Result<Vec<String>, Reply> {
            v.as_array().ok_or_else(invalid)?.iter().map(string).collect()
        };
        let mut p = ListParams::default();
        let mut format = None;
        for (key, v) in obj {
            match key.as_str() {
                "pageSize" => p.page_size = Some(page_size(v.as_i64())?),
                "maxRecords" => p.max_records = Some(max_records(v.as_i64())?),
                "offset" if v.is_null() => {}
                "offset" => p.offset = Some(string(v)?).filter(|o| !o.is_empty()),
                "view" => p.view = Some(string(v)?).filter(|o| !o.is_empty()),
                "fields" => p.fields = Some(strings(v)?),
                "filterByFormula" => p.filter = Some(string(v)?).filter(|f| !f.trim().is_empty()),
                "cellFormat" => format = Some(string(v)?),
                "returnFieldsByFieldId" => p.by_id = v.as_bool().ok_or_else(invalid)?,
                "recordMetadata" => {
                    for m in strings(v)? {
                        if m != "commentCount" {
                            return Err(invalid());
                        }
                        p.comment_count = true;
                    }
                }
                "sort" => {
                    for key in v.as_array().ok_or_else(invalid)? {
                        let key = key.as_object().ok_or_else(invalid)?;
                        if key.keys().any(|k| k != "field" && k != "direction") {
                            return Err(invalid());
                        }
                        let field = string(key.get("field").ok_or_else(invalid)?)?;
                        let direction = key.get("direction").map(string).transpose()?;
                        p.sort.push((field, descending(direction.as_deref())?));
                    }
                }
                _ => return Err(invalid()),
            }
        }
        cell_format(format.as_deref(), query)?;
        Ok(p)
    }
}

fn is_fields_key(key: &str) -> bool {
    let indexed = key.strip_prefix("fields[").and_then(|r| r.strip_suffix(']'));
    key == "fields[]"
        || key == "fields"
        || indexed.is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// `sort[3][field]` → `(3, "field")`.
fn sort_key(key: &str) -> Option<(usize, &str)> {
    let (index, rest) = key.strip_prefix("sort[")?.split_once(']')?;
    let part = rest.strip_prefix('[')?.strip_suffix(']')?;
    matches!(part, "field" | "direction").then_some((index.parse().ok()?, part))
}

fn descending(direction: Option<&str>) -> Result<bool, Reply> {
    match direction {
        None | Some("asc") => Ok(false),
        Some("desc") => Ok(true),
        Some(_) => Err(Reply::invalid_request()),
    }
}

fn flag(value: &str) -> Result<bool, Reply> {
    match value {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(Reply::invalid_request()),
    }
}

fn page_size(n: Option<i64>) -> Result<usize, Reply> {
    n.filter(|n| (1..=100).contains(n)).map(|n| n as usize).ok_or_else(Reply::invalid_request)
}

fn max_records(n: Option<i64>) -> Result<usize, Reply> {
    n.filter(|n| *n >= 1).map(|n| n as usize).ok_or_else(Reply::invalid_request)
}

/// `json` is the format the simulator speaks; `string` needs `timeZone` and `userLocale` in the query.
fn cell_format(format: Option<&str>, query: &str) -> Result<(), Reply> {
    let has = |name: &str| url::form_urlencoded::parse(query.as_bytes()).any(|(k, _)| k == name);
    match format {
        None | Some("json") => Ok(()),
        Some("string") if !(has("timeZone") && has("userLocale")) => Err(Reply::error(
            422,
            "INVALID_REQUEST_UNKNOWN",
            Some("Invalid request: parameter validation failed. cellFormat string requires timeZone and userLocale."),
        )),
        Some("string") => Err(Reply::error(
            422,
            "INVALID_REQUEST_UNKNOWN",
            Some("cellFormat=string is not supported by the Airtable simulator; use json"),
        )),
        Some(_) => Err(Reply::invalid_request()),
    }
}

fn unknown_field(name: &str) -> Reply {
    Reply::error(422, "UNKNOWN_FIELD_NAME", Some(&format!("Unknown field name: \"{name}\"")))
}

impl State {
    /// One page of a listing of table `ti` of base `bi`.
    pub(crate) fn list(&mut self, bi: usize, ti: usize, p: ListParams, at: Instant) -> Reply {
        match self.try_list(bi, ti, p, at) {
            Ok(reply) | Err(reply) => reply,
        }
    }

    fn try_list(&mut self, bi: usize, ti: usize, p: ListParams, at: Instant) -> Result<Reply, Reply> {
        let table = &self.bases[bi].tables[ti];
        let field = |name: &String| table.field(name).ok_or_else(|| unknown_field(name));
        let only = p.fields.as_ref().map(|names| names.iter().map(field).collect::<Result<Vec<_>, _>>()).transpose()?;
        let sort = p.sort.iter().map(|(name, desc)| Ok((field(name)?, *desc))).collect::<Result<Vec<_>, Reply>>()?;
        let view = p.view.as_ref().map(|v| {
            table
                .view(v)
                .ok_or_else(|| Reply::error(422, "VIEW_NAME_NOT_FOUND", Some(&format!("View not found: \"{v}\""))))
        });
        let view = view.transpose()?;
        let filter = p
            .filter
            .as_ref()
            .map(|f| table.formula(f).map_err(|e| Reply::error(422, "INVALID_FILTER_BY_FORMULA", Some(&e.message()))));
        let filter = filter.transpose()?;
        let table_id = table.id.clone();
        let (ids, iterator) = match &p.offset {
            Some(offset) => self.resume(&table_id, offset, at)?,
            None => (self.matching(bi, ti, view, filter.as_ref(), &sort, p.max_records), None),
        };

        let page_size = p.page_size.unwrap_or(DEFAULT_PAGE_SIZE);
        let table = &self.bases[bi].tables[ti];
        let mut page = Vec::new();
        let mut more = false;
        for id in &ids {
            let Some(&ri) = table.record_index.get(id).filter(|&&ri| !table.records[ri].deleted) else { continue };
            if page.len() == page_size {
                more = true;
                break;
            }
            page.push(ri);
        }
        let offset = match (more, page.last()) {
            (true, Some(&last)) => {
                let itr = match iterator {
                    Some(itr) => itr,
                    None => {
                        let idle = self.config.iterator_idle;
                        self.iterators.retain(|_, it| !it.expired && at.duration_since(it.last_used) <= idle);
                        let itr = self.ids.id("itr");
                        let it = ListIterator { table: table_id, ids, last_used: at, expired: false };
                        self.iterators.insert(itr.clone(), it);
                        itr
                    }
                };
                Some(format!("{itr}/{}", table.records[last].id))
            }
            _ => None,
        };

        let now = self.now();
        let State { bases, ids: minter, .. } = self;
        let (base, table) = (&bases[bi], &bases[bi].tables[ti]);
        let opts = ReadOptions { only: only.as_deref(), by_id: p.by_id, comment_count: p.comment_count };
        let records: Vec<Value> = page
            .iter()
            .map(|&ri| cells::record_json(&RowView { base, table, rec: &table.records[ri], now }, &opts, minter))
            .collect();
        let mut body = json!({ "records": records });
        if let Some(offset) = offset {
            body["offset"] = json!(offset);
        }
        Ok(Reply::json(200, body))
    }

    /// The ids after an offset's record in its iterator's snapshot.
    fn resume(&mut self, table_id: &str, offset: &str, at: Instant) -> Result<(Vec<String>, Option<String>), Reply> {
        let parts = offset.split_once('/').filter(|(itr, rec)| is_id(itr, "itr") && is_id(rec, "rec"));
        let (itr, rec) = parts.ok_or_else(|| invalid_offset(offset))?;
        let idle = self.config.iterator_idle;
        let it = self.iterators.get_mut(itr).filter(|it| !it.expired && at.duration_since(it.last_used) <= idle);
        let it = it.ok_or_else(|| Reply::error(422, "LIST_RECORDS_ITERATOR_NOT_AVAILABLE", None))?;
        if it.table != table_id {
            return Err(invalid_offset(offset));
        }
        let pos = it.ids.iter().position(|id| id == rec).ok_or_else(|| invalid_offset(offset))?;
        it.last_used = at;
        Ok((it.ids[pos + 1..].to_vec(), Some(itr.to_string())))
    }

    /// The ids of the live records in the view that pass the filter, sorted, at most `max`.
    fn matching(
        &self,
        bi: usize,
        ti: usize,
        view: Option<usize>,
        filter: Option<&Formula>,
        sort: &[(usize, bool)],
        max: Option<usize>,
    ) -> Vec<String> {
        let base = &self.bases[bi];
        let table = &base.tables[ti];
        let now = self.now();
        let view = view.map(|v| &table.views[v]);
        let view_filter = view.and_then(|v| v.filter.as_ref()).and_then(|f| table.formula(f).ok());
        let passes = |rec: &&Record| {
            let row = RowView { base, table, rec, now };
            view_filter.as_ref().is_none_or(|f| f.matches(&row)) && filter.is_none_or(|f| f.matches(&row))
        };
        let mut records: Vec<&Record> = table.records.iter().filter(|r| !r.deleted).filter(passes).collect();
        let view_sort: Vec<(usize, bool)> = view
            .map(|v| v.sort.iter().filter_map(|(name, desc)| Some((table.field(name)?, *desc))).collect())
            .unwrap_or_default();
        let sort = if sort.is_empty() { &view_sort[..] } else { sort };
        if !sort.is_empty() {
            let mut keyed: Vec<(Vec<Value>, &Record)> = records
                .into_iter()
                .map(|r| (sort.iter().map(|&(fi, _)| cells::cell(base, table, r, &table.fields[fi], 0)).collect(), r))
                .collect();
            keyed.sort_by(|(a, _), (b, _)| {
                sort.iter()
                    .enumerate()
                    .map(|(i, &(_, desc))| {
                        let order = cells::sort_cmp(&a[i], &b[i]);
                        if desc {
                            order.reverse()
                        } else {
                            order
                        }
                    })
                    .find(|o| o.is_ne())
                    .unwrap_or(std::cmp::Ordering::Equal)
            });
            records = keyed.into_iter().map(|(_, r)| r).collect();
        }
        if let Some(max) = max {
            records.truncate(max);
        }
        records.iter().map(|r| r.id.clone()).collect()
    }
}
