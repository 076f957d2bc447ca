//! Indices, their settings and aliases (elasticsearch-bulk.md §§9–10): create (with settings,
//! mappings and aliases), get, exists, delete; settings kept as the flat `index.*` keys the servers
//! store, dynamic ones changeable, static ones refused on an open index; `_aliases` applied
//! atomically; how a name resolves for writes (an alias to its one write index; an unknown name to
//! a new index) and for reads (every index it names); refresh, which is what makes writes
//! searchable.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};

use super::api::{Incoming, Reply};
use super::errors::{self, EsError};
use super::mapping;
use super::{State, StoredDoc};

/// A stored document.
#[derive(Debug, Clone)]
pub(crate) struct Doc {
    pub source: Value,
    pub version: u64,
    pub seq_no: u64,
}

impl Doc {
    pub(crate) fn stored(&self) -> StoredDoc {
        StoredDoc { source: self.source.clone(), version: self.version, seq_no: self.seq_no }
    }
}

/// What a delete leaves behind for `index.gc_deletes`, so that writes can still be ordered against it.
#[derive(Debug, Clone)]
pub(crate) struct Tombstone {
    pub version: u64,
    pub at: Instant,
}

/// An alias's properties on one index.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct AliasProps {
    /// `None` when not given: then the index is the write index only if the alias has no other.
    pub is_write_index: Option<bool>,
}

pub(crate) struct Index {
    pub name: String,
    pub uuid: String,
    /// Flat keys (`index.number_of_replicas`); values are strings or lists of strings, as stored.
    pub settings: BTreeMap<String, Value>,
    pub mappings: Value,
    pub aliases: BTreeMap<String, AliasProps>,
    /// Live documents: what a real-time get sees.
    pub docs: BTreeMap<String, Doc>,
    /// Documents as of the last refresh: what search and count see.
    pub searchable: BTreeMap<String, Doc>,
    pub tombstones: HashMap<String, Tombstone>,
    pub next_seq_no: u64,
    pub last_refresh: Instant,
}

impl Index {
    /// A dynamic time setting, or its default.
    fn time_setting(&self, key: &str, default: Duration) -> Option<Duration> {
        match self.settings.get(key).and_then(Value::as_str) {
            Some(text) => parse_time(text).ok().flatten(),
            None => Some(default),
        }
    }

    /// `index.gc_deletes`: how long a delete's version is remembered.
    pub(crate) fn gc_deletes(&self) -> Duration {
        self.time_setting("index.gc_deletes", Duration::from_secs(60)).unwrap_or(Duration::ZERO)
    }

    pub(crate) fn replicas(&self) -> u64 {
        self.settings.get("index.number_of_replicas").and_then(Value::as_str).and_then(|s| s.parse().ok()).unwrap_or(1)
    }

    /// `_shards` of a write: the primary and its replicas, of which only the primary is assigned on one node.
    pub(crate) fn write_shards(&self) -> Value {
        json!({ "total": 1 + self.replicas(), "successful": 1, "failed": 0 })
    }

    pub(crate) fn refresh(&mut self, now: Instant) {
        self.searchable = self.docs.clone();
        self.last_refresh = now;
    }

    /// The periodic refresh, done lazily: when a read comes and the interval has passed. (A real
    /// shard that saw no search for a while also refreshes on the next search.) `-1` turns it off.
    pub(crate) fn refresh_if_due(&mut self, now: Instant) {
        if let Some(interval) = self.time_setting("index.refresh_interval", Duration::from_secs(1)) {
            if now.duration_since(self.last_refresh) >= interval {
                self.refresh(now);
            }
        }
    }

    /// The tombstone of `id` if it is still within `index.gc_deletes`; older ones are forgotten.
    pub(crate) fn live_tombstone(&mut self, id: &str, now: Instant) -> Option<Tombstone> {
        let gc = self.gc_deletes();
        self.tombstones.retain(|_, t| now.duration_since(t.at) < gc);
        self.tombstones.get(id).cloned()
    }
}

