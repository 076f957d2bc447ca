//! Mappings (elasticsearch-bulk.md §9.3): which field types exist, whether a document's values fit
//! the mapped types (with the servers' coercions: numeric strings into numbers, fractions truncated
//! into integers, `"true"` into booleans), dynamic mapping of new fields (`true` guesses a type and
//! extends the mapping, `false` keeps the value unindexed, `strict` refuses the document), and the
//! parse errors each flavour reports. Search asks here what type a (multi-)field path has.

use chrono::{NaiveDate, NaiveDateTime};
use serde_json::{json, Map, Value};

use super::errors::{self, EsError};
use super::Flavour;

/// Field types the simulator knows; values are checked for the common ones, accepted for the rest.
const TYPES: &[&str] = &[
    "text",
    "keyword",
    "long",
    "integer",
    "short",
    "byte",
    "double",
    "float",
    "half_float",
    "scaled_float",
    "unsigned_long",
    "boolean",
    "date",
    "date_nanos",
    "object",
    "nested",
    "ip",
    "binary",
    "geo_point",
    "match_only_text",
    "wildcard",
    "constant_keyword",
    "search_as_you_type",
    "token_count",
    "flattened",
    "flat_object",
    "dense_vector",
    "knn_vector",
    "alias",
    "completion",
    "version",
];
const INTEGERS: &[&str] = &["long", "integer", "short", "byte", "unsigned_long"];
const FLOATS: &[&str] = &["double", "float", "half_float", "scaled_float"];

/// What the search side needs to know about a field path.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FieldInfo {
    /// Where the value sits in `_source` (a multi-field reads its parent's value).
    pub source_path: String,
    pub ty: String,
    /// A keyword with a normalizer: the simulator treats every normalizer as `lowercase`.
    pub lowercase: bool,
    /// The innermost `nested` object the field lives in: only a `nested` query or aggregation on
    /// that path reaches it.
    pub nested: Option<String>,
}

impl FieldInfo {
    pub(crate) fn is_numeric(&self) -> bool {
        INTEGERS.contains(&self.ty.as_str()) || FLOATS.contains(&self.ty.as_str())
    }

    pub(crate) fn is_text(&self) -> bool {
        matches!(self.ty.as_str(), "text" | "match_only_text" | "search_as_you_type")
    }
}

/// The type of a field path (`title`, `title.raw`, `offers.price`), if mapped.
pub(crate) fn field(mappings: &Value, path: &str) -> Option<FieldInfo> {
    let mut node = mappings;
    let mut source = Vec::new();
    let mut nested = None;
    let mut parts = path.split('.').peekable();
    while let Some(part) = parts.next() {
        if let Some(child) = node.get("properties").and_then(|p| p.get(part)) {
            if node.get("type").and_then(Value::as_str) == Some("nested") {
                nested = Some(source.join("."));
            }
            source.push(part);
            node = child;
        } else if let Some(sub) = node.get("fields").and_then(|f| f.get(part)) {
            // A multi-field: indexed from its parent's value.
            parts.peek().is_none().then_some(())?;
            node = sub;
        } else {
            return None;
        }
    }
    let ty = node.get("type").and_then(Value::as_str).unwrap_or("object").to_string();
    Some(FieldInfo { source_path: source.join("."), ty, lowercase: node.get("normalizer").is_some(), nested })
}

