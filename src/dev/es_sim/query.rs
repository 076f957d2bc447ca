//! The query DSL the simulator understands (elasticsearch-bulk.md §11.1): `match_all`,
//! `match_none`, `match` and `multi_match` on text fields (lowercased words; the score counts the
//! query's words a field has, times boosts), `term`/`terms` (exact, through a keyword's
//! normalizer), `range`, `exists`, `ids`, `bool` and `nested`. Fields inside a `nested` mapping are
//! reached only through a `nested` query, as on the servers. `fuzziness` is accepted and ignored.

use std::cmp::Ordering;

use serde_json::{Map, Value};

use super::errors::{self, EsError};
use super::mapping::{self, FieldInfo};

pub(crate) enum Query {
    MatchAll {
        boost: f64,
    },
    MatchNone,
    Match {
        fields: Vec<(String, f64)>,
        text: String,
        all: bool,
        boost: f64,
    },
    Term {
        field: String,
        values: Vec<Value>,
        boost: f64,
    },
    Range {
        field: String,
        bounds: Vec<(Ordering, bool, Value)>,
        boost: f64,
    },
    Exists {
        field: String,
    },
    Ids {
        values: Vec<String>,
    },
    Bool {
        must: Vec<Query>,
        filter: Vec<Query>,
        should: Vec<Query>,
        must_not: Vec<Query>,
        minimum_should: Option<usize>,
        boost: f64,
    },
    Nested {
        path: String,
        query: Box<Query>,
    },
}

/// One document as a query sees it; inside a `nested` query, `source` is the root document with
/// the nested array replaced by one of its objects, and `nested` names that path.
pub(crate) struct Target<'a> {
    pub id: &'a str,
    pub source: &'a Value,
    pub mappings: &'a Value,
    pub nested: Option<&'a str>,
}

impl Target<'_> {
    /// A field's mapping, if the query can reach it from here.
    pub(crate) fn field(&self, path: &str) -> Option<FieldInfo> {
        mapping::field(self.mappings, path).filter(|f| f.nested.as_deref() == self.nested)
    }
}

fn boost_of(spec: &Value) -> f64 {
    spec.get("boost").and_then(Value::as_f64).unwrap_or(1.0)
}

/// `{"field": value}` or `{"field": {"<key>": value, …}}`: the field and the full spec.
fn field_spec<'a>(body: &'a Value, kind: &str) -> Result<(&'a String, &'a Value), EsError> {
    match body.as_object().map(|m| m.iter().collect::<Vec<_>>()).as_deref() {
        Some([(field, spec)]) => Ok((field, spec)),
        _ => Err(errors::parsing(format!("[{kind}] query doesn't support multiple fields, found more than one"))),
    }
}

fn list(body: &Value, key: &str) -> Result<Vec<Query>, EsError> {
    match body.get(key) {
        None => Ok(Vec::new()),
        Some(Value::Array(items)) => items.iter().map(Query::parse).collect(),
        Some(one) => Ok(vec![Query::parse(one)?]),
    }
}

