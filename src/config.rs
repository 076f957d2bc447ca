//! `catsync.toml`: parsing, `${ENV_VAR}` interpolation and validation, with errors that name the
//! key and the line.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::catalog::{ColumnType, RESERVED_COLUMNS};
use crate::matching::MatchOptions;
use crate::source::feed::{FeedMode, FeedProfile, Role};

/// Store used when neither flag, environment nor config names one.
pub const DEFAULT_STORE_URL: &str = "sqlite://catsync-data/catsync.db";
/// Search index used when neither flag, environment nor config names one.
pub const DEFAULT_SEARCH_URL: &str = "tantivy://catsync-data/index";

/// The whole configuration file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub store: StoreSection,
    #[serde(default)]
    pub search: SearchSection,
    #[serde(default)]
    pub distributors: Vec<DistributorSection>,
    pub airtable: Option<AirtableSection>,
    pub catalog: Option<CatalogSection>,
    #[serde(default)]
    pub matching: MatchingSection,
    #[serde(default)]
    pub schedule: ScheduleSection,
    #[serde(default)]
    pub retention: RetentionSection,
    #[serde(default)]
    pub serve: ServeSection,
}

/// `[serve]`: the dashboard of `catsync serve`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServeSection {
    /// Address to listen on [default: 127.0.0.1:8080].
    pub listen: Option<String>,
    /// Token every request must carry (bearer header, or a login form); required off loopback.
    pub token: Option<Secret>,
}

/// `[store]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreSection {
    /// `sqlite://PATH`, `postgres://…` or `postgresql://…`.
    pub url: Option<String>,
}

/// `[search]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchSection {
    /// `tantivy://PATH`, or an Elasticsearch/OpenSearch `http(s)://` URL.
    pub url: Option<String>,
    /// Index (alias) name [default: products].
    pub index: Option<String>,
    /// Basic auth for Elasticsearch/OpenSearch.
    pub username: Option<String>,
    pub password: Option<Secret>,
    /// Elasticsearch API key (the base64 `id:key` form), instead of username/password.
    pub api_key: Option<Secret>,
    /// PEM file of the CA that signed the server's certificate.
    pub ca_file: Option<PathBuf>,
}

/// `[[distributors]]`: one distributor's feed.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DistributorSection {
    pub name: Spanned<String>,
    /// Glob of files that `catsync run` imports.
    pub inbox: Option<String>,
    #[serde(default)]
    pub mode: FeedMode,
    /// Canonical field = header in the feed.
    #[serde(default)]
    pub columns: BTreeMap<Spanned<String>, String>,
}

/// Airtable's public API; overridden for the simulator and proxies.
pub const DEFAULT_AIRTABLE_URL: &str = "https://api.airtable.com";

/// A credential: usable by the code that needs it, invisible to `Debug`, logs and errors.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// `[airtable]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AirtableSection {
    /// Personal access token.
    pub token: Secret,
    #[serde(default = "default_airtable_url")]
    pub api_url: String,
    /// How long Airtable refuses a base after a 429 (30 s per its documentation).
    #[serde(default = "default_penalty_seconds")]
    pub penalty_seconds: Spanned<f64>,
    #[serde(default)]
    pub tables: Vec<AirtableTableSection>,
}

fn default_airtable_url() -> String {
    DEFAULT_AIRTABLE_URL.to_string()
}

/// `[[airtable.tables]]`: one Airtable table synced into one store table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AirtableTableSection {
    pub base: Spanned<String>,
    /// Table name or `tbl…` id.
    pub table: String,
    /// Store table name.
    pub into: Spanned<String>,
    /// A full id listing every this many runs finds deleted records.
    #[serde(default = "default_reconcile_every")]
    pub reconcile_every: u32,
    /// Store column = Airtable field name or `fld…` id, or a table with `field`, `type`, `id`.
    #[serde(default)]
    pub columns: BTreeMap<Spanned<String>, Spanned<ColumnSource>>,
}

fn default_penalty_seconds() -> Spanned<f64> {
    Spanned::new(0..0, 30.0)
}

fn default_reconcile_every() -> u32 {
    10
}

/// Where a store column's values come from.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum ColumnSource {
    Field(String),
    Detailed(ColumnDetail),
}

/// `column = { field = "Price", type = "numeric", id = "fld…" }`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnDetail {
    /// Field name or id.
    pub field: String,
    /// Column type; inferred from the Airtable field type when absent.
    #[serde(rename = "type")]
    pub ty: Option<String>,
    /// Field id, written by `catsync init` next to the name so that renames are followed.
    pub id: Option<String>,
}

