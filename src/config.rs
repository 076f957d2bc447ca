//! `catsync.toml`: parsing, `${ENV_VAR}` interpolation and validation, with errors that name the
//! key and the line.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

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
        Ok(())
    }

    /// The feed profile of a distributor named in the config, if any.
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
    fn env_vars_are_interpolated_and_escaped() {
        std::env::set_var("CATSYNC_TEST_CONFIG_URL", "postgres://u:p\"w@h/db");
        let c = parse("[store]\nurl = \"${CATSYNC_TEST_CONFIG_URL}\"\n# ${NOT_SET_ANYWHERE}\n").unwrap();
        assert_eq!(c.store.url.as_deref(), Some("postgres://u:p\"w@h/db"));
        let err = parse("[store]\n\nurl = \"${CATSYNC_SURELY_UNSET_VAR}\"\n").unwrap_err().to_string();
        assert!(err.contains("line 3") && err.contains("CATSYNC_SURELY_UNSET_VAR"), "{err}");
    }
}