/// Every field path of a mapping, multi-fields included, for `*` patterns in field lists.
pub(crate) fn field_paths(mappings: &Value) -> Vec<String> {
    fn walk(node: &Value, prefix: &str, out: &mut Vec<String>) {
        for key in ["properties", "fields"] {
            for (name, child) in node.get(key).and_then(Value::as_object).into_iter().flatten() {
                let path = if prefix.is_empty() { name.clone() } else { format!("{prefix}.{name}") };
                if child.get("type").is_some() {
                    out.push(path.clone());
                }
                walk(child, &path, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(mappings, "", &mut out);
    out
}

/// Checks a mapping definition: every field has a known type.
pub(crate) fn validate(mappings: &Value) -> Result<(), EsError> {
    fn walk(properties: &Map<String, Value>) -> Result<(), EsError> {
        for (name, def) in properties {
            let ty = def.get("type").and_then(Value::as_str);
            if let Some(ty) = ty {
                if !TYPES.contains(&ty) {
                    return Err(EsError::new(
                        400,
                        "mapper_parsing_exception",
                        format!("Failed to parse mapping: No handler for type [{ty}] declared on field [{name}]"),
                    ));
                }
            }
            if let Some(Value::Object(inner)) = def.get("properties") {
                walk(inner)?;
            }
            if let Some(Value::Object(fields)) = def.get("fields") {
                walk(fields)?;
            }
        }
        Ok(())
    }
    match mappings.get("properties") {
        Some(Value::Object(properties)) => walk(properties),
        _ => Ok(()),
    }
}

/// `PUT /{index}/_mapping`: new fields are added; a field's type cannot change.
pub(crate) fn merge(existing: &Value, addition: &Value) -> Result<Value, EsError> {
    fn walk(into: &mut Map<String, Value>, from: &Map<String, Value>) -> Result<(), EsError> {
        for (name, def) in from {
            match into.get_mut(name) {
                None => {
                    into.insert(name.clone(), def.clone());
                }
                Some(old) => {
                    let old_ty = old.get("type").and_then(Value::as_str).unwrap_or("object").to_string();
                    let new_ty = def.get("type").and_then(Value::as_str).unwrap_or("object");
                    if old_ty != new_ty {
                        return Err(errors::illegal_argument(format!(
                            "mapper [{name}] cannot be changed from type [{old_ty}] to [{new_ty}]"
                        )));
                    }
                    if let (Some(Value::Object(inner)), Some(Value::Object(more))) =
                        (old.get_mut("properties"), def.get("properties"))
                    {
                        walk(inner, more)?;
                    }
                }
            }
        }
        Ok(())
    }
    let mut merged = existing.clone();
    let Some(root) = merged.as_object_mut() else { return Ok(addition.clone()) };
    for (key, value) in addition.as_object().into_iter().flatten() {
        if key == "properties" {
            let into = root.entry("properties").or_insert_with(|| json!({}));
            if let (Some(into), Some(from)) = (into.as_object_mut(), value.as_object()) {
                walk(into, from)?;
            }
        } else {
            root.insert(key.clone(), value.clone());
        }
    }
    Ok(merged)
}

/// What happens to a field the mapping does not know.
#[derive(Clone, Copy, PartialEq)]
enum Dynamic {
    True,
    False,
    Strict,
}

impl Dynamic {
    fn of(def: &Value, inherited: Dynamic) -> Dynamic {
        match def.get("dynamic") {
            Some(Value::Bool(true)) => Dynamic::True,
            Some(Value::Bool(false)) => Dynamic::False,
            Some(Value::String(s)) if s == "true" => Dynamic::True,
            Some(Value::String(s)) if s == "strict" => Dynamic::Strict,
            // `runtime` fields are not indexed either.
            Some(Value::String(s)) if s == "false" || s == "runtime" => Dynamic::False,
            _ => inherited,
        }
    }
}

/// Checks one document against a mapping. `Ok(Some(m))`: the document fits and dynamic mapping
/// extended the mapping to `m`; `Ok(None)`: it fits as is.
pub(crate) fn check_document(
    mappings: &Value,
    source: &Value,
    id: &str,
    flavour: Flavour,
    raw: &str,
) -> Result<Option<Value>, EsError> {
    let Value::Object(doc) = source else {
        return Err(Checker { flavour, id, raw }.parse_failure("failed to parse, document is empty", None));
    };
    let mut updated = mappings.clone();
    if !updated.is_object() {
        updated = json!({});
    }
    let date_detection = mappings.get("date_detection").and_then(Value::as_bool).unwrap_or(true);
    let checker = Checker { flavour, id, raw };
    let dynamic = Dynamic::of(mappings, Dynamic::True);
    checker.object(&mut updated, doc, "", dynamic, date_detection)?;
    Ok((updated != *mappings).then_some(updated))
}

/// The error a document that is not a JSON object gets.
pub(crate) fn unparsable(flavour: Flavour, id: &str, raw: &str, cause: EsError) -> EsError {
    Checker { flavour, id, raw }.parse_failure("failed to parse", None).caused_by(cause)
}

/// The error a document gets as if its first field did not fit its type: for injected faults.
pub(crate) fn forced_failure(mappings: &Value, source: &Value, id: &str, flavour: Flavour, raw: &str) -> EsError {
    let checker = Checker { flavour, id, raw };
    let Some((name, value)) = source.as_object().and_then(|m| m.iter().next()) else {
        return checker.parse_failure("failed to parse, document is empty", None);
    };
    let ty = field(mappings, name).map_or_else(|| "long".to_string(), |f| f.ty);
    checker.field_failure(
        name,
        &ty,
        value,
        errors::illegal_argument(format!("For input string: \"{}\"", preview(value))),
    )
}

struct Checker<'a> {
    flavour: Flavour,
    id: &'a str,
    raw: &'a str,
}

impl Checker<'_> {
    /// `document_parsing_exception` (Elasticsearch, reason prefixed with `[line:column]`) or
    /// `mapper_parsing_exception` (OpenSearch); `near` is the field whose value is at fault.
    fn parse_failure(&self, reason: &str, near: Option<&str>) -> EsError {
        match self.flavour {
            Flavour::Elasticsearch => {
                let (line, column) = position(self.raw, near);
                EsError::new(400, "document_parsing_exception", format!("[{line}:{column}] {reason}"))
            }
            Flavour::OpenSearch => EsError::new(400, "mapper_parsing_exception", reason),
        }
    }

    fn field_failure(&self, path: &str, ty: &str, value: &Value, cause: EsError) -> EsError {
        let key = path.rsplit('.').next().unwrap_or(path);
        let reason = format!(
            "failed to parse field [{path}] of type [{ty}] in document with id '{}'. Preview of field's value: '{}'",
            self.id,
            preview(value)
        );
        self.parse_failure(&reason, Some(key)).caused_by(cause)
    }

    /// Checks the fields of an object whose mapping is `def` (a mapping root or an object field),
    /// adding dynamic fields to `def`.
    fn object(
        &self,
        def: &mut Value,
        object: &Map<String, Value>,
        prefix: &str,
        inherited: Dynamic,
        date_detection: bool,
    ) -> Result<(), EsError> {
        let dynamic = Dynamic::of(def, inherited);
        for (key, value) in object {
            let path = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
            if value.is_null() {
                continue;
            }
            let known = def.get("properties").and_then(|p| p.get(key)).is_some();
            if !known {
                match dynamic {
                    Dynamic::False => continue,
                    Dynamic::Strict => {
                        let within = if prefix.is_empty() { "_doc" } else { prefix };
                        let reason = format!(
                            "mapping set to strict, dynamic introduction of [{key}] within [{within}] is not allowed"
                        );
                        let mut error = self.parse_failure(&reason, Some(key));
                        error.kind = "strict_dynamic_mapping_exception".into();
                        return Err(error);
                    }
                    Dynamic::True => {
                        let Some(guess) = guess(value, date_detection) else { continue };
                        let properties =
                            def.as_object_mut().map(|d| d.entry("properties").or_insert_with(|| json!({})));
                        if let Some(Value::Object(properties)) = properties {
                            properties.insert(key.clone(), guess);
                        }
                    }
                }
            }
            let Some(field_def) = def.get_mut("properties").and_then(|p| p.get_mut(key)) else { continue };
            self.value(field_def, value, &path, dynamic, date_detection)?;
        }
        Ok(())
    }

    fn value(
        &self,
        def: &mut Value,
        value: &Value,
        path: &str,
        dynamic: Dynamic,
        date_detection: bool,
    ) -> Result<(), EsError> {
        let ty = def.get("type").and_then(Value::as_str).unwrap_or("object").to_string();
        match value {
            Value::Null => Ok(()),
            Value::Array(items) => {
                items.iter().try_for_each(|item| self.value(def, item, path, dynamic, date_detection))
            }
            Value::Object(inner) if ty == "object" || ty == "nested" => {
                self.object(def, inner, path, dynamic, date_detection)
            }
            _ if ty == "object" || ty == "nested" => {
                let key = path.rsplit('.').next().unwrap_or(path);
                let reason = format!(
                    "object mapping for [{path}] tried to parse field [{key}] as object, but found a concrete value"
                );
                Err(self.parse_failure(&reason, Some(key)))
            }
            _ => match fits(&ty, value) {
                Ok(()) => Ok(()),
                Err(cause) => Err(self.field_failure(path, &ty, value, cause)),
            },
        }
    }
}

/// Whether a scalar (or an object, for scalar types) fits a field type; the error is the `caused_by`.
fn fits(ty: &str, value: &Value) -> Result<(), EsError> {
    let input = || errors::illegal_argument(format!("For input string: \"{}\"", preview(value)));
    if let Value::Object(_) = value {
        if ty == "flattened" || ty == "flat_object" || ty == "geo_point" {
            return Ok(());
        }
        return Err(EsError::new(500, "illegal_state_exception", "Can't get text on a START_OBJECT"));
    }
    if INTEGERS.contains(&ty) || FLOATS.contains(&ty) {
        let number = match value {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => s.trim().parse::<f64>().ok(),
            _ => None,
        };
        let Some(number) = number.filter(|n| n.is_finite()) else {
            return Err(if FLOATS.contains(&ty) {
                EsError::new(400, "number_format_exception", format!("For input string: \"{}\"", preview(value)))
            } else {
                input()
            });
        };
        let range = match ty {
            "long" => Some((i64::MIN as f64, i64::MAX as f64, "a long")),
            "integer" => Some((i32::MIN as f64, i32::MAX as f64, "an integer")),
            "short" => Some((i16::MIN as f64, i16::MAX as f64, "a short")),
            "byte" => Some((i8::MIN as f64, i8::MAX as f64, "a byte")),
            "unsigned_long" => Some((0.0, u64::MAX as f64, "an unsigned long")),
            _ => None,
        };
        if let Some((min, max, name)) = range {
            if number.trunc() < min || number.trunc() > max {
                return Err(errors::illegal_argument(format!("Value [{}] is out of range for {name}", preview(value))));
            }
        }
        return Ok(());
    }
    match ty {
        "boolean" => match value {
            Value::Bool(_) => Ok(()),
            Value::String(s) if s == "true" || s == "false" || s.is_empty() => Ok(()),
            _ => Err(errors::illegal_argument(format!(
                "Failed to parse value [{}] as only [true] or [false] are allowed.",
                preview(value)
            ))),
        },
        "date" | "date_nanos" => match date_millis(value) {
            Some(_) => Ok(()),
            None => Err(errors::illegal_argument(format!(
                "failed to parse date field [{}] with format [strict_date_optional_time||epoch_millis]",
                preview(value)
            ))),
        },
        _ => Ok(()),
    }
}

/// The mapping dynamic mapping gives a new field, from its first non-null value.
fn guess(value: &Value, date_detection: bool) -> Option<Value> {
    Some(match value {
        Value::Null => return None,
        Value::Array(items) => return items.iter().find_map(|i| guess(i, date_detection)),
        Value::Bool(_) => json!({ "type": "boolean" }),
        Value::Number(n) if n.is_i64() || n.is_u64() => json!({ "type": "long" }),
        Value::Number(_) => json!({ "type": "float" }),
        Value::String(s) if date_detection && s.len() >= 10 && iso_date(s).is_some() => json!({ "type": "date" }),
        Value::String(_) => {
            json!({ "type": "text", "fields": { "keyword": { "type": "keyword", "ignore_above": 256 } } })
        }
        Value::Object(_) => json!({ "properties": {} }),
    })
}

/// Milliseconds since the epoch of a date value: epoch millis (number or numeric string) or
/// `strict_date_optional_time`.
pub(crate) fn date_millis(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Value::String(s) => s.parse::<i64>().ok().or_else(|| iso_date(s)),
        _ => None,
    }
}

/// `yyyy`, `yyyy-MM`, `yyyy-MM-dd`, optionally `THH:mm[:ss[.SSS]]` and `Z` or `±HH:mm`.
fn iso_date(text: &str) -> Option<i64> {
    let (date, time) = match text.split_once('T') {
        Some((d, t)) => (d, Some(t)),
        None => (text, None),
    };
    let mut parts = date.split('-');
    let year: i32 = parts.next().filter(|y| y.len() == 4)?.parse().ok()?;
    let month: u32 = parts.next().map_or(Some(1), |m| m.parse().ok().filter(|_| m.len() == 2))?;
    let day: u32 = parts.next().map_or(Some(1), |d| d.parse().ok().filter(|_| d.len() == 2))?;
    if parts.next().is_some() {
        return None;
    }
    let date = NaiveDate::from_ymd_opt(year, month, day)?;
    let Some(time) = time else { return Some(date.and_hms_opt(0, 0, 0)?.and_utc().timestamp_millis()) };
    let (clock, offset_secs) = if let Some(clock) = time.strip_suffix('Z') {
        (clock, 0)
    } else if let Some(at) = time.rfind(['+', '-']) {
        let (clock, zone) = time.split_at(at);
        let sign = if zone.starts_with('-') { -1 } else { 1 };
        let digits: String = zone[1..].chars().filter(char::is_ascii_digit).collect();
        if digits.len() != 4 {
            return None;
        }
        let hours: i64 = digits[..2].parse().ok()?;
        let minutes: i64 = digits[2..].parse().ok()?;
        (clock, sign * (hours * 3600 + minutes * 60))
    } else {
        (time, 0)
    };
    let format = match clock.len() {
        5 => "%H:%M",
        8 => "%H:%M:%S",
        _ => "%H:%M:%S%.f",
    };
    let clock = chrono::NaiveTime::parse_from_str(clock, format).ok()?;
    let local: NaiveDateTime = date.and_time(clock);
    Some(local.and_utc().timestamp_millis() - offset_secs * 1000)
}

/// A value as the servers preview it in parse errors (objects in Java's map notation).
fn preview(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Object(map) => {
            let inner: Vec<String> = map.iter().map(|(k, v)| format!("{k}={}", preview(v))).collect();
            format!("{{{}}}", inner.join(", "))
        }
        Value::Array(items) => format!("[{}]", items.iter().map(preview).collect::<Vec<_>>().join(", ")),
        other => other.to_string(),
    }
}