impl Query {
    pub(crate) fn parse(value: &Value) -> Result<Query, EsError> {
        let Some((kind, body)) = value.as_object().and_then(|m| m.iter().next()) else {
            return Err(errors::parsing("query malformed, empty clause found"));
        };
        Ok(match kind.as_str() {
            "match_all" => Query::MatchAll { boost: boost_of(body) },
            "match_none" => Query::MatchNone,
            "match" => {
                let (field, spec) = field_spec(body, kind)?;
                let text = spec.get("query").unwrap_or(spec);
                Query::Match {
                    fields: vec![(field.clone(), 1.0)],
                    text: scalar_text(text),
                    all: spec.get("operator").and_then(Value::as_str).is_some_and(|o| o.eq_ignore_ascii_case("and")),
                    boost: boost_of(spec),
                }
            }
            "multi_match" => {
                let fields = match body.get("fields") {
                    Some(Value::Array(fields)) => fields.iter().filter_map(Value::as_str).map(weighted).collect(),
                    Some(Value::String(field)) => vec![weighted(field)],
                    _ => vec![("*".to_string(), 1.0)],
                };
                Query::Match {
                    fields,
                    text: scalar_text(body.get("query").unwrap_or(&Value::Null)),
                    all: body.get("operator").and_then(Value::as_str).is_some_and(|o| o.eq_ignore_ascii_case("and")),
                    boost: boost_of(body),
                }
            }
            "term" => {
                let (field, spec) = field_spec(body, kind)?;
                let value =
                    if spec.is_object() { spec.get("value").cloned().unwrap_or(Value::Null) } else { spec.clone() };
                Query::Term { field: field.clone(), values: vec![value], boost: boost_of(spec) }
            }
            "terms" => {
                let (field, values) = body
                    .as_object()
                    .and_then(|m| m.iter().find(|(k, _)| *k != "boost"))
                    .ok_or_else(|| errors::parsing("[terms] query requires a field"))?;
                let Value::Array(values) = values else {
                    return Err(errors::parsing(format!("[terms] query does not support [{field}]")));
                };
                Query::Term { field: field.clone(), values: values.clone(), boost: boost_of(body) }
            }
            "range" => {
                let (field, spec) = field_spec(body, kind)?;
                let mut bounds = Vec::new();
                for (key, (side, inclusive)) in [
                    ("gt", (Ordering::Greater, false)),
                    ("gte", (Ordering::Greater, true)),
                    ("lt", (Ordering::Less, false)),
                    ("lte", (Ordering::Less, true)),
                ] {
                    if let Some(v) = spec.get(key).filter(|v| !v.is_null()) {
                        bounds.push((side, inclusive, v.clone()));
                    }
                }
                Query::Range { field: field.clone(), bounds, boost: boost_of(spec) }
            }
            "exists" => Query::Exists { field: scalar_text(body.get("field").unwrap_or(&Value::Null)) },
            "ids" => Query::Ids {
                values: body.get("values").and_then(Value::as_array).into_iter().flatten().map(scalar_text).collect(),
            },
            "bool" => Query::Bool {
                must: list(body, "must")?,
                filter: list(body, "filter")?,
                should: list(body, "should")?,
                must_not: list(body, "must_not")?,
                minimum_should: body
                    .get("minimum_should_match")
                    .and_then(|m| m.as_u64().or_else(|| m.as_str()?.parse().ok()))
                    .map(|m| m as usize),
                boost: boost_of(body),
            },
            "nested" => Query::Nested {
                path: scalar_text(body.get("path").unwrap_or(&Value::Null)),
                query: Box::new(Query::parse(body.get("query").unwrap_or(&Value::Null))?),
            },
            other => return Err(errors::parsing(format!("unknown query [{other}]"))),
        })
    }

    /// The score of a matching document, `None` when it does not match.
    pub(crate) fn score(&self, doc: &Target) -> Option<f64> {
        match self {
            Query::MatchAll { boost } => Some(*boost),
            Query::MatchNone => None,
            Query::Match { fields, text, all, boost } => {
                let words = tokens(text);
                let mut best: Option<f64> = None;
                for (pattern, weight) in fields {
                    for path in expand(pattern, doc.mappings) {
                        if let Some(score) = match_field(doc, &path, text, &words, *all) {
                            best = Some(best.map_or(score * weight, |b| b.max(score * weight)));
                        }
                    }
                }
                best.map(|s| s * boost)
            }
            Query::Term { field, values, boost } => {
                let info = doc.field(field)?;
                let stored = values_at(doc.source, &info.source_path);
                let hit = stored.iter().any(|s| values.iter().any(|v| term_equals(&info, s, v)));
                hit.then_some(*boost)
            }
            Query::Range { field, bounds, boost } => {
                let info = doc.field(field)?;
                let inside = |stored: &&Value| {
                    bounds.iter().all(|(side, inclusive, bound)| match compare(&info, stored, bound) {
                        Some(Ordering::Equal) => *inclusive,
                        Some(order) => order == *side,
                        None => false,
                    })
                };
                values_at(doc.source, &info.source_path).iter().any(inside).then_some(*boost)
            }
            Query::Exists { field } => {
                let info = doc.field(field)?;
                values_at(doc.source, &info.source_path).iter().any(|v| !v.is_null()).then_some(1.0)
            }
            Query::Ids { values } => values.iter().any(|v| v == doc.id).then_some(1.0),
            Query::Bool { must, filter, should, must_not, minimum_should, boost } => {
                let mut score = 0.0;
                for q in must {
                    score += q.score(doc)?;
                }
                if filter.iter().any(|q| q.score(doc).is_none()) || must_not.iter().any(|q| q.score(doc).is_some()) {
                    return None;
                }
                let matched: Vec<f64> = should.iter().filter_map(|q| q.score(doc)).collect();
                let required =
                    minimum_should.unwrap_or(usize::from(must.is_empty() && filter.is_empty() && !should.is_empty()));
                if matched.len() < required {
                    return None;
                }
                score += matched.iter().sum::<f64>();
                Some(score * boost)
            }
            Query::Nested { path, query } => nested_objects(doc.source, path)
                .iter()
                .filter_map(|source| {
                    query.score(&Target { id: doc.id, source, mappings: doc.mappings, nested: Some(path) })
                })
                .reduce(f64::max),
        }
    }
}

/// `title^3` → (`title`, 3.0).
fn weighted(field: &str) -> (String, f64) {
    match field.split_once('^') {
        Some((name, weight)) => (name.to_string(), weight.parse().unwrap_or(1.0)),
        None => (field.to_string(), 1.0),
    }
}

