//! The keyless sops policy of one file: is it a complete sops file, is every value that must
//! be encrypted `ENC[…]`, and are its recipients the rule's.
//!
//! Which files: every file a creation rule with a `path_regex` matches must be a sops file. A
//! rule without `path_regex` matches any path, so it only says which keys a *new* sops file
//! gets: files it covers are checked when they are sops files, and not required to be. A sops
//! file no rule matches is still checked for completeness and plaintext values, with the
//! selection rule written in its metadata.
//!
//! Recipients, compared over all key groups:
//! - **missing**: named by the file's rule but not on the file;
//! - **extra**: on the file, not in its rule, but named by another rule of the same
//!   `.sops.yaml` (a file under the wrong rule);
//! - **stale**: on the file and named by no rule at all (a removed or rotated key, which can
//!   still open this version of the file).

use std::collections::BTreeSet;
use std::path::Path;

use crate::sops::cipher::is_encrypted;
use crate::sops::document::EncryptedFile;
use crate::sops::rules::{Config, CreationRule};
use crate::sops::select::{CommentStack, Selector};
use crate::sops::store::Format;
use crate::sops::tree::{Item, Map, Value};

use super::{fingerprint, Finding, Kind, RepoRole, Severity, Source};

/// What the policy needs to know about the repository.
pub struct PolicyContext<'a> {
    /// The repository.
    pub role: RepoRole,
    /// Where the files come from (work tree or index).
    pub source: Source,
    /// The repository root (rules match paths relative to the config's directory).
    pub root: &'a Path,
    /// The root `.sops.yaml`, if any.
    pub config: Option<&'a Config>,
    /// The bootstrap recipient every file must have (instance repos that declare it).
    pub bootstrap: Option<&'a str>,
    /// The instance's `secrets/` directory (relative to the root, with a trailing `/`), whose
    /// files sops-nix decrypts; `None` for other repos.
    pub sops_nix: Option<&'a str>,
}

/// A sops file found by the policy pass.
pub struct SopsFile {
    /// Its path relative to the root.
    pub path: String,
    /// Its format.
    pub format: Format,
    /// The parsed file.
    pub file: EncryptedFile,
}

/// Checks one file. Returns the parsed sops file when it is one.
pub fn check_file(
    ctx: &PolicyContext<'_>,
    path: &str,
    data: &[u8],
    out: &mut Vec<Finding>,
) -> Option<SopsFile> {
    if path == crate::sops::rules::CONFIG_NAME || path == super::allow::ALLOW_FILE {
        return None;
    }
    let rule = ctx.config.and_then(|c| {
        if c.has_rules() {
            c.rule_for(&ctx.root.join(path)).ok()
        } else {
            None
        }
    });
    let required = rule.is_some_and(|r| r.path_regex.is_some());
    let looks_sops = memchr::memmem::find(data, b"ENC[AES256_GCM,").is_some()
        || memchr::memmem::find(data, b"sops").is_some();
    if !required && !looks_sops {
        return None;
    }
    let format = Format::from_path(Path::new(path));
    let finding = |kind: Kind, detail: &str, message: String| Finding {
        kind,
        severity: Severity::Error,
        repo: ctx.role,
        source: ctx.source,
        path: Some(path.to_owned()),
        line: None,
        secret: None,
        message,
        fingerprint: fingerprint(kind, Some(path), detail, ""),
    };
    let file = match EncryptedFile::parse(data, format) {
        Ok(f) => f,
        Err(_) if required => {
            out.push(finding(
                Kind::NotEncrypted,
                "",
                format!(
                    "matches a creation rule's path_regex in .sops.yaml but is not a sops {} file (no readable sops metadata)",
                    format.name()
                ),
            ));
            return None;
        }
        Err(_) => return None,
    };

    let meta = &file.metadata;
    let missing: Vec<&str> = [
        ("version", meta.version.is_empty()),
        ("mac", meta.mac.is_empty()),
        ("lastmodified", meta.lastmodified.is_empty()),
    ]
    .iter()
    .filter(|(_, m)| *m)
    .map(|(n, _)| *n)
    .collect();
    if !missing.is_empty() {
        out.push(finding(
            Kind::IncompleteSopsFile,
            &missing.join(","),
            format!("sops metadata lacks {}", missing.join(", ")),
        ));
    }

    // Which values must be encrypted: the rule's selection rule when a rule covers the file,
    // else the one its metadata names.
    let selector = match rule {
        Some(r) => r.selector.clone().unwrap_or_default(),
        None => meta.effective_selector(),
    };
    if rule.is_some() && selector.field() != meta.effective_selector().field() {
        let (rf, rv) = selector.field();
        let (mf, mv) = meta.effective_selector().field();
        out.push(finding(
            Kind::SelectorMismatch,
            &format!("{rf}={rv}|{mf}={mv}"),
            format!("the rule says {rf}: {rv:?} but the file was encrypted with {mf}: {mv:?}"),
        ));
    }
    for (key, comment) in plaintext_keys(&file, &selector) {
        let mut f = finding(
            Kind::PlaintextValue,
            &format!("{key}|{comment}"),
            plaintext_message(&key, comment),
        );
        f.secret = Some(key);
        out.push(f);
    }

    let recipients: BTreeSet<&str> = meta
        .key_groups
        .iter()
        .flat_map(|g| g.age.iter().map(|k| k.recipient.as_str()))
        .collect();
    if let (Some(rule), Some(config)) = (rule, ctx.config) {
        recipient_policy(
            rule,
            config,
            meta.key_groups.len(),
            &recipients,
            &finding,
            out,
        );
    }
    if let Some(b) = ctx.bootstrap {
        if !recipients.contains(b) {
            out.push(finding(
                Kind::BootstrapRecipientMissing,
                b,
                format!("not encrypted to the instance's bootstrap recipient {b}"),
            ));
        }
    }
    if ctx.sops_nix.is_some_and(|dir| path.starts_with(dir)) {
        for r in recipients.iter().filter(|r| r.starts_with("ssh-")) {
            let shown: String = r.chars().take(40).collect();
            out.push(finding(
                Kind::SshRecipient,
                r,
                format!("encrypted to an SSH stanza ({shown}…), which sops-nix's converted host identity cannot open"),
            ));
        }
    }
    Some(SopsFile {
        path: path.to_owned(),
        format,
        file,
    })
}