/// `line:column` (1-based) of the value of the first `"key":` in the raw document text, where a
/// parser would stop; `1:1` when it cannot be found.
fn position(raw: &str, key: Option<&str>) -> (usize, usize) {
    let Some(key) = key else { return (1, 1) };
    let quoted = format!("\"{key}\"");
    let Some(at) = raw.find(&quoted) else { return (1, 1) };
    let after = &raw[at + quoted.len()..];
    let colon = after.find(':').map_or(0, |c| c + 1);
    let value_at = at + quoted.len() + colon + (after[colon..].len() - after[colon..].trim_start().len());
    let before = &raw[..value_at];
    let line = before.matches('\n').count() + 1;
    let column = before.rfind('\n').map_or(value_at, |nl| value_at - nl - 1) + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_parse_in_the_default_formats_only() {
        assert_eq!(date_millis(&json!("1970-01-02")), Some(86_400_000));
        assert_eq!(date_millis(&json!("1970-01-01T00:00:01Z")), Some(1000));
        assert_eq!(date_millis(&json!("1970-01-01T01:00:00+01:00")), Some(0));
        assert_eq!(date_millis(&json!("1970-01-01T00:00:00.250")), Some(250));
        assert_eq!(date_millis(&json!(1234)), Some(1234));
        assert_eq!(date_millis(&json!("yesterday")), None);
        assert_eq!(date_millis(&json!("01/02/2024")), None);
    }

    #[test]
    fn multi_fields_read_their_parents_value() {
        let mappings = json!({"properties": {
            "title": {"type": "text", "fields": {"raw": {"type": "keyword", "normalizer": "lower"}}},
            "offers": {"type": "nested", "properties": {"price": {"type": "scaled_float", "scaling_factor": 100}}}}});
        let raw = field(&mappings, "title.raw").unwrap();
        assert_eq!((raw.source_path.as_str(), raw.ty.as_str(), raw.lowercase), ("title", "keyword", true));
        assert_eq!(field(&mappings, "offers.price").unwrap().source_path, "offers.price");
        assert_eq!(field(&mappings, "title.raw.x"), None);
        assert_eq!(field(&mappings, "missing"), None);
    }

    #[test]
    fn the_position_points_at_the_offending_value() {
        assert_eq!(position(r#"{"a":1,"price": "x"}"#, Some("price")), (1, 17));
        assert_eq!(position("{\n  \"price\": \"x\"\n}", Some("price")), (2, 12));
    }
}