/// `1s`, `500ms`, `2m`, `1h`, `1d`; `-1` is `None` (off).
pub(crate) fn parse_time(text: &str) -> Result<Option<Duration>, ()> {
    if text == "-1" {
        return Ok(None);
    }
    let split = text.find(|c: char| !c.is_ascii_digit()).ok_or(())?;
    let (number, unit) = text.split_at(split);
    let n: u64 = number.parse().map_err(|_| ())?;
    let ms = match unit {
        "nanos" => return Ok(Some(Duration::from_nanos(n))),
        "micros" => return Ok(Some(Duration::from_micros(n))),
        "ms" => n,
        "s" => n * 1000,
        "m" => n * 60_000,
        "h" => n * 3_600_000,
        "d" => n * 86_400_000,
        _ => return Err(()),
    };
    Ok(Some(Duration::from_millis(ms)))
}

/// The index-name rules the servers enforce (§2).
fn check_index_name(name: &str) -> Result<(), EsError> {
    let invalid = |why: &str| {
        Err(EsError::new(400, "invalid_index_name_exception", format!("Invalid index name [{name}], {why}"))
            .with("index_uuid", "_na_")
            .with("index", name))
    };
    if name.chars().any(|c| c.is_ascii_uppercase()) {
        return invalid("must be lowercase");
    }
    if name.chars().any(|c| "\\/*?\"<>| ,#:".contains(c)) {
        return invalid("must not contain the following characters [ , \", *, \\, <, |, ,, >, /, ?]");
    }
    if name.starts_with(['_', '-', '+']) {
        return invalid("must not start with '_', '-', or '+'");
    }
    if name == "." || name == ".." {
        return invalid("must not be '.' or '..'");
    }
    if name.len() > 255 {
        return invalid("index name is too long, (256 > 255)");
    }
    Ok(())
}

/// Settings that can be changed on an open index; everything else `index.*` known is fixed at creation.
const DYNAMIC_SETTINGS: &[&str] = &[
    "index.number_of_replicas",
    "index.refresh_interval",
    "index.gc_deletes",
    "index.max_result_window",
    "index.mapping.total_fields.limit",
    "index.mapping.nested_objects.limit",
    "index.blocks.write",
    "index.blocks.read_only",
    "index.blocks.read_only_allow_delete",
    "index.auto_expand_replicas",
    "index.translog.durability",
    "index.search.idle.after",
];
const STATIC_SETTINGS: &[&str] = &["index.number_of_shards", "index.codec"];
/// Families of static settings kept verbatim.
const STATIC_PREFIXES: &[&str] = &["index.analysis.", "index.sort.", "index.similarity."];