/// The key paths (dotted) of the values, and of the comments (`true`), that `selector` says
/// must be encrypted but are not `ENC[…]`.
pub fn plaintext_keys(file: &EncryptedFile, selector: &Selector) -> Vec<(String, bool)> {
    let mut plain = Vec::new();
    let mut walk = PlainWalk {
        selector,
        stack: CommentStack::default(),
        path: Vec::new(),
        found: &mut plain,
    };
    for b in &file.branches {
        walk.map(b);
    }
    plain
}

/// The message of a [`Kind::PlaintextValue`] finding.
pub fn plaintext_message(key: &str, comment: bool) -> String {
    let what = if comment {
        "a comment under"
    } else {
        "the value at"
    };
    let shown = if key.is_empty() {
        "the top level".to_owned()
    } else {
        format!("`{key}`")
    };
    format!("{what} {shown} must be encrypted but is plaintext")
}

fn recipient_policy(
    rule: &CreationRule,
    config: &Config,
    file_groups: usize,
    recipients: &BTreeSet<&str>,
    finding: &dyn Fn(Kind, &str, String) -> Finding,
    out: &mut Vec<Finding>,
) {
    if rule.key_groups.is_empty() {
        return;
    }
    let wanted: BTreeSet<&str> = rule
        .key_groups
        .iter()
        .flatten()
        .map(|r| r.as_str())
        .collect();
    let known: BTreeSet<&str> = config
        .creation_rules
        .iter()
        .flat_map(|r| r.key_groups.iter().flatten().map(|k| k.as_str()))
        .collect();
    for r in wanted.difference(recipients) {
        out.push(finding(
            Kind::MissingRecipient,
            r,
            format!("the creation rule names {r}, but the file is not encrypted to it"),
        ));
    }
    for r in recipients.difference(&wanted) {
        if known.contains(r) {
            out.push(finding(
                Kind::ExtraRecipient,
                r,
                format!("encrypted to {r}, which another creation rule names but this file's rule does not"),
            ));
        } else {
            out.push(finding(
                Kind::StaleRecipient,
                r,
                format!("encrypted to {r}, which no creation rule names (a removed key can still open it)"),
            ));
        }
    }
    if rule.key_groups.len() != file_groups {
        out.push(finding(
            Kind::KeyGroupMismatch,
            &format!("{}|{file_groups}", rule.key_groups.len()),
            format!(
                "the rule has {} key group(s), the file {file_groups}",
                rule.key_groups.len()
            ),
        ));
    }
}

/// Walks an encrypted tree as the decryption does and lists the values (and comments) the
/// selector says must be encrypted but are not `ENC[…]`. Records key paths only.
struct PlainWalk<'a> {
    selector: &'a Selector,
    stack: CommentStack,
    path: Vec<String>,
    found: &'a mut Vec<(String, bool)>,
}

impl PlainWalk<'_> {
    fn key(&self) -> String {
        self.path.join(".")
    }

    fn map(&mut self, m: &Map) {
        self.stack.push_level();
        for item in &m.0 {
            match item {
                Item::Comment(c) => {
                    self.stack.add(c);
                    if self.selector.should_encrypt(&self.path, &self.stack, true)
                        && !is_encrypted(c)
                        && !c.trim().is_empty()
                    {
                        let key = self.key();
                        self.found.push((key, true));
                    }
                }
                Item::Entry(k, v) => {
                    self.path.push(k.clone());
                    self.value(v);
                    self.path.pop();
                    self.stack.clear_level();
                }
            }
        }
        self.stack.pop_level();
    }

    fn value(&mut self, v: &Value) {
        match v {
            Value::Map(m) => self.map(m),
            Value::Seq(items) => {
                self.stack.push_level();
                for (i, e) in items.iter().enumerate() {
                    if let Value::Comment(c) = e {
                        self.stack.add(c);
                        if self.selector.should_encrypt(&self.path, &self.stack, true)
                            && !is_encrypted(c)
                            && !c.trim().is_empty()
                        {
                            let key = self.key();
                            self.found.push((key, true));
                        }
                    } else {
                        // Sequence indexes are not keys for the selector.
                        self.seq_element(e, i);
                        self.stack.clear_level();
                    }
                }
                self.stack.pop_level();
            }
            // sops leaves empty strings unencrypted.
            Value::Null | Value::Comment(_) => {}
            Value::Str(s) if s.is_empty() || is_encrypted(s) => {}
            _ => {
                if self.selector.should_encrypt(&self.path, &self.stack, false) {
                    let key = self.key();
                    self.found.push((key, false));
                }
            }
        }
    }

    fn seq_element(&mut self, e: &Value, idx: usize) {
        match e {
            Value::Map(_) | Value::Seq(_) => self.value(e),
            Value::Null | Value::Comment(_) => {}
            Value::Str(s) if s.is_empty() || is_encrypted(s) => {}
            _ => {
                if self.selector.should_encrypt(&self.path, &self.stack, false) {
                    let key = format!("{}[{idx}]", self.key());
                    self.found.push((key, false));
                }
            }
        }
    }
}
