//! `_search` and `_count` (elasticsearch-bulk.md §11): near real time — they see an index as of its
//! last refresh — with `from`/`size`, `sort` by fields or `_score`, `_source` filtering,
//! `track_total_hits`, and aggregations (`terms`, `nested`, `min`, `max`, `sum`, `avg`,
//! `value_count`), answered in the servers' shapes. Sorting or aggregating on a text field fails
//! as it does on the servers (no fielddata).

use std::cmp::Ordering;
use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use super::api::{Incoming, Reply};
use super::docs::PRIMARY_TERM;
use super::errors::{self, EsError};
use super::index::{self, Doc};
use super::mapping::{self, FieldInfo};
use super::query::{self, Query, Target};
use super::State;

/// Body keys `_search` takes; the ones not listed in `SUPPORTED` are accepted and ignored.
const SEARCH_KEYS: &[&str] = &[
    "query",
    "size",
    "from",
    "sort",
    "aggs",
    "aggregations",
    "track_total_hits",
    "_source",
    "version",
    "seq_no_primary_term",
    "track_scores",
    "timeout",
    "highlight",
    "explain",
    "stored_fields",
    "docvalue_fields",
    "fields",
    "min_score",
    "terminate_after",
    "profile",
    "post_filter",
    "search_after",
    "collapse",
    "pit",
    "runtime_mappings",
    "indices_boost",
    "suggest",
    "rescore",
];
/// How many hits are counted exactly by default.
const DEFAULT_TRACK: u64 = 10_000;

/// A matching document.
struct Hit<'a> {
    index: &'a str,
    id: &'a str,
    doc: &'a Doc,
    mappings: &'a Value,
    score: f64,
}

/// The searchable documents of the indices a read names that match `query`.
fn matching<'a>(state: &'a State, names: &'a [String], query: &Query) -> Vec<Hit<'a>> {
    let mut hits = Vec::new();
    for name in names {
        let index = &state.indices[name];
        for (id, doc) in &index.searchable {
            let target = Target { id, source: &doc.source, mappings: &index.mappings, nested: None };
            if let Some(score) = query.score(&target) {
                hits.push(Hit { index: name, id, doc, mappings: &index.mappings, score });
            }
        }
    }
    hits
}

/// Resolves the read and runs the lazy periodic refresh of each index.
fn prepare(state: &mut State, target: Option<&str>) -> Result<Vec<String>, EsError> {
    let names = index::resolve_read(state, target.unwrap_or("_all"))?;
    let now = state.now();
    for name in &names {
        state.indices.get_mut(name).expect("resolved").refresh_if_due(now);
    }
    Ok(names)
}

fn shards(names: &[String]) -> Value {
    json!({ "total": names.len(), "successful": names.len(), "skipped": 0, "failed": 0 })
}

/// `GET|POST /{target}/_count`.
pub(crate) fn count(state: &mut State, target: Option<&str>, req: &Incoming) -> Result<Reply, EsError> {
    let body = req.json()?.unwrap_or_else(|| json!({}));
    if let Some(unknown) = body.as_object().and_then(|b| b.keys().find(|k| *k != "query")) {
        return Err(errors::parsing(format!("request does not support [{unknown}]")));
    }
    let query = Query::parse(body.get("query").unwrap_or(&json!({ "match_all": {} })))?;
    let names = prepare(state, target)?;
    let count = matching(state, &names, &query).len();
    Ok(Reply::json(200, json!({ "count": count, "_shards": shards(&names) })))
}