/// Flattens a settings body (`{"index": {"refresh_interval": "1s"}}`, `{"index.refresh_interval": …}`
/// or `{"refresh_interval": …}`) into `index.*` keys; `null` values stay, meaning "reset".
fn flatten_settings(body: &Value) -> BTreeMap<String, Value> {
    fn walk(prefix: &str, value: &Value, out: &mut BTreeMap<String, Value>) {
        match value {
            Value::Object(map) => {
                for (key, value) in map {
                    walk(&format!("{prefix}{key}."), value, out);
                }
            }
            leaf => {
                let key = prefix.trim_end_matches('.');
                let key = if key.starts_with("index.") { key.to_string() } else { format!("index.{key}") };
                let stored = match leaf {
                    Value::Array(items) => Value::Array(items.iter().map(|i| Value::String(setting_text(i))).collect()),
                    Value::Null => Value::Null,
                    other => Value::String(setting_text(other)),
                };
                out.insert(key, stored);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk("", body, &mut out);
    out
}

fn setting_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Checks each setting's name and value; `creating` allows the static ones.
fn check_settings(settings: &BTreeMap<String, Value>, creating: bool, index: Option<&Index>) -> Result<(), EsError> {
    let mut fixed = Vec::new();
    for (key, value) in settings {
        let dynamic = DYNAMIC_SETTINGS.contains(&key.as_str());
        let fixed_one = STATIC_SETTINGS.contains(&key.as_str()) || STATIC_PREFIXES.iter().any(|p| key.starts_with(p));
        if !dynamic && !fixed_one {
            return Err(errors::illegal_argument(format!(
                "unknown setting [{key}] please check that any required plugins are installed, or check the \
                 breaking changes documentation for removed settings"
            )));
        }
        if fixed_one && !creating {
            fixed.push(key.clone());
        }
        let text = value.as_str().unwrap_or_default();
        let bad_value = match key.as_str() {
            "index.refresh_interval" | "index.gc_deletes" | "index.search.idle.after" if !value.is_null() => {
                parse_time(text).is_err()
                    .then(|| format!("failed to parse setting [{key}] with value [{text}] as a time value: unit is missing or unrecognized"))
            }
            "index.number_of_shards" | "index.number_of_replicas" | "index.max_result_window" if !value.is_null() => {
                text.parse::<u64>().is_err().then(|| format!("Failed to parse value [{text}] for setting [{key}]"))
            }
            _ => None,
        };
        if let Some(reason) = bad_value {
            return Err(errors::illegal_argument(reason));
        }
    }
    if let (false, Some(index)) = (fixed.is_empty(), index) {
        return Err(errors::illegal_argument(format!(
            "Can't update non dynamic settings [[{}]] for open indices [[{}/{}]]",
            fixed.join(", "),
            index.name,
            index.uuid
        )));
    }
    Ok(())
}

/// Renders flat settings as the nested object `GET /{index}/_settings` answers.
fn nested_settings(flat: &BTreeMap<String, Value>) -> Value {
    let mut root = Map::new();
    for (key, value) in flat {
        let mut node = &mut root;
        let parts: Vec<&str> = key.split('.').collect();
        for part in &parts[..parts.len() - 1] {
            let child = node.entry(part.to_string()).or_insert_with(|| Value::Object(Map::new()));
            if !child.is_object() {
                *child = Value::Object(Map::new());
            }
            node = child.as_object_mut().expect("made an object above");
        }
        node.insert(parts[parts.len() - 1].to_string(), value.clone());
    }
    Value::Object(root)
}

fn is_alias(state: &State, name: &str) -> bool {
    state.indices.values().any(|i| i.aliases.contains_key(name))
}

/// `PUT /{name}`: creates an index from `{"settings", "mappings", "aliases"}`.
pub(crate) fn create(state: &mut State, name: &str, body: &Value) -> Result<Reply, EsError> {
    check_index_name(name)?;
    if let Some(existing) = state.indices.get(name) {
        return Err(EsError::new(
            400,
            "resource_already_exists_exception",
            format!("index [{name}/{}] already exists", existing.uuid),
        )
        .with("index_uuid", existing.uuid.clone())
        .with("index", name));
    }
    if is_alias(state, name) {
        return Err(EsError::new(
            400,
            "invalid_index_name_exception",
            format!("Invalid index name [{name}], already exists as alias"),
        )
        .with("index_uuid", "_na_")
        .with("index", name));
    }
    let mut settings = flatten_settings(body.get("settings").unwrap_or(&Value::Null));
    settings.retain(|_, v| !v.is_null());
    check_settings(&settings, true, None)?;
    let mappings = body.get("mappings").cloned().unwrap_or_else(|| json!({}));
    mapping::validate(&mappings)?;
    let mut aliases = BTreeMap::new();
    if let Some(Value::Object(given)) = body.get("aliases") {
        for (alias, props) in given {
            if state.indices.contains_key(alias) || alias == name {
                return Err(invalid_alias_name(alias));
            }
            aliases.insert(
                alias.clone(),
                AliasProps { is_write_index: props.get("is_write_index").and_then(Value::as_bool) },
            );
        }
    }
    let uuid = state.next_uuid();
    let now = state.now();
    settings.entry("index.number_of_shards".into()).or_insert_with(|| "1".into());
    settings.entry("index.number_of_replicas".into()).or_insert_with(|| "1".into());
    settings.insert("index.uuid".into(), uuid.clone().into());
    settings.insert("index.provided_name".into(), name.into());
    settings.insert("index.creation_date".into(), chrono::Utc::now().timestamp_millis().to_string().into());
    let created = match state.flavour() {
        super::Flavour::Elasticsearch => "8527000",
        super::Flavour::OpenSearch => "136407827",
    };
    settings.insert("index.version.created".into(), created.into());
    let index = Index {
        name: name.to_string(),
        uuid,
        settings,
        mappings,
        aliases,
        docs: BTreeMap::new(),
        searchable: BTreeMap::new(),
        tombstones: HashMap::new(),
        next_seq_no: 0,
        last_refresh: now,
    };
    let new_table = (&index.name, &index.aliases);
    check_write_indices(state.indices.iter().map(|(n, i)| (n, &i.aliases)).chain([new_table]))?;
    state.indices.insert(name.to_string(), index);
    Ok(Reply::json(200, json!({ "acknowledged": true, "shards_acknowledged": true, "index": name })))
}

fn invalid_alias_name(alias: &str) -> EsError {
    EsError::new(
        400,
        "invalid_alias_name_exception",
        format!("Invalid alias name [{alias}]: an index or data stream exists with the same name as the alias"),
    )
    .with("index_uuid", "_na_")
    .with("index", alias)
}

/// `GET|HEAD|PUT|DELETE /{index}`.
pub(crate) fn index_endpoint(state: &mut State, name: &str, req: &Incoming) -> Result<Reply, EsError> {
    match req.method.as_str() {
        "PUT" => create(state, name, &req.json()?.unwrap_or_else(|| json!({}))),
        "DELETE" => {
            // Deletes name concrete indices only (`action.destructive_requires_name` is on by default
            // in 8.x): an alias or a pattern could take the wrong index with it.
            let names: Vec<&str> = name.split(',').collect();
            for part in &names {
                if part.contains('*') || *part == "_all" {
                    return Err(errors::illegal_argument("Wildcard expressions or all indices are not allowed"));
                }
                if !state.indices.contains_key(*part) {
                    if is_alias(state, part) {
                        return Err(errors::illegal_argument(format!(
                            "The provided expression [{part}] matches an alias, specify the corresponding concrete \
                             indices instead."
                        )));
                    }
                    return Err(errors::index_not_found(part));
                }
            }
            for part in names {
                state.indices.remove(part);
            }
            Ok(Reply::acknowledged())
        }
        _ => {
            let names = resolve_read(state, name)?;
            let mut out = Map::new();
            for n in names {
                let index = &state.indices[&n];
                out.insert(
                    n.clone(),
                    json!({
                        "aliases": aliases_json(index),
                        "mappings": index.mappings,
                        "settings": nested_settings(&index.settings),
                    }),
                );
            }
            Ok(Reply::json(200, Value::Object(out)))
        }
    }
}

fn aliases_json(index: &Index) -> Value {
    let mut out = Map::new();
    for (alias, props) in &index.aliases {
        let body = match props.is_write_index {
            Some(w) => json!({ "is_write_index": w }),
            None => json!({}),
        };
        out.insert(alias.clone(), body);
    }
    Value::Object(out)
}

/// `GET|PUT /{index}/_settings`.
pub(crate) fn settings_endpoint(state: &mut State, name: &str, req: &Incoming) -> Result<Reply, EsError> {
    let names = resolve_read(state, name)?;
    if req.method == "PUT" {
        let given = flatten_settings(&req.json()?.unwrap_or_else(|| json!({})));
        for n in &names {
            check_settings(&given, false, state.indices.get(n))?;
        }
        for n in &names {
            let index = state.indices.get_mut(n).expect("resolved above");
            for (key, value) in &given {
                if value.is_null() {
                    index.settings.remove(key);
                } else {
                    index.settings.insert(key.clone(), value.clone());
                }
            }
        }
        return Ok(Reply::acknowledged());
    }
    let mut out = Map::new();
    for n in names {
        let settings = &state.indices[&n].settings;
        let rendered = if req.flag("flat_settings") {
            Value::Object(settings.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        } else {
            nested_settings(settings)
        };
        out.insert(n, json!({ "settings": rendered }));
    }
    Ok(Reply::json(200, Value::Object(out)))
}

/// `GET|PUT /{index}/_mapping`.
pub(crate) fn mapping_endpoint(state: &mut State, name: &str, req: &Incoming) -> Result<Reply, EsError> {
    let names = resolve_read(state, name)?;
    if req.method != "GET" {
        let addition = req.json()?.unwrap_or_else(|| json!({}));
        mapping::validate(&addition)?;
        let mut merged = Vec::new();
        for n in &names {
            merged.push(mapping::merge(&state.indices[n].mappings, &addition)?);
        }
        for (n, m) in names.iter().zip(merged) {
            state.indices.get_mut(n).expect("resolved above").mappings = m;
        }
        return Ok(Reply::acknowledged());
    }
    let out: Map<String, Value> = names
        .into_iter()
        .map(|n| {
            let m = state.indices[&n].mappings.clone();
            (n, json!({ "mappings": m }))
        })
        .collect();
    Ok(Reply::json(200, Value::Object(out)))
}

/// The indices an alias points at.
fn alias_indices<'a>(state: &'a State, alias: &str) -> Vec<&'a Index> {
    state.indices.values().filter(|i| i.aliases.contains_key(alias)).collect()
}

/// The write index of an alias: `Ok(None)` when no alias has that name, an error when the alias
/// has no (single) write index.
pub(crate) fn write_index_of_alias(state: &State, alias: &str) -> Result<Option<String>, EsError> {
    let targets = alias_indices(state, alias);
    if targets.is_empty() {
        return Ok(None);
    }
    let explicit: Vec<&&Index> = targets.iter().filter(|i| i.aliases[alias].is_write_index == Some(true)).collect();
    let chosen = match (explicit.as_slice(), targets.as_slice()) {
        ([one], _) => Some(one.name.clone()),
        ([], [only]) if only.aliases[alias].is_write_index.is_none() => Some(only.name.clone()),
        _ => None,
    };
    chosen.map(Some).ok_or_else(|| {
        errors::illegal_argument(format!(
            "no write index is defined for alias [{alias}]. The write index may be explicitly disabled using \
             is_write_index=false or the alias points to multiple indices without one being designated as a write index"
        ))
    })
}

/// The existing concrete index a name writes to: the index itself, or an alias's write index.
/// Deletes resolve so, since they never create an index.
pub(crate) fn resolve_existing_write(state: &State, name: &str) -> Result<String, EsError> {
    if state.indices.contains_key(name) {
        return Ok(name.to_string());
    }
    write_index_of_alias(state, name)?.ok_or_else(|| errors::index_not_found(name))
}

/// The concrete index a name writes to, if there is one.
pub(crate) fn write_target(state: &State, name: &str) -> Option<String> {
    resolve_existing_write(state, name).ok()
}

/// Resolves a write target, creating the index when the name is unknown, as the servers'
/// auto-creation does — unless `require_alias`, which insists on an alias.
pub(crate) fn resolve_write(state: &mut State, name: &str, require_alias: bool) -> Result<String, EsError> {
    if let Some(index) = write_index_of_alias(state, name)? {
        return Ok(index);
    }
    if require_alias {
        let mut error = errors::index_not_found(name);
        error.reason =
            format!("no such index [{name}] and [require_alias] request flag is [true] and [{name}] is not an alias");
        return Err(error);
    }
    if !state.indices.contains_key(name) {
        create(state, name, &json!({}))?;
    }
    Ok(name.to_string())
}

/// `*`-patterns as index expressions use them.
fn glob(pattern: &str, name: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == name,
        Some((head, rest)) => {
            name.starts_with(head) && (0..=name.len() - head.len()).any(|i| glob(rest, &name[head.len() + i..]))
        }
    }
}

/// The indices a read of `expression` covers: comma-separated names, aliases (all their indices)
/// and `*` patterns; `None`, `_all` or `*` is every index. A missing concrete name is 404.
pub(crate) fn resolve_read(state: &State, expression: &str) -> Result<Vec<String>, EsError> {
    let mut names: Vec<String> = Vec::new();
    for part in expression.split(',').filter(|p| !p.is_empty()) {
        let found: Vec<String> = if part == "_all" || part.contains('*') {
            let pattern = if part == "_all" { "*" } else { part };
            let mut matched: Vec<String> = state.indices.keys().filter(|n| glob(pattern, n)).cloned().collect();
            for index in state.indices.values() {
                if index.aliases.keys().any(|a| glob(pattern, a)) {
                    matched.push(index.name.clone());
                }
            }
            matched
        } else if state.indices.contains_key(part) {
            vec![part.to_string()]
        } else {
            let targets: Vec<String> = alias_indices(state, part).iter().map(|i| i.name.clone()).collect();
            if targets.is_empty() {
                return Err(errors::index_not_found(part));
            }
            targets
        };
        for name in found {
            if !names.contains(&name) {
                names.push(name);
            }
        }
    }
    Ok(names)
}

/// `POST /{target}/_refresh` or `POST /_refresh`.
pub(crate) fn refresh_endpoint(state: &mut State, target: Option<&str>) -> Result<Reply, EsError> {
    let names = resolve_read(state, target.unwrap_or("_all"))?;
    let now = state.now();
    let mut total = 0;
    for n in &names {
        let index = state.indices.get_mut(n).expect("resolved above");
        index.refresh(now);
        total += 1 + index.replicas();
    }
    Ok(Reply::json(200, json!({ "_shards": { "total": total, "successful": names.len(), "failed": 0 } })))
}

/// `GET /_cluster/health`: yellow while replicas cannot be assigned on the one node.
pub(crate) fn health(state: &State) -> Reply {
    let yellow = state.indices.values().any(|i| i.replicas() > 0);
    let unassigned: u64 = state.indices.values().map(Index::replicas).sum();
    Reply::json(
        200,
        json!({
            "cluster_name": "catsync-sim", "status": if yellow { "yellow" } else { "green" }, "timed_out": false,
            "number_of_nodes": 1, "number_of_data_nodes": 1,
            "active_primary_shards": state.indices.len(), "active_shards": state.indices.len(),
            "relocating_shards": 0, "initializing_shards": 0, "unassigned_shards": unassigned,
            "delayed_unassigned_shards": 0, "number_of_pending_tasks": 0, "number_of_in_flight_fetch": 0,
            "task_max_waiting_in_queue_millis": 0,
            "active_shards_percent_as_number": if yellow { 50.0 } else { 100.0 }
        }),
    )
}

/// `GET /_alias[/{name}]`, `GET /{index}/_alias[/{name}]`, `HEAD /_alias/{name}`.
pub(crate) fn get_alias(state: &State, index: Option<&str>, name: Option<&str>) -> Result<Reply, EsError> {
    let names = resolve_read(state, index.unwrap_or("_all"))?;
    let mut out = Map::new();
    for n in names {
        let idx = &state.indices[&n];
        let mut aliases = aliases_json(idx);
        if let (Some(wanted), Some(map)) = (name, aliases.as_object_mut()) {
            map.retain(|alias, _| wanted.split(',').any(|w| glob(w, alias)));
            if map.is_empty() {
                continue;
            }
        }
        out.insert(n, json!({ "aliases": aliases }));
    }
    match name {
        Some(wanted) if out.is_empty() => Ok(Reply::json(404, errors::flat(404, &format!("alias [{wanted}] missing")))),
        _ => Ok(Reply::json(200, Value::Object(out))),
    }
}

/// One action of `POST /_aliases`.
enum AliasAction {
    Add { indices: Vec<String>, aliases: Vec<String>, props: AliasProps },
    Remove { indices: Vec<String>, aliases: Vec<String> },
    RemoveIndex { indices: Vec<String> },
}

/// `index`/`indices` (or `alias`/`aliases`) of an action as a list.
fn names_of(body: &Value, one: &str, many: &str) -> Vec<String> {
    let mut names: Vec<String> = body.get(one).and_then(Value::as_str).map(|s| vec![s.to_string()]).unwrap_or_default();
    if let Some(Value::Array(items)) = body.get(many) {
        names.extend(items.iter().filter_map(Value::as_str).map(str::to_string));
    }
    names
}

fn parse_alias_actions(body: &Value) -> Result<Vec<AliasAction>, EsError> {
    let Some(Value::Array(actions)) = body.get("actions") else {
        return Err(errors::validation(&["No action specified".to_string()]));
    };
    let mut parsed = Vec::new();
    for action in actions {
        let Some((kind, spec)) = action.as_object().and_then(|m| m.iter().next()) else {
            return Err(errors::parsing("[aliases] failed to parse field [actions]"));
        };
        let indices = names_of(spec, "index", "indices");
        if indices.is_empty() {
            return Err(errors::validation(&["One of [index] or [indices] is required".to_string()]));
        }
        let aliases = names_of(spec, "alias", "aliases");
        if kind != "remove_index" && aliases.is_empty() {
            return Err(errors::validation(&["One of [alias] or [aliases] is required".to_string()]));
        }
        parsed.push(match kind.as_str() {
            "add" => AliasAction::Add {
                indices,
                aliases,
                props: AliasProps { is_write_index: spec.get("is_write_index").and_then(Value::as_bool) },
            },
            "remove" => AliasAction::Remove { indices, aliases },
            "remove_index" => AliasAction::RemoveIndex { indices },
            other => return Err(errors::parsing(format!("Unknown action [{other}]"))),
        });
    }
    Ok(parsed)
}

/// `POST /_aliases`: every action applies, or none does.
pub(crate) fn update_aliases(state: &mut State, req: &Incoming) -> Result<Reply, EsError> {
    let actions = parse_alias_actions(&req.json()?.unwrap_or_else(|| json!({})))?;
    // Work on a copy of the alias tables and the set of indices, so a failing action changes nothing.
    let mut tables: BTreeMap<String, BTreeMap<String, AliasProps>> =
        state.indices.iter().map(|(n, i)| (n.clone(), i.aliases.clone())).collect();
    for action in &actions {
        match action {
            AliasAction::Add { indices, aliases, props } => {
                for index in concrete(&tables, indices)? {
                    for alias in aliases {
                        if tables.contains_key(alias) {
                            return Err(invalid_alias_name(alias));
                        }
                        tables.get_mut(&index).expect("checked").insert(alias.clone(), props.clone());
                    }
                }
            }
            AliasAction::Remove { indices, aliases } => {
                for index in concrete(&tables, indices)? {
                    for alias in aliases {
                        if tables.get_mut(&index).expect("checked").remove(alias).is_none() {
                            return Err(EsError::new(
                                404,
                                "aliases_not_found_exception",
                                format!("aliases [{alias}] missing"),
                            )
                            .with("resource.type", "aliases")
                            .with("resource.id", alias.clone()));
                        }
                    }
                }
            }
            AliasAction::RemoveIndex { indices } => {
                for index in concrete(&tables, indices)? {
                    tables.remove(&index);
                }
            }
        }
    }
    check_write_indices(tables.iter())?;
    state.indices.retain(|name, _| tables.contains_key(name));
    for (name, aliases) in tables {
        if let Some(index) = state.indices.get_mut(&name) {
            index.aliases = aliases;
        }
    }
    Ok(Reply::acknowledged())
}

/// The existing concrete indices an action names (patterns allowed); 404 for a missing name.
fn concrete(tables: &BTreeMap<String, BTreeMap<String, AliasProps>>, names: &[String]) -> Result<Vec<String>, EsError> {
    let mut out = Vec::new();
    for name in names {
        if name.contains('*') {
            out.extend(tables.keys().filter(|n| glob(name, n)).cloned());
        } else if tables.contains_key(name) {
            out.push(name.clone());
        } else {
            return Err(errors::index_not_found(name));
        }
    }
    Ok(out)
}

/// An alias may have at most one index with `is_write_index: true`.
fn check_write_indices<'a>(
    tables: impl Iterator<Item = (&'a String, &'a BTreeMap<String, AliasProps>)>,
) -> Result<(), EsError> {
    let mut writers: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (index, aliases) in tables {
        for (alias, props) in aliases {
            if props.is_write_index == Some(true) {
                writers.entry(alias).or_default().push(index);
            }
        }
    }
    match writers.into_iter().find(|(_, w)| w.len() > 1) {
        Some((alias, w)) => Err(EsError::new(
            500,
            "illegal_state_exception",
            format!("alias [{alias}] has more than one write index [{}]", w.join(",")),
        )),
        None => Ok(()),
    }
}
