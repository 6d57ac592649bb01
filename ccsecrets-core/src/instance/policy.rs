//! The recipient policy, `.sops.yaml`: reading and editing who may decrypt.
//!
//! Edits go through the YAML tree, so comments and every other setting of the file are kept.
//! A recipient's *label* is the comment line right above it in its `age:` list
//! (`# host key ssh-ed25519 …ab12 root@ci`); `add` writes one, `remove` removes it with the
//! recipient. Both forms sops accepts are read: `age:` directly on a creation rule (a string
//! of comma-separated keys or a list) and `key_groups: [{age: […]}, …]`. A change applies to
//! every creation rule, since an instance's rules all guard the same secrets.
//!
//! Editing the policy changes no encrypted file: [`rekey`](super::rekey) does that.

use std::path::{Path, PathBuf};

use crate::fsutil::{self, FileStamp};
use crate::keys::{Recipient, RecipientError};
use crate::sops::rules::{Config, RulesError};
use crate::sops::store::{self, Format, StoreError, StoreOptions};
use crate::sops::tree::{Item, Map, Value};

/// `.sops.yaml`, as a tree that can be edited and written back.
#[derive(Debug, Clone)]
pub struct Policy {
    root: Map,
    path: PathBuf,
    stamp: FileStamp,
}

/// One recipient of one key group of one creation rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyEntry {
    /// The creation rule's index (0-based).
    pub rule: usize,
    /// The rule's `path_regex`, if any.
    pub path_regex: Option<String>,
    /// The key group's index (0-based; a rule with a plain `age:` has group 0 only).
    pub group: usize,
    /// The recipient (`age1…` or `ssh-ed25519 …`).
    pub recipient: String,
    /// The comment line above it, if any.
    pub label: Option<String>,
}

