//! `.sops.yaml`: finding it as sops does, and its creation rules.
//!
//! The search starts in a directory the caller gives (sops uses the current directory, not the
//! file's) and walks up at most 100 levels; the first `.sops.yaml` wins (`.sops.yml` is not
//! read). `path_regex` is an unanchored match against the file path relative to the config
//! file's directory. The first matching rule wins.

use std::path::{Path, PathBuf};

use regex::Regex;

use super::select::{SelectError, Selector, FIELDS};
use super::store::{self, Format, StoreOptions};
use super::tree::{Map, Value};
use crate::keys::{Recipient, RecipientError};

/// The configuration file name sops looks for.
pub const CONFIG_NAME: &str = ".sops.yaml";

/// A loaded `.sops.yaml`.
#[derive(Debug)]
pub struct Config {
    /// Where it was read from.
    pub path: PathBuf,
    /// Its creation rules, in order.
    pub creation_rules: Vec<CreationRule>,
    /// Output options from its `stores:` section.
    pub stores: StoreOptions,
}

/// One creation rule.
#[derive(Debug, Clone)]
pub struct CreationRule {
    /// `path_regex` (`None` matches every file).
    pub path_regex: Option<Regex>,
    /// Key groups of age recipients.
    pub key_groups: Vec<Vec<Recipient>>,
    /// `shamir_threshold` (0 when absent).
    pub shamir_threshold: usize,
    /// The rule's selection rule, if it names one.
    pub selector: Option<Selector>,
    /// `mac_only_encrypted`.
    pub mac_only_encrypted: bool,
}

/// `.sops.yaml` could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RulesError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The config path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid YAML or has the wrong shape.
    #[error("{path}: {reason}")]
    Invalid {
        /// The config path.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// No creation rule matches the file.
    #[error("no matching creation rules found in {config} for {file}")]
    NoMatch {
        /// The config path.
        config: PathBuf,
        /// The file being encrypted.
        file: PathBuf,
    },
}

/// Walks up from `start` (at most 100 levels) and returns the first `.sops.yaml` found.
pub fn find_config(start: &Path) -> Option<PathBuf> {
    let mut dir = Some(start);
    for _ in 0..100 {
        let d = dir?;
        let candidate = d.join(CONFIG_NAME);
        if candidate.is_file() {
            return Some(candidate);
        }
        dir = d.parent();
    }
    None
}

fn invalid(path: &Path, reason: impl Into<String>) -> RulesError {
    RulesError::Invalid {
        path: path.to_owned(),
        reason: reason.into(),
    }
}

/// A comma-separated string or a YAML list of strings (both forms sops accepts).
fn string_list(v: Option<&Value>, path: &Path, field: &str) -> Result<Vec<String>, RulesError> {
    match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Str(s)) => Ok(s
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect()),
        Some(Value::Seq(items)) => items
            .iter()
            .filter(|v| !matches!(v, Value::Comment(_)))
            .map(|v| {
                v.as_str()
                    .map(|s| s.trim().to_owned())
                    .ok_or_else(|| invalid(path, format!("`{field}` must be a list of strings")))
            })
            .collect(),
        Some(_) => Err(invalid(
            path,
            format!("`{field}` must be a string or a list of strings"),
        )),
    }
}

fn recipients(list: Vec<String>, path: &Path) -> Result<Vec<Recipient>, RulesError> {
    list.into_iter()
        .map(|r| {
            r.parse()
                .map_err(|e: RecipientError| invalid(path, e.to_string()))
        })
        .collect()
}

const NON_AGE: [&str; 7] = [
    "pgp",
    "kms",
    "gcp_kms",
    "azure_keyvault",
    "hc_vault_transit_uri",
    "hc_vault",
    "hckms",
];

fn group_from(m: &Map, path: &Path) -> Result<Vec<Recipient>, RulesError> {
    let mut out = Vec::new();
    if let Some(Value::Seq(merged)) = m.get("merge") {
        for g in merged.iter().filter(|g| !matches!(g, Value::Comment(_))) {
            let gm = g
                .as_map()
                .ok_or_else(|| invalid(path, "`merge` must be a list of key groups"))?;
            out.extend(group_from(gm, path)?);
        }
    }
    for typ in NON_AGE {
        if m.get(typ)
            .is_some_and(|v| !matches!(v, Value::Null) && v.as_seq().is_none_or(|s| !s.is_empty()))
        {
            return Err(invalid(
                path,
                format!("`{typ}` keys are not supported by ccsecrets (age and SSH keys only)"),
            ));
        }
    }
    out.extend(recipients(string_list(m.get("age"), path, "age")?, path)?);
    // Keys of a key group are de-duplicated, as sops does.
    let mut seen = std::collections::HashSet::new();
    out.retain(|r| seen.insert(r.as_str().to_owned()));
    Ok(out)
}

fn bool_field(m: &Map, key: &str, path: &Path) -> Result<bool, RulesError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(invalid(path, format!("`{key}` must be true or false"))),
    }
}

fn indent(v: Option<&Value>, path: &Path, field: &str) -> Result<Option<i64>, RulesError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Int(i)) => Ok(Some(*i)),
        Some(Value::Float(f)) if f.fract() == 0.0 => Ok(Some(*f as i64)),
        Some(_) => Err(invalid(path, format!("`{field}` must be an integer"))),
    }
}