/// `GET|POST /{target}/_search`.
pub(crate) fn search(state: &mut State, target: Option<&str>, req: &Incoming) -> Result<Reply, EsError> {
    let started = std::time::Instant::now();
    let body = req.json()?.unwrap_or_else(|| json!({}));
    if let Some(unknown) = body.as_object().and_then(|b| b.keys().find(|k| !SEARCH_KEYS.contains(&k.as_str()))) {
        return Err(errors::parsing(format!("Unknown key for a START_OBJECT in [{unknown}].")));
    }
    let setting = |key: &str| {
        body.get(key).cloned().or_else(|| req.param(key).map(|v| serde_json::from_str(v).unwrap_or(json!(v))))
    };
    let size = setting("size").and_then(|v| v.as_u64()).unwrap_or(10) as usize;
    let from = setting("from").and_then(|v| v.as_u64()).unwrap_or(0) as usize;
    let query = Query::parse(body.get("query").unwrap_or(&json!({ "match_all": {} })))?;
    let sort = parse_sort(body.get("sort"))?;
    let names = prepare(state, target)?;
    let mut hits = matching(state, &names, &query);
    let scores_kept =
        sort.is_empty() || sort.iter().any(|s| s.field == "_score") || body["track_scores"] == json!(true);

    let aggregations = match body.get("aggs").or_else(|| body.get("aggregations")) {
        Some(Value::Object(aggs)) => {
            let docs: AggDocs = hits.iter().map(|h| (h.doc.source.clone(), h.mappings)).collect();
            Some(aggregate(aggs, &docs, None)?)
        }
        _ => None,
    };

    let mut keys: Vec<(Vec<Value>, usize)> = Vec::with_capacity(hits.len());
    for (at, hit) in hits.iter().enumerate() {
        keys.push((sort_values(&sort, hit)?, at));
    }
    keys.sort_by(|(a, ai), (b, bi)| compare_keys(&sort, a, b).then_with(|| tiebreak(&hits[*ai], &hits[*bi])));
    let order: Vec<(Vec<Value>, usize)> = keys.into_iter().skip(from).take(size).collect();
    let total = hits.len() as u64;
    let max_score = if scores_kept { hits.iter().map(|h| h.score).reduce(f64::max) } else { None };

    let source_filter = setting("_source");
    let mut page = Vec::new();
    for (sort_values, at) in order {
        let hit = &hits[at];
        let mut out = json!({ "_index": hit.index, "_id": hit.id, "_score": if scores_kept { json!(hit.score) } else { Value::Null } });
        if body["version"] == json!(true) {
            out["_version"] = json!(hit.doc.version);
        }
        if body["seq_no_primary_term"] == json!(true) {
            out["_seq_no"] = json!(hit.doc.seq_no);
            out["_primary_term"] = json!(PRIMARY_TERM);
        }
        if let Some(source) = filter_source(&hit.doc.source, source_filter.as_ref()) {
            out["_source"] = source;
        }
        if !sort.is_empty() {
            out["sort"] = Value::Array(sort_values);
        }
        page.push(out);
    }
    hits.clear();

    let mut hits_json = json!({ "max_score": max_score, "hits": page });
    let track = match setting("track_total_hits") {
        Some(Value::Bool(false)) => None,
        Some(Value::Bool(true)) => Some(u64::MAX),
        Some(Value::Number(n)) => n.as_u64(),
        _ => Some(DEFAULT_TRACK),
    };
    if let Some(limit) = track {
        let (value, relation) = if total > limit { (limit, "gte") } else { (total, "eq") };
        hits_json["total"] = json!({ "value": value, "relation": relation });
    }
    let mut response = json!({
        "took": started.elapsed().as_millis() as u64, "timed_out": false, "_shards": shards(&names), "hits": hits_json,
    });
    if let Some(aggregations) = aggregations {
        response["aggregations"] = aggregations;
    }
    Ok(Reply::json(200, response))
}

/// One sort key.
struct SortKey {
    field: String,
    descending: bool,
}