/// The mapped fields a field pattern (`title`, `title*`, `*`) names.
fn expand(pattern: &str, mappings: &Value) -> Vec<String> {
    if !pattern.contains('*') {
        return vec![pattern.to_string()];
    }
    let (head, tail) = pattern.split_once('*').unwrap_or((pattern, ""));
    mapping::field_paths(mappings).into_iter().filter(|p| p.starts_with(head) && p.ends_with(tail)).collect()
}

/// `match` on one field: text fields by words (any, or all with `operator: and`), other fields
/// by their whole value.
fn match_field(doc: &Target, path: &str, text: &str, words: &[String], all: bool) -> Option<f64> {
    let info = doc.field(path)?;
    let stored = values_at(doc.source, &info.source_path);
    if !info.is_text() {
        let wanted = Value::String(text.to_string());
        return stored.iter().any(|s| term_equals(&info, s, &wanted)).then_some(1.0);
    }
    let have: Vec<String> = stored.iter().flat_map(|s| tokens(&scalar_text(s))).collect();
    let found = words.iter().filter(|w| have.contains(w)).count();
    let enough = if all { found == words.len() } else { found > 0 };
    (enough && found > 0).then_some(found as f64)
}

/// Lowercased words: what the standard analyzer makes of a text, near enough.
pub(crate) fn tokens(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_lowercase).collect()
}

/// A scalar as text (strings unquoted).
pub(crate) fn scalar_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The values at a dotted path, arrays flattened at every level.
pub(crate) fn values_at<'a>(source: &'a Value, path: &str) -> Vec<&'a Value> {
    let mut current = vec![source];
    for part in path.split('.') {
        let mut next = Vec::new();
        for value in current {
            collect(value.get(part), &mut next);
        }
        current = next;
    }
    current
}

fn collect<'a>(value: Option<&'a Value>, out: &mut Vec<&'a Value>) {
    match value {
        Some(Value::Array(items)) => items.iter().for_each(|i| collect(Some(i), out)),
        Some(Value::Null) | None => {}
        Some(v) => out.push(v),
    }
}

/// The root document once per object of the nested array at `path`, that array replaced by the object.
pub(crate) fn nested_objects(source: &Value, path: &str) -> Vec<Value> {
    let (head, rest) = match path.split_once('.') {
        Some((head, rest)) => (head, Some(rest)),
        None => (path, None),
    };
    let Some(Value::Object(root)) = Some(source) else { return Vec::new() };
    let inner: Vec<Value> = match (root.get(head), rest) {
        (Some(Value::Array(items)), None) => items.iter().filter(|i| i.is_object()).cloned().collect(),
        (Some(item @ Value::Object(_)), None) => vec![item.clone()],
        (Some(child), Some(rest)) => nested_objects(child, rest),
        _ => Vec::new(),
    };
    inner
        .into_iter()
        .map(|one| {
            let mut copy: Map<String, Value> = root.clone();
            copy.insert(head.to_string(), one);
            Value::Object(copy)
        })
        .collect()
}

/// A stored value as the term a field indexes, or `None` for text (which indexes words).
pub(crate) fn indexed_term(info: &FieldInfo, value: &Value) -> Option<Value> {
    if info.is_text() {
        return None;
    }
    if info.is_numeric() {
        return number(value).map(Value::from);
    }
    match info.ty.as_str() {
        "boolean" => boolean(value).map(Value::Bool),
        "date" | "date_nanos" => mapping::date_millis(value).map(Value::from),
        _ => {
            let text = scalar_text(value);
            Some(Value::String(if info.lowercase { text.to_lowercase() } else { text }))
        }
    }
}

fn number(value: &Value) -> Option<f64> {
    value.as_f64().or_else(|| value.as_str()?.trim().parse().ok())
}

fn boolean(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s == "true" => Some(true),
        Value::String(s) if s == "false" || s.is_empty() => Some(false),
        _ => None,
    }
}

/// `term` semantics: the query value, unanalyzed (but normalized), against what the field indexed.
fn term_equals(info: &FieldInfo, stored: &Value, wanted: &Value) -> bool {
    if info.is_text() {
        return tokens(&scalar_text(stored)).contains(&scalar_text(wanted));
    }
    compare(info, stored, wanted) == Some(Ordering::Equal)
}

/// Orders a stored value against a query value by the field's type.
fn compare(info: &FieldInfo, stored: &Value, wanted: &Value) -> Option<Ordering> {
    let stored = indexed_term(info, stored)?;
    let wanted = if info.ty.starts_with("date") {
        match wanted.as_str() {
            Some("now") => Value::from(chrono::Utc::now().timestamp_millis()),
            _ => mapping::date_millis(wanted).map(Value::from)?,
        }
    } else {
        indexed_term(info, wanted)?
    };
    compare_terms(&stored, &wanted)
}

/// Terms of one field: numbers by value, everything else as text.
pub(crate) fn compare_terms(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64()?.partial_cmp(&y.as_f64()?),
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        _ => None,
    }
}