impl ColumnSource {
    /// The field name or id the config gives.
    pub fn field(&self) -> &str {
        match self {
            ColumnSource::Field(f) => f,
            ColumnSource::Detailed(d) => &d.field,
        }
    }

    /// The field id, when the config pins one (an `id` key, or `fld…` as the field).
    pub fn field_id(&self) -> Option<&str> {
        match self {
            ColumnSource::Detailed(ColumnDetail { id: Some(id), .. }) => Some(id),
            _ if self.field().starts_with("fld") && self.field().len() == 17 => Some(self.field()),
            _ => None,
        }
    }

    pub fn column_type(&self) -> Option<ColumnType> {
        match self {
            ColumnSource::Detailed(ColumnDetail { ty: Some(t), .. }) => ColumnType::parse(t),
            _ => None,
        }
    }
}

/// `[catalog]`: which store table is the product catalog, and which of its columns play which role.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogSection {
    pub table: Spanned<String>,
    pub title: Option<Spanned<String>>,
    pub gtin: Option<Spanned<String>>,
    pub mpn: Option<Spanned<String>>,
    pub brand: Option<Spanned<String>>,
    pub description: Option<Spanned<String>>,
    pub price: Option<Spanned<String>>,
}

impl CatalogSection {
    /// (role, column) pairs that are set.
    pub fn roles(&self) -> Vec<(&'static str, &Spanned<String>)> {
        [
            ("title", &self.title),
            ("gtin", &self.gtin),
            ("mpn", &self.mpn),
            ("brand", &self.brand),
            ("description", &self.description),
            ("price", &self.price),
        ]
        .into_iter()
        .filter_map(|(role, column)| column.as_ref().map(|c| (role, c)))
        .collect()
    }
}

/// `[matching]`: thresholds and brand aliases of product matching.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatchingSection {
    /// Score from which a link is made without review [default 0.9].
    pub auto_accept: Option<Spanned<f64>>,
    /// Score from which a candidate is queued for review [default 0.5].
    pub review: Option<Spanned<f64>>,
    /// Groups of names of one brand; the first is the one the others are matched as.
    #[serde(default)]
    pub brand_aliases: Vec<Vec<String>>,
}

impl MatchingSection {
    /// The matcher's options with these thresholds.
    pub fn options(&self) -> MatchOptions {
        let defaults = MatchOptions::default();
        MatchOptions {
            auto_accept: self.auto_accept.as_ref().map_or(defaults.auto_accept, |s| *s.get_ref()),
            review: self.review.as_ref().map_or(defaults.review, |s| *s.get_ref()),
            ..defaults
        }
    }
}

/// `[schedule]`: how `catsync watch` and the leases of every job are timed.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleSection {
    /// Time between the starts of two `catsync watch` cycles, such as `"5m"` (`--every` wins).
    pub every: Option<Spanned<String>>,
    /// How long a job's lease lasts without renewal [default 60]; it is renewed every third of it.
    pub lease_seconds: Option<Spanned<f64>>,
}

/// Lease time of a job when `[schedule] lease_seconds` is not set.
pub const DEFAULT_LEASE_SECONDS: f64 = 60.0;

impl ScheduleSection {
    /// How long a lease lasts without renewal.
    pub fn lease_ttl(&self) -> std::time::Duration {
        std::time::Duration::from_secs_f64(self.lease_seconds.as_ref().map_or(DEFAULT_LEASE_SECONDS, |s| *s.get_ref()))
    }
}

/// `[retention]`: what `run` and `watch` prune from the control tables. Unresolved errors are
/// always kept.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionSection {
    /// Runs older than this many days go (those with unresolved errors stay).
    pub runs_days: Option<Spanned<u32>>,
    /// Resolved errors resolved more than this many days ago go.
    pub errors_days: Option<Spanned<u32>>,
}

/// Parses a duration such as `"90s"`, `"5m"`, `"1h30m"` or `"1d"` (units s, m, h, d; at least one
/// second).
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let bad = || {
        format!("{text:?} is not a duration: write a number with a unit, such as \"30s\", \"5m\", \"1h30m\" or \"1d\"")
    };
    let mut seconds: u64 = 0;
    let mut digits = String::new();
    for c in text.trim().chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3_600,
            'd' => 86_400,
            _ => return Err(bad()),
        };
        let n: u64 = digits.parse().map_err(|_| bad())?;
        seconds = n.checked_mul(unit).and_then(|v| seconds.checked_add(v)).ok_or_else(bad)?;
        digits.clear();
    }
    if !digits.is_empty() || seconds == 0 {
        return Err(bad());
    }
    Ok(std::time::Duration::from_secs(seconds))
}