fn parse_sort(sort: Option<&Value>) -> Result<Vec<SortKey>, EsError> {
    let items = match sort {
        None => return Ok(Vec::new()),
        Some(Value::Array(items)) => items.clone(),
        Some(one) => vec![one.clone()],
    };
    let mut keys = Vec::new();
    for item in items {
        let (field, order) = match &item {
            Value::String(field) => (field.clone(), None),
            Value::Object(map) if map.len() == 1 => {
                let (field, spec) = map.iter().next().expect("one entry");
                let order = spec.as_str().or_else(|| spec.get("order").and_then(Value::as_str));
                (field.clone(), order.map(str::to_string))
            }
            _ => return Err(errors::parsing("[sort] malformed")),
        };
        let descending = match order.as_deref() {
            Some("desc") => true,
            Some("asc") => false,
            None => field == "_score",
            Some(other) => return Err(errors::illegal_argument(format!("Unknown SortOrder [{other}]"))),
        };
        keys.push(SortKey { field, descending });
    }
    Ok(keys)
}

/// The error a search gets for per-document field data on a text field, wrapped as a shard failure.
fn fielddata_error(field: &str, index: &str) -> EsError {
    let cause = errors::illegal_argument(format!(
        "Fielddata is disabled on [{field}] in [{index}]. Text fields are not optimised for operations that require \
         per-document field data like aggregations and sorting, so these operations are disabled by default. Please \
         use a keyword field instead. Alternatively, set fielddata=true on [{field}] in order to load field data by \
         uninverting the inverted index. Note that this can use significant memory."
    ));
    let mut error = EsError::new(400, "search_phase_execution_exception", "all shards failed")
        .with("phase", "query")
        .with("grouped", true)
        .with("failed_shards", json!([{ "shard": 0, "index": index, "node": "sim-node-1", "reason": cause.object() }]))
        .caused_by(cause.clone());
    error.root = Some(Box::new(cause));
    error
}

/// A hit's values for the sort keys: the field's term (the smallest ascending, the largest
/// descending), `_score`, or `null` when missing.
fn sort_values(sort: &[SortKey], hit: &Hit) -> Result<Vec<Value>, EsError> {
    let mut values = Vec::new();
    for key in sort {
        if key.field == "_score" {
            values.push(json!(hit.score));
            continue;
        }
        let Some(info) = mapping::field(hit.mappings, &key.field) else {
            return Err(errors::EsError::new(
                400,
                "search_phase_execution_exception",
                format!("No mapping found for [{}] in order to sort on", key.field),
            ));
        };
        if info.is_text() {
            return Err(fielddata_error(&key.field, hit.index));
        }
        let mut terms: Vec<Value> = query::values_at(&hit.doc.source, &info.source_path)
            .iter()
            .filter_map(|v| query::indexed_term(&info, v))
            .collect();
        terms.sort_by(|a, b| query::compare_terms(a, b).unwrap_or(Ordering::Equal));
        let chosen = if key.descending { terms.pop() } else { terms.into_iter().next() };
        values.push(chosen.map_or(Value::Null, |v| {
            if info.ty == "boolean" {
                json!(u8::from(v == json!(true)))
            } else {
                v
            }
        }));
    }
    Ok(values)
}

/// Missing values sort last whatever the order.
fn compare_keys(sort: &[SortKey], a: &[Value], b: &[Value]) -> Ordering {
    for (key, (x, y)) in sort.iter().zip(a.iter().zip(b)) {
        let order = match (x.is_null(), y.is_null()) {
            (true, true) => Ordering::Equal,
            (true, false) => Ordering::Greater,
            (false, true) => Ordering::Less,
            _ => {
                let order = query::compare_terms(x, y).unwrap_or(Ordering::Equal);
                if key.descending {
                    order.reverse()
                } else {
                    order
                }
            }
        };
        if order != Ordering::Equal {
            return order;
        }
    }
    Ordering::Equal
}

/// Without sort keys: best score first; ties (and equal sort keys) in index order, then in the
/// order documents were written, as Lucene's doc ids go.
fn tiebreak(a: &Hit, b: &Hit) -> Ordering {
    b.score
        .partial_cmp(&a.score)
        .unwrap_or(Ordering::Equal)
        .then(a.index.cmp(b.index))
        .then(a.doc.seq_no.cmp(&b.doc.seq_no))
}