impl Config {
    /// Reads and validates a `.sops.yaml`.
    pub fn load(path: &Path) -> Result<Config, RulesError> {
        let bytes = std::fs::read(path).map_err(|source| RulesError::Io {
            path: path.to_owned(),
            source,
        })?;
        Config::parse(&bytes, path)
    }

    /// Parses `.sops.yaml` content; `path` is where it lives (rules match relative to it).
    pub fn parse(bytes: &[u8], path: &Path) -> Result<Config, RulesError> {
        let docs = store::parse(Format::Yaml, bytes).map_err(|e| invalid(path, e.to_string()))?;
        let root = docs.into_iter().next().unwrap_or_default();
        let mut stores = StoreOptions::default();
        if let Some(Value::Map(s)) = root.get("stores") {
            if let Some(Value::Map(y)) = s.get("yaml") {
                if let Some(i) = indent(y.get("indent"), path, "stores.yaml.indent")? {
                    if !(0..=9).contains(&i) {
                        return Err(invalid(
                            path,
                            "`stores.yaml.indent` must be between 0 and 9",
                        ));
                    }
                    stores.yaml_indent = if i == 0 { 4 } else { i as usize };
                }
            }
            if let Some(Value::Map(j)) = s.get("json") {
                if let Some(i) = indent(j.get("indent"), path, "stores.json.indent")? {
                    stores.json_indent = match i {
                        -1 => None,
                        i if i >= 0 => Some(i as usize),
                        _ => return Err(invalid(path, "`stores.json.indent` must be -1 or more")),
                    };
                }
            }
        }
        let mut creation_rules = Vec::new();
        match root.get("creation_rules") {
            None | Some(Value::Null) => {}
            Some(Value::Seq(rules)) => {
                // Comment lines between the rules are list items in the tree: skip them.
                let rules = rules.iter().filter(|r| !matches!(r, Value::Comment(_)));
                for (i, r) in rules.enumerate() {
                    let Value::Map(m) = r else {
                        return Err(invalid(path, format!("creation rule {i} is not a mapping")));
                    };
                    creation_rules.push(CreationRule::from_map(m, path)?);
                }
            }
            Some(_) => return Err(invalid(path, "`creation_rules` must be a list")),
        }
        Ok(Config {
            path: path.to_owned(),
            creation_rules,
            stores,
        })
    }

    /// The directory the config lives in (rules match paths relative to it).
    pub fn dir(&self) -> PathBuf {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        std::path::absolute(dir).unwrap_or_else(|_| dir.to_owned())
    }

    /// The first creation rule matching `file` (made absolute by the caller or here).
    pub fn rule_for(&self, file: &Path) -> Result<&CreationRule, RulesError> {
        let abs = std::path::absolute(file).unwrap_or_else(|_| file.to_owned());
        let abs_s = abs.to_string_lossy();
        let dir = self.dir();
        let prefix = format!("{}/", dir.to_string_lossy());
        let rel = abs_s.strip_prefix(&prefix).unwrap_or(&abs_s);
        self.creation_rules
            .iter()
            .find(|r| r.path_regex.as_ref().is_none_or(|re| re.is_match(rel)))
            .ok_or_else(|| RulesError::NoMatch {
                config: self.path.clone(),
                file: file.to_owned(),
            })
    }

    /// True when the config has creation rules (sops treats a config without them as none).
    pub fn has_rules(&self) -> bool {
        !self.creation_rules.is_empty()
    }
}

impl CreationRule {
    fn from_map(m: &Map, path: &Path) -> Result<CreationRule, RulesError> {
        let path_regex = match m.get("path_regex") {
            None | Some(Value::Null) => None,
            Some(Value::Str(s)) if s.is_empty() => None,
            Some(Value::Str(s)) => {
                Some(Regex::new(s).map_err(|e| invalid(path, format!("invalid path_regex: {e}")))?)
            }
            Some(_) => return Err(invalid(path, "`path_regex` must be a string")),
        };
        let key_groups = match m.get("key_groups") {
            Some(Value::Seq(groups)) if !groups.is_empty() => groups
                .iter()
                .filter(|g| !matches!(g, Value::Comment(_)))
                .map(|g| {
                    g.as_map()
                        .ok_or_else(|| invalid(path, "`key_groups` must be a list of mappings"))
                        .and_then(|gm| group_from(gm, path))
                })
                .collect::<Result<Vec<_>, _>>()?,
            _ => {
                let g = group_from(m, path)?;
                if g.is_empty() {
                    Vec::new()
                } else {
                    vec![g]
                }
            }
        };
        let shamir_threshold = match m.get("shamir_threshold") {
            None | Some(Value::Null) => 0,
            Some(Value::Int(i)) if *i >= 0 => *i as usize,
            Some(_) => {
                return Err(invalid(
                    path,
                    "`shamir_threshold` must be a non-negative integer",
                ))
            }
        };
        let fields: Vec<(&str, String)> = FIELDS
            .iter()
            .filter_map(|f| {
                m.get(f)
                    .and_then(|v| v.as_str())
                    .map(|v| (*f, v.to_owned()))
            })
            .collect();
        let selector = Selector::from_fields(fields.iter().map(|(f, v)| (*f, v.as_str())))
            .map_err(|e: SelectError| invalid(path, e.to_string()))?;
        Ok(CreationRule {
            path_regex,
            key_groups,
            shamir_threshold,
            selector,
            mac_only_encrypted: bool_field(m, "mac_only_encrypted", path)?,
        })
    }
}