/// A configuration that cannot be used, located in its file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config {}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{} line {line}: environment variable {name} is not set (used as ${{{name}}})", path.display())]
    MissingEnv { path: PathBuf, line: usize, name: String },
    #[error("{}: {message}", path.display())]
    Syntax { path: PathBuf, message: String },
    #[error("{} line {line}: {message}", path.display())]
    Invalid { path: PathBuf, line: usize, message: String },
}

impl Config {
    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.into(), source })?;
        Config::parse(&text, path)
    }

    /// Parses config text; `path` only names the file in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let expanded = interpolate_env(text, path)?;
        let config: Config = toml::from_str(&expanded).map_err(|e| ConfigError::Syntax {
            path: path.into(),
            message: match e.span() {
                Some(span) => format!("line {}: {}", line_of(&expanded, span.start), e.message()),
                None => e.message().to_string(),
            },
        })?;
        config.validate(&expanded, path)?;
        Ok(config)
    }

    fn validate(&self, text: &str, path: &Path) -> Result<(), ConfigError> {
        let invalid = |span: std::ops::Range<usize>, message: String| ConfigError::Invalid {
            path: path.into(),
            line: line_of(text, span.start),
            message,
        };
        let mut names = BTreeMap::new();
        for d in &self.distributors {
            let name = d.name.get_ref();
            if !valid_name(name) {
                return Err(invalid(
                    d.name.span(),
                    format!("distributor name {name:?} must be 1-64 lowercase letters, digits, '_' or '-', starting with a letter or digit"),
                ));
            }
            if names.insert(name.clone(), ()).is_some() {
                return Err(invalid(d.name.span(), format!("distributor {name:?} is defined twice")));
            }
            for key in d.columns.keys() {
                if Role::from_name(key.get_ref()).is_none() {
                    let known: Vec<&str> = Role::ALL.iter().map(|r| r.name()).collect();
                    return Err(invalid(
                        key.span(),
                        format!(
                            "[distributors.columns] key {:?} is not a catsync field (known: {})",
                            key.get_ref(),
                            known.join(", ")
                        ),
                    ));
                }
            }
        }
        self.validate_airtable(&invalid)?;
        self.validate_catalog(&invalid)?;
        self.validate_matching(&invalid)?;
        self.validate_schedule(&invalid)
    }

    fn validate_schedule(
        &self,
        invalid: &dyn Fn(std::ops::Range<usize>, String) -> ConfigError,
    ) -> Result<(), ConfigError> {
        if let Some(every) = &self.schedule.every {
            parse_duration(every.get_ref()).map_err(|e| invalid(every.span(), format!("[schedule] every: {e}")))?;
        }
        if let Some(ttl) =
            self.schedule.lease_seconds.as_ref().filter(|s| !(s.get_ref().is_finite() && *s.get_ref() >= 1.0))
        {
            return Err(invalid(
                ttl.span(),
                format!("[schedule] lease_seconds = {} must be at least 1", ttl.get_ref()),
            ));
        }
        Ok(())
    }

    fn validate_matching(
        &self,
        invalid: &dyn Fn(std::ops::Range<usize>, String) -> ConfigError,
    ) -> Result<(), ConfigError> {
        let options = self.matching.options();
        for (key, value) in [("auto_accept", &self.matching.auto_accept), ("review", &self.matching.review)] {
            if let Some(v) = value.as_ref().filter(|v| !(0.0..=1.0).contains(v.get_ref())) {
                return Err(invalid(v.span(), format!("[matching] {key} = {} must be between 0 and 1", v.get_ref())));
            }
        }
        if let Some(review) = self.matching.review.as_ref().filter(|_| options.review > options.auto_accept) {
            return Err(invalid(
                review.span(),
                format!(
                    "[matching] review = {} is above auto_accept = {}: candidates between the two go to review, so review must be the lower",
                    options.review, options.auto_accept
                ),
            ));
        }
        Ok(())
    }

    fn validate_airtable(
        &self,
        invalid: &dyn Fn(std::ops::Range<usize>, String) -> ConfigError,
    ) -> Result<(), ConfigError> {
        let Some(airtable) = &self.airtable else { return Ok(()) };
        let penalty = *airtable.penalty_seconds.get_ref();
        if !(0.1..=600.0).contains(&penalty) {
            return Err(invalid(
                airtable.penalty_seconds.span(),
                format!("[airtable] penalty_seconds = {penalty} must be between 0.1 and 600 (Airtable's penalty is 30 seconds)"),
            ));
        }
        let mut intos = BTreeMap::new();
        for t in &airtable.tables {
            let into = t.into.get_ref();
            if !valid_identifier(into) {
                return Err(invalid(t.into.span(), format!("store table name {into:?} {IDENTIFIER_RULE}")));
            }
            if intos.insert(into.clone(), ()).is_some() {
                return Err(invalid(t.into.span(), format!("two Airtable tables sync into {into:?}")));
            }
            if !(t.base.get_ref().starts_with("app") && t.base.get_ref().len() == 17) {
                return Err(invalid(
                    t.base.span(),
                    format!(
                        "base {:?} is not an Airtable base id (app followed by 14 letters and digits)",
                        t.base.get_ref()
                    ),
                ));
            }
            if t.reconcile_every == 0 {
                return Err(invalid(t.into.span(), "reconcile_every must be at least 1".into()));
            }
            for (column, source) in &t.columns {
                let name = column.get_ref();
                if !valid_identifier(name) || RESERVED_COLUMNS.contains(&name.as_str()) {
                    return Err(invalid(
                        column.span(),
                        format!(
                            "column name {name:?} {IDENTIFIER_RULE}, and not one of catsync's own columns ({})",
                            RESERVED_COLUMNS.join(", ")
                        ),
                    ));
                }
                if let ColumnSource::Detailed(ColumnDetail { ty: Some(ty), .. }) = source.get_ref() {
                    if ColumnType::parse(ty).is_none() {
                        return Err(invalid(
                            source.span(),
                            format!("column {name:?}: unknown type {ty:?} (known: {})", ColumnType::names()),
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    fn validate_catalog(
        &self,
        invalid: &dyn Fn(std::ops::Range<usize>, String) -> ConfigError,
    ) -> Result<(), ConfigError> {
        let Some(catalog) = &self.catalog else { return Ok(()) };
        let table = catalog.table.get_ref();
        let synced = self.airtable.iter().flat_map(|a| &a.tables).find(|t| t.into.get_ref() == table);
        let Some(synced) = synced else {
            return Err(invalid(
                catalog.table.span(),
                format!("[catalog] table {table:?} is not the `into` of any [[airtable.tables]]"),
            ));
        };
        for (role, column) in catalog.roles() {
            if !synced.columns.keys().any(|c| c.get_ref() == column.get_ref()) {
                return Err(invalid(
                    column.span(),
                    format!("[catalog] {role} = {:?}: table {table:?} has no such column", column.get_ref()),
                ));
            }
        }
        Ok(())
    }

    /// The feed profile of a distributor named in the config, if any.
    /// A distributor's profile from its `[[distributors]]` entry, else `FeedProfile::auto`.
    pub fn feed_profile_or_auto(&self, distributor: &str) -> FeedProfile {
        self.feed_profile(distributor).unwrap_or_else(|| FeedProfile::auto(distributor))
    }

    /// The profiles of every configured distributor.
    pub fn feed_profiles(&self) -> Vec<FeedProfile> {
        self.distributors.iter().filter_map(|d| self.feed_profile(d.name.get_ref())).collect()
    }

    pub fn feed_profile(&self, distributor: &str) -> Option<FeedProfile> {
        self.distributors.iter().find(|d| d.name.get_ref() == distributor).map(|d| FeedProfile {
            distributor: distributor.to_string(),
            columns: d
                .columns
                .iter()
                .map(|(k, v)| (Role::from_name(k.get_ref()).expect("validated at load"), v.clone()))
                .collect(),
            mode: d.mode,
        })
    }
}

/// Distributor names become source names and id seeds: keep them plain.
pub fn valid_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 64
        && b[0].is_ascii_alphanumeric()
        && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_' || *c == b'-')
}

const IDENTIFIER_RULE: &str =
    "must be 1-63 characters: lowercase letters, digits and '_', starting with a letter or '_'";

/// Store table and column names become SQL identifiers: keep them to what needs no quoting
/// anywhere (they are quoted all the same).
pub fn valid_identifier(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && (b[0].is_ascii_lowercase() || b[0] == b'_')
        && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_')
}

/// Replaces `${NAME}` with the environment variable's value, escaped for a TOML string, outside
/// comment lines. A missing variable is an error naming it and its line.
fn interpolate_env(text: &str, path: &Path) -> Result<String, ConfigError> {
    let mut out = String::with_capacity(text.len());
    for (i, line) in text.split_inclusive('\n').enumerate() {
        if line.trim_start().starts_with('#') {
            out.push_str(line);
            continue;
        }
        let mut rest = line;
        while let Some(start) = rest.find("${") {
            let Some(len) = rest[start + 2..].find('}') else {
                break;
            };
            let name = &rest[start + 2..start + 2 + len];
            let value = std::env::var(name).map_err(|_| ConfigError::MissingEnv {
                path: path.into(),
                line: i + 1,
                name: name.to_string(),
            })?;
            out.push_str(&rest[..start]);
            out.push_str(&value.replace('\\', "\\\\").replace('"', "\\\""));
            rest = &rest[start + 3 + len..];
        }
        out.push_str(rest);
    }
    Ok(out)
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

#[cfg(test)]
mod schedule_tests {
    use super::*;

    #[test]
    fn durations_read_as_written_and_nonsense_is_refused() {
        assert_eq!(parse_duration("90s"), Ok(std::time::Duration::from_secs(90)));
        assert_eq!(parse_duration("5m"), Ok(std::time::Duration::from_secs(300)));
        assert_eq!(parse_duration("1h30m"), Ok(std::time::Duration::from_secs(5_400)));
        assert_eq!(parse_duration("1d"), Ok(std::time::Duration::from_secs(86_400)));
        for bad in ["", "5", "m", "5 minutes", "0s", "-5m", "1.5h"] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_bad_schedule_names_its_line() {
        let err = Config::parse("[schedule]\nevery = \"5 minutes\"\n", Path::new("c.toml")).unwrap_err();
        assert!(err.to_string().contains("line 2") && err.to_string().contains("every"), "{err}");
        let err = Config::parse("[schedule]\nlease_seconds = 0\n", Path::new("c.toml")).unwrap_err();
        assert!(err.to_string().contains("lease_seconds"), "{err}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("catsync.toml"))
    }

    #[test]
    fn reads_the_documented_example() {
        let c = parse(
            r#"
[store]
url = "postgres://postgres@127.0.0.1:5432/catalog"

[[distributors]]
name = "acme"
inbox = "inbox/acme/*.csv"
mode = "delta"
  [distributors.columns]
  sku = "Item #"
  gtin = "UPC"
  price = "Dealer Price"
"#,
        )
        .unwrap();
        let profile = c.feed_profile("acme").unwrap();
        assert_eq!(profile.mode, FeedMode::Delta);
        assert_eq!(profile.columns[&Role::Sku], "Item #");
        assert_eq!(c.store.url.as_deref(), Some("postgres://postgres@127.0.0.1:5432/catalog"));
    }

    #[test]
    fn unknown_keys_are_named_with_their_line() {
        let err = parse("[store]\nurl = \"sqlite://x\"\nuser = \"me\"\n").unwrap_err().to_string();
        assert!(err.contains("line 3") && err.contains("user"), "{err}");
    }

    #[test]
    fn unknown_column_roles_are_named_with_their_line() {
        let err = parse("[[distributors]]\nname = \"acme\"\n[distributors.columns]\nskew = \"Item\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 4") && err.contains("\"skew\""), "{err}");
    }

    #[test]
    fn bad_distributor_names_are_refused() {
        let err = parse("[[distributors]]\nname = \"Acme; DROP\"\n").unwrap_err().to_string();
        assert!(err.contains("line 2") && err.contains("Acme; DROP"), "{err}");
    }

    #[test]
    fn an_impossible_penalty_is_refused_with_its_line() {
        for value in ["-1", "nan", "inf", "0"] {
            let text = format!("[airtable]\ntoken = \"t\"\npenalty_seconds = {value}\n");
            let err = parse(&text).unwrap_err().to_string();
            assert!(err.contains("line 3") && err.contains("penalty_seconds"), "{value}: {err}");
        }
    }

    #[test]
    fn env_vars_are_interpolated_and_escaped() {
        std::env::set_var("CATSYNC_TEST_CONFIG_URL", "postgres://u:p\"w@h/db");
        let c = parse("[store]\nurl = \"${CATSYNC_TEST_CONFIG_URL}\"\n# ${NOT_SET_ANYWHERE}\n").unwrap();
        assert_eq!(c.store.url.as_deref(), Some("postgres://u:p\"w@h/db"));
        let err = parse("[store]\n\nurl = \"${CATSYNC_SURELY_UNSET_VAR}\"\n").unwrap_err().to_string();
        assert!(err.contains("line 3") && err.contains("CATSYNC_SURELY_UNSET_VAR"), "{err}");
    }
}