/// `_source`: `false`, a field list or pattern, or `{"includes": […], "excludes": […]}`.
fn filter_source(source: &Value, filter: Option<&Value>) -> Option<Value> {
    let (includes, excludes): (Vec<String>, Vec<String>) = match filter {
        None | Some(Value::Bool(true)) => return Some(source.clone()),
        Some(Value::Bool(false)) => return None,
        Some(Value::String(one)) => (one.split(',').map(str::to_string).collect(), Vec::new()),
        Some(Value::Array(list)) => (list.iter().map(query::scalar_text).collect(), Vec::new()),
        Some(spec) => {
            let strings = |key: &str| {
                spec.get(key)
                    .and_then(Value::as_array)
                    .map(|l| l.iter().map(query::scalar_text).collect())
                    .unwrap_or_default()
            };
            (strings("includes"), strings("excludes"))
        }
    };
    Some(prune(source, "", &includes, &excludes))
}

fn path_matches(patterns: &[String], path: &str) -> bool {
    patterns.iter().any(|p| match p.strip_suffix('*') {
        Some(prefix) => path.starts_with(prefix),
        None => path == p || path.starts_with(&format!("{p}.")),
    })
}

fn prune(value: &Value, prefix: &str, includes: &[String], excludes: &[String]) -> Value {
    let Value::Object(map) = value else { return value.clone() };
    let mut out = Map::new();
    for (key, child) in map {
        let path = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
        if path_matches(excludes, &path) {
            continue;
        }
        let on_the_way = includes.iter().any(|p| p.starts_with(&format!("{path}.")));
        if includes.is_empty() || path_matches(includes, &path) {
            out.insert(key.clone(), prune(child, &path, &[], excludes));
        } else if on_the_way && child.is_object() {
            out.insert(key.clone(), prune(child, &path, includes, excludes));
        }
    }
    Value::Object(out)
}

/// Documents an aggregation runs over: each source with its index's mappings.
type AggDocs<'a> = Vec<(Value, &'a Value)>;

/// Computes the aggregations of `aggs` over documents (with their index's mappings); `nested`
/// is the nested path the documents stand for, inside a `nested` aggregation.
fn aggregate(aggs: &Map<String, Value>, docs: &[(Value, &Value)], nested: Option<&str>) -> Result<Value, EsError> {
    let mut out = Map::new();
    for (name, spec) in aggs {
        let subs = spec.get("aggs").or_else(|| spec.get("aggregations")).and_then(Value::as_object);
        let Some((kind, body)) =
            spec.as_object().and_then(|m| m.iter().find(|(k, _)| *k != "aggs" && *k != "aggregations"))
        else {
            return Err(errors::parsing(format!("Missing definition for aggregation [{name}]")));
        };
        let field = body.get("field").and_then(Value::as_str).unwrap_or_default();
        let terms_of = |source: &Value, mappings: &Value| -> Result<Vec<Value>, EsError> {
            let Some(info) = mapping::field(mappings, field).filter(|f| f.nested.as_deref() == nested) else {
                return Ok(Vec::new());
            };
            if info.is_text() {
                return Err(fielddata_error(field, "_all"));
            }
            let mut terms: Vec<Value> = query::values_at(source, &info.source_path)
                .iter()
                .filter_map(|v| query::indexed_term(&info, v))
                .collect();
            terms.dedup();
            Ok(terms)
        };
        let result = match kind.as_str() {
            "terms" => {
                let mut buckets: BTreeMap<String, (Value, AggDocs)> = BTreeMap::new();
                let mut info: Option<FieldInfo> = None;
                for (source, mappings) in docs {
                    info = info.or_else(|| mapping::field(mappings, field));
                    for term in terms_of(source, mappings)? {
                        let entry = buckets.entry(term.to_string()).or_insert_with(|| (term.clone(), Vec::new()));
                        entry.1.push((source.clone(), *mappings));
                    }
                }
                terms_buckets(buckets, body, subs, nested, info.as_ref())?
            }
            "nested" => {
                let path = body.get("path").and_then(Value::as_str).unwrap_or_default();
                let inner: AggDocs = docs
                    .iter()
                    .flat_map(|(s, m)| query::nested_objects(s, path).into_iter().map(move |n| (n, *m)))
                    .collect();
                let mut result = match subs {
                    Some(subs) => aggregate(subs, &inner, Some(path))?,
                    None => json!({}),
                };
                result["doc_count"] = json!(inner.len());
                result
            }
            "min" | "max" | "sum" | "avg" | "value_count" => {
                let mut numbers = Vec::new();
                for (source, mappings) in docs {
                    numbers.extend(terms_of(source, mappings)?.iter().filter_map(Value::as_f64));
                }
                let value = match kind.as_str() {
                    "min" => numbers.iter().copied().reduce(f64::min).map(Value::from),
                    "max" => numbers.iter().copied().reduce(f64::max).map(Value::from),
                    "sum" => Some(json!(numbers.iter().sum::<f64>())),
                    "avg" => (!numbers.is_empty()).then(|| json!(numbers.iter().sum::<f64>() / numbers.len() as f64)),
                    _ => Some(json!(numbers.len())),
                };
                json!({ "value": value })
            }
            other => return Err(errors::parsing(format!("Unknown aggregation type [{other}]"))),
        };
        out.insert(name.clone(), result);
    }
    Ok(Value::Object(out))
}