/// Why the policy could not be read or changed. The file is unchanged after any error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// The file could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not YAML, or not in a shape ccsecrets can edit.
    #[error("{}: {reason}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The file (as it is, or as it would be after the edit) is not a valid sops config.
    #[error(transparent)]
    Rules(#[from] RulesError),
    /// The recipient is not a valid age or SSH public key.
    #[error(transparent)]
    Recipient(#[from] RecipientError),
    /// The file has no creation rule to edit.
    #[error("{}: has no creation rules", .0.display())]
    NoRules(PathBuf),
    /// The key group does not exist (groups can be appended one at a time).
    #[error("{}: creation rule {rule} has {groups} key group(s); --group {group} is out of range", path.display())]
    NoSuchGroup {
        /// The file.
        path: PathBuf,
        /// The rule.
        rule: usize,
        /// Its number of groups.
        groups: usize,
        /// The group asked for.
        group: usize,
    },
    /// The recipient is not in the policy.
    #[error("{}: {recipient} is not a recipient", path.display())]
    NotFound {
        /// The file.
        path: PathBuf,
        /// The recipient.
        recipient: String,
    },
    /// Removing the recipient would leave a key group without any recipient, locking every
    /// reader out of the files the rule covers.
    #[error("{}: {recipient} is the last recipient of creation rule {rule}, group {group}; add its replacement first", path.display())]
    LastRecipient {
        /// The file.
        path: PathBuf,
        /// The recipient.
        recipient: String,
        /// The rule.
        rule: usize,
        /// The group.
        group: usize,
    },
    /// The edited tree could not be written.
    #[error("{}: {source}", path.display())]
    Store {
        /// The file.
        path: PathBuf,
        /// Why.
        source: StoreError,
    },
    /// The file could not be written.
    #[error(transparent)]
    Write(#[from] fsutil::WriteError),
}

/// The `path_regex` of the creation rule `init` writes.
pub const INSTANCE_PATH_REGEX: &str = r"secrets/.*\.yaml$";

impl Policy {
    /// The policy `init` starts from: one creation rule for `secrets/*.yaml` with one empty
    /// key group, and a header comment. Its path is `.sops.yaml` (relative).
    pub fn new_instance() -> Policy {
        let mut group = Map::new();
        group.push("age", Value::Seq(Vec::new()));
        let mut rule = Map::new();
        rule.push("path_regex", Value::Str(INSTANCE_PATH_REGEX.into()));
        rule.push("key_groups", Value::Seq(vec![Value::Map(group)]));
        let mut root = Map::new();
        for line in [
            " Who may decrypt this instance's secrets. Change it with `ccsecrets recipients",
            " add|remove`, then apply it to every file with `ccsecrets rekey --commit`.",
            " The comment above a recipient says whose key it is.",
        ] {
            root.0.push(Item::Comment(line.into()));
        }
        root.push("creation_rules", Value::Seq(vec![Value::Map(rule)]));
        Policy {
            root,
            path: PathBuf::from(super::SOPS_CONFIG_FILE),
            stamp: FileStamp::absent(),
        }
    }

    /// Reads `.sops.yaml` at `path`.
    pub fn load(path: &Path) -> Result<Policy, PolicyError> {
        let bytes = std::fs::read(path).map_err(|source| PolicyError::Io {
            path: path.to_owned(),
            source,
        })?;
        Policy::parse(&bytes, path)
    }

    /// Parses `.sops.yaml` content read from `path` (checked as sops would read it).
    pub fn parse(bytes: &[u8], path: &Path) -> Result<Policy, PolicyError> {
        Config::parse(bytes, path)?;
        let docs = store::parse(Format::Yaml, bytes).map_err(|e| PolicyError::Invalid {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
        let root = docs.into_iter().next().unwrap_or_default();
        Ok(Policy {
            root,
            path: path.to_owned(),
            stamp: FileStamp::of_bytes(bytes),
        })
    }

    /// The file this policy was read from (or will be written to).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every recipient, rule by rule and group by group, with its label.
    pub fn entries(&self) -> Vec<PolicyEntry> {
        let mut out = Vec::new();
        for (ri, rule) in self.rules().iter().enumerate() {
            let path_regex = rule
                .get("path_regex")
                .and_then(|v| v.as_str())
                .map(String::from);
            let mut push = |group: usize, list: &Value| {
                for (recipient, label) in list_entries(list) {
                    out.push(PolicyEntry {
                        rule: ri,
                        path_regex: path_regex.clone(),
                        group,
                        recipient,
                        label,
                    });
                }
            };
            match rule.get("key_groups") {
                Some(Value::Seq(groups)) if !groups.is_empty() => {
                    for (gi, g) in groups
                        .iter()
                        .filter(|g| !matches!(g, Value::Comment(_)))
                        .enumerate()
                    {
                        if let Some(list) = g.as_map().and_then(|m| m.get("age")) {
                            push(gi, list);
                        }
                    }
                }
                _ => {
                    if let Some(list) = rule.get("age") {
                        push(0, list);
                    }
                }
            }
        }
        out
    }

    fn rules(&self) -> Vec<&Map> {
        match self.root.get("creation_rules") {
            Some(Value::Seq(rules)) => rules.iter().filter_map(Value::as_map).collect(),
            _ => Vec::new(),
        }
    }

    fn rules_mut(&mut self) -> Vec<&mut Map> {
        match self.root.get_mut("creation_rules") {
            Some(Value::Seq(rules)) => rules
                .iter_mut()
                .filter_map(|v| match v {
                    Value::Map(m) => Some(m),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        }
    }

    /// Adds `recipient` to key group `group` of every creation rule, with `label` as the
    /// comment above it. Returns false when every rule already had it there (no change).
    /// `group` may be one past the last group, to start a new one.
    pub fn add(
        &mut self,
        recipient: &str,
        group: usize,
        label: Option<&str>,
    ) -> Result<bool, PolicyError> {
        let recipient: Recipient = recipient.parse()?;
        let path = self.path.clone();
        let mut rules = self.rules_mut();
        if rules.is_empty() {
            return Err(PolicyError::NoRules(path));
        }
        let mut changed = false;
        for (ri, rule) in rules.iter_mut().enumerate() {
            let list = age_list(rule, group, true, &path, ri)?;
            let Value::Seq(items) = list else {
                unreachable!("age_list returns a sequence")
            };
            if items
                .iter()
                .any(|v| v.as_str().map(str::trim) == Some(recipient.as_str()))
            {
                continue;
            }
            if let Some(l) = label {
                items.push(Value::Comment(format!(" {}", one_line(l))));
            }
            items.push(Value::Str(recipient.as_str().to_owned()));
            changed = true;
        }
        Ok(changed)
    }

    /// Removes `recipient` from every group of every rule, with its label. Refuses when it is
    /// nowhere, or when a group would be left empty. Returns how many places it was removed
    /// from.
    pub fn remove(&mut self, recipient: &str) -> Result<usize, PolicyError> {
        let wanted = recipient.trim().to_owned();
        let path = self.path.clone();
        // First find, to refuse before changing anything.
        let entries = self.entries();
        let hits: Vec<&PolicyEntry> = entries.iter().filter(|e| e.recipient == wanted).collect();
        if hits.is_empty() {
            return Err(PolicyError::NotFound {
                path,
                recipient: wanted,
            });
        }
        for hit in &hits {
            let left = entries
                .iter()
                .filter(|e| e.rule == hit.rule && e.group == hit.group && e.recipient != wanted)
                .count();
            if left == 0 {
                return Err(PolicyError::LastRecipient {
                    path,
                    recipient: wanted,
                    rule: hit.rule,
                    group: hit.group,
                });
            }
        }
        let mut removed = 0;
        for (ri, rule) in self.rules_mut().into_iter().enumerate() {
            let groups = match rule.get("key_groups") {
                Some(Value::Seq(g)) if !g.is_empty() => g.len(),
                _ => 1,
            };
            for gi in 0..groups {
                let Ok(Value::Seq(items)) = age_list(rule, gi, false, &path, ri) else {
                    continue;
                };
                while let Some(i) = items
                    .iter()
                    .position(|v| v.as_str().map(str::trim) == Some(wanted.as_str()))
                {
                    items.remove(i);
                    if i > 0 && matches!(items[i - 1], Value::Comment(_)) {
                        items.remove(i - 1);
                    }
                    removed += 1;
                }
            }
        }
        Ok(removed)
    }

    /// The policy as YAML, checked to be a valid sops config.
    pub fn to_bytes(&self) -> Result<Vec<u8>, PolicyError> {
        let bytes = store::emit(
            Format::Yaml,
            std::slice::from_ref(&self.root),
            &StoreOptions::default(),
        )
        .map_err(|source| PolicyError::Store {
            path: self.path.clone(),
            source,
        })?;
        Config::parse(&bytes, &self.path)?;
        Ok(bytes)
    }

    /// Writes the policy back to the file it was read from, refusing when that file changed
    /// since it was read.
    pub fn save(&self) -> Result<(), PolicyError> {
        let bytes = self.to_bytes()?;
        fsutil::write_atomic(&self.path, &bytes, Some(&self.stamp))?;
        Ok(())
    }
}

fn one_line(s: &str) -> String {
    s.replace(['\n', '\r'], " ")
}

/// The recipients of an `age:` value (string or list) with their labels.
fn list_entries(list: &Value) -> Vec<(String, Option<String>)> {
    match list {
        Value::Str(s) => s
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| (s.to_owned(), None))
            .collect(),
        Value::Seq(items) => {
            let mut out = Vec::new();
            let mut label = None;
            for v in items {
                match v {
                    Value::Comment(c) => label = Some(c.trim().to_owned()),
                    Value::Str(s) => out.push((s.trim().to_owned(), label.take())),
                    _ => label = None,
                }
            }
            out
        }
        _ => Vec::new(),
    }
}

/// The `age:` list of group `group` of `rule`, made a list if it was a string. With
/// `create`, a missing list (or group one past the end) is created, and a rule with a plain
/// `age:` is converted to `key_groups` when a second group is asked for.
fn age_list<'a>(
    rule: &'a mut Map,
    group: usize,
    create: bool,
    path: &Path,
    ri: usize,
) -> Result<&'a mut Value, PolicyError> {
    let has_groups = matches!(rule.get("key_groups"), Some(Value::Seq(g)) if !g.is_empty());
    if !has_groups && group > 0 && create {
        // Convert `age:` on the rule to `key_groups: [{age: …}]`.
        let age = rule.remove("age").unwrap_or(Value::Seq(Vec::new()));
        let mut g = Map::new();
        g.push("age", age);
        match rule.get_mut("key_groups") {
            Some(v) => *v = Value::Seq(vec![Value::Map(g)]),
            None => rule.push("key_groups", Value::Seq(vec![Value::Map(g)])),
        }
    }
    let has_groups = matches!(rule.get("key_groups"), Some(Value::Seq(g)) if !g.is_empty());
    let holder: &mut Map = if has_groups {
        let Some(Value::Seq(groups)) = rule.get_mut("key_groups") else {
            unreachable!("checked above")
        };
        groups.retain(|g| !matches!(g, Value::Comment(_)));
        let count = groups.len();
        if group == count && create {
            groups.push(Value::Map(Map::new()));
        }
        match groups.get_mut(group) {
            Some(Value::Map(m)) => m,
            Some(_) => {
                return Err(PolicyError::Invalid {
                    path: path.to_owned(),
                    reason: format!("creation rule {ri}: key group {group} is not a mapping"),
                })
            }
            None => {
                return Err(PolicyError::NoSuchGroup {
                    path: path.to_owned(),
                    rule: ri,
                    groups: count,
                    group,
                })
            }
        }
    } else if group == 0 {
        rule
    } else {
        return Err(PolicyError::NoSuchGroup {
            path: path.to_owned(),
            rule: ri,
            groups: 1,
            group,
        });
    };
    if holder.get("age").is_none() {
        holder.push("age", Value::Seq(Vec::new()));
    }
    let list = holder.get_mut("age").expect("just ensured");
    if let Value::Str(s) = list {
        let items = s
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| Value::Str(s.to_owned()))
            .collect();
        *list = Value::Seq(items);
    } else if matches!(list, Value::Null) {
        *list = Value::Seq(Vec::new());
    }
    match list {
        Value::Seq(_) => Ok(list),
        other => Err(PolicyError::Invalid {
            path: path.to_owned(),
            reason: format!(
                "creation rule {ri}: `age` must be a string or a list, found {}",
                other.kind()
            ),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::Identity;

    fn recipient() -> String {
        Identity::generate().0.public().to_owned()
    }

    #[test]
    fn add_list_remove_round_trip() {
        let (a, b) = (recipient(), recipient());
        let mut p = Policy::new_instance();
        assert!(p.add(&a, 0, Some("bootstrap key")).unwrap());
        assert!(!p.add(&a, 0, Some("again")).unwrap(), "no duplicate");
        assert!(p.add(&b, 0, Some("host key")).unwrap());
        let bytes = p.to_bytes().unwrap();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(text.contains("# bootstrap key"), "{text}");
        let back = Policy::parse(&bytes, Path::new(".sops.yaml")).unwrap();
        let entries = back.entries();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].recipient, a);
        assert_eq!(entries[0].label.as_deref(), Some("bootstrap key"));
        assert_eq!(entries[1].label.as_deref(), Some("host key"));
        let config = Config::parse(&bytes, Path::new("/i/.sops.yaml")).unwrap();
        let rule = config
            .rule_for(Path::new("/i/secrets/secrets.yaml"))
            .unwrap();
        assert_eq!(rule.key_groups.len(), 1);
        assert_eq!(rule.key_groups[0].len(), 2);

        let mut edited = back.clone();
        assert_eq!(edited.remove(&a).unwrap(), 1);
        let text = String::from_utf8(edited.to_bytes().unwrap()).unwrap();
        assert!(
            !text.contains(&a) && !text.contains("bootstrap key"),
            "{text}"
        );
        assert!(matches!(
            edited.remove(&b),
            Err(PolicyError::LastRecipient { .. })
        ));
        assert!(matches!(
            edited.remove(&a),
            Err(PolicyError::NotFound { .. })
        ));
    }

    #[test]
    fn string_form_and_new_groups() {
        let (a, b, c) = (recipient(), recipient(), recipient());
        let text = format!("creation_rules:\n  - path_regex: x\n    age: {a},{b}\n");
        let mut p = Policy::parse(text.as_bytes(), Path::new(".sops.yaml")).unwrap();
        assert_eq!(p.entries().len(), 2);
        assert!(matches!(
            p.add(&c, 2, None),
            Err(PolicyError::NoSuchGroup { .. })
        ));
        p.add(&c, 1, None).unwrap();
        let e = p.entries();
        assert_eq!(
            e.iter()
                .map(|e| (e.group, e.recipient.clone()))
                .collect::<Vec<_>>(),
            vec![(0, a.clone()), (0, b.clone()), (1, c.clone())]
        );
        let bytes = p.to_bytes().unwrap();
        let config = Config::parse(&bytes, Path::new("/i/.sops.yaml")).unwrap();
        assert_eq!(config.creation_rules[0].key_groups.len(), 2);
        assert!(p.add("age1notakey", 0, None).is_err());
    }
}