/// `terms` buckets: by document count (most first, then key) unless `order` says `_key`; `size`
/// of them (10 by default), the rest counted in `sum_other_doc_count`.
fn terms_buckets(
    buckets: BTreeMap<String, (Value, AggDocs)>,
    body: &Value,
    subs: Option<&Map<String, Value>>,
    nested: Option<&str>,
    info: Option<&FieldInfo>,
) -> Result<Value, EsError> {
    let size = body.get("size").and_then(Value::as_u64).unwrap_or(10) as usize;
    let min_doc_count = body.get("min_doc_count").and_then(Value::as_u64).unwrap_or(1) as usize;
    let by_key = body.get("order").and_then(|o| o.get("_key")).and_then(Value::as_str);
    let mut list: Vec<(Value, AggDocs)> = buckets.into_values().filter(|(_, d)| d.len() >= min_doc_count).collect();
    match by_key {
        Some(direction) => list.sort_by(|(a, _), (b, _)| {
            let order = query::compare_terms(a, b).unwrap_or(Ordering::Equal);
            if direction == "desc" {
                order.reverse()
            } else {
                order
            }
        }),
        None => list.sort_by(|(a, da), (b, db)| {
            db.len().cmp(&da.len()).then_with(|| query::compare_terms(a, b).unwrap_or(Ordering::Equal))
        }),
    }
    let other: usize = list.iter().skip(size).map(|(_, d)| d.len()).sum();
    let mut out = Vec::new();
    for (key, docs) in list.into_iter().take(size) {
        let mut bucket = match subs {
            Some(subs) => aggregate(subs, &docs, nested)?,
            None => json!({}),
        };
        match (info.map(|i| i.ty.as_str()), &key) {
            (Some("boolean"), Value::Bool(b)) => {
                bucket["key"] = json!(u8::from(*b));
                bucket["key_as_string"] = json!(b.to_string());
            }
            (Some("date" | "date_nanos"), Value::Number(n)) => {
                bucket["key"] = key.clone();
                let at = chrono::DateTime::from_timestamp_millis(n.as_i64().unwrap_or_default()).unwrap_or_default();
                bucket["key_as_string"] = json!(at.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string());
            }
            (Some(ty), Value::Number(n)) if !ty.contains("float") && ty != "double" => {
                bucket["key"] = json!(n.as_f64().unwrap_or_default() as i64);
            }
            _ => bucket["key"] = key.clone(),
        }
        bucket["doc_count"] = json!(docs.len());
        out.push(bucket);
    }
    Ok(json!({ "doc_count_error_upper_bound": 0, "sum_other_doc_count": other, "buckets": out }))
}
