//! The sops-nix glue: the declarations sops-nix needs for an instance, rendered from the one
//! secret schema ([`SecretSet`] and its [`InstallTarget`]s).
//!
//! Two renderings of the same [`Declarations`]:
//!
//! - [`Declarations::to_nix`]: a self-contained Nix attribute set
//!   `{ sops = { defaultSopsFile = "…"; age = { … }; secrets = { … }; }; }` — what
//!   `ccsecrets nix` prints. It has no free variables and the sops file is a path *string*,
//!   so `nix-instantiate --eval --strict --json` of it alone works, and it is itself a valid
//!   NixOS module.
//! - [`Declarations::glue_json`]: the committed glue, `sops-nix.json` at the root of the
//!   instance repo ([`GLUE_FILE`]). The flake's `nixosModules.default` reads it with
//!   `builtins.fromJSON` (Nix cannot read YAML without import-from-derivation), and
//!   [`glue_findings`] compares it with `secrets/secrets.yaml` so that `ccsecrets check` can
//!   fail when the two disagree.
//!
//! Everything here is keyless: the structure of a sops file (its keys) is plaintext; only
//! values are encrypted. The secret set is read from the encrypted document, whose values
//! are `ENC[…]` strings, so the same schema decides which secrets exist.
//!
//! sops-nix addresses a nested value with a `/`-separated key (`tls/fullchain`) and walks
//! mappings only: an item of a YAML list (`registry[0].password`, the older registry form)
//! cannot be declared, while a labelled credential (`registry.ghcr.password`) can. A list
//! item is refused ([`NixError::ListItem`]) rather than emitted into glue that would
//! fail at activation.

#[cfg(test)]
mod tests;

use std::fmt;
use std::path::{Path, PathBuf};

use crate::instance::secrets::{sops_nix_key, InstallTarget, RUN_SECRETS_DIR};
use crate::instance::{Instance, InstanceError, SecretSet, SecretSetError};
use crate::sops::document::{DecryptError, EncryptedFile};
use crate::sops::store::{json, Format, StoreError};
use crate::sops::tree::Value;

/// The committed glue file, relative to the instance root.
pub const GLUE_FILE: &str = "sops-nix.json";
/// The `format` tag of [`GLUE_FILE`]; bumped when its layout changes.
pub const GLUE_FORMAT: &str = "ccsecrets-sops-nix/1";
/// Where the bootstrap age key lives on the host (`sops.age.keyFile`).
pub const DEFAULT_AGE_KEY_FILE: &str = "/var/lib/sops-nix/key.txt";
/// The host SSH key sops-nix converts to an age identity (`sops.age.sshKeyPaths`), so that
/// a host recipient added with `ccsecrets recipients add --host-key` also opens the file.
pub const DEFAULT_SSH_KEY_PATHS: [&str; 1] = ["/etc/ssh/ssh_host_ed25519_key"];

/// Where the host finds its decryption keys (`sops.age.*`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostKeys {
    /// `sops.age.keyFile`: the bootstrap age identity.
    pub age_key_file: String,
    /// `sops.age.sshKeyPaths`: SSH host keys converted to age identities.
    pub ssh_key_paths: Vec<String>,
}

impl Default for HostKeys {
    fn default() -> Self {
        HostKeys {
            age_key_file: DEFAULT_AGE_KEY_FILE.into(),
            ssh_key_paths: DEFAULT_SSH_KEY_PATHS
                .iter()
                .map(|s| s.to_string())
                .collect(),
        }
    }
}

/// One `sops.secrets."<name>"` declaration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Declaration {
    /// The secret's name in the instance model (`tls.fullchain`).
    pub secret: String,
    /// The sops-nix name and key (`tls/fullchain`); the attribute name and `key`.
    pub key: String,
    /// Path, owner, group, mode and units.
    pub target: InstallTarget,
}

/// Everything sops-nix needs for one instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Declarations {
    /// `sops.defaultSopsFile`, as a path string.
    pub sops_file: String,
    /// `sops.age.*`.
    pub keys: HostKeys,
    /// One per secret, in the set's stable order.
    pub secrets: Vec<Declaration>,
}

/// Why the glue could not be made or read. Never holds a secret value.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NixError {
    /// The instance could not be opened.
    #[error(transparent)]
    Instance(#[from] InstanceError),
    /// A file could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// `secrets.yaml` is not a sops file.
    #[error("{}: {source}", path.display())]
    Secrets {
        /// The file.
        path: PathBuf,
        /// Why it could not be parsed.
        source: DecryptError,
    },
    /// `secrets.yaml` does not match the instance model.
    #[error("{}: {source}", path.display())]
    Model {
        /// The file.
        path: PathBuf,
        /// The problems.
        source: SecretSetError,
    },
    /// A secret lives in a YAML list, which sops-nix cannot address.
    #[error(
        "`{secret}` is an item of a YAML list; sops-nix looks keys up through mappings only \
         (`{key}` would fail at activation), so it cannot be declared; key the registry by a \
         label instead, `registry: {{ LABEL: {{ host: …, username: …, password: … }} }}` \
         (docs/secrets.md, \"Registry credentials\")"
    )]
    ListItem {
        /// The secret (`registry[0].password`).
        secret: String,
        /// The sops-nix key it would need (`registry/0/password`).
        key: String,
    },
    /// A secret's name cannot be turned into a sops-nix key without ambiguity.
    #[error(
        "`{secret}`: an `extra` secret's name or a `registry` label must not be empty or \
         contain `.` or `/` (ccsecrets names are `.`-separated and sops-nix keys \
         `/`-separated, so it would name another path)"
    )]
    AmbiguousName {
        /// The secret.
        secret: String,
    },
    /// A secret's name holds a NUL character, which neither a Nix string nor a file name can
    /// carry (Nix would silently cut the name short).
    #[error("`{}`: a secret name must not contain a NUL character", secret.escape_debug())]
    NulInName {
        /// The secret.
        secret: String,
    },
    /// The committed glue file is not in the form `ccsecrets nix --write` writes.
    #[error("{}: {message}", path.display())]
    Glue {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

impl Declarations {
    /// The declarations of every secret in `set`: sops-nix key, path, owner, group, mode and
    /// units from each secret's install target.
    pub fn from_set(
        set: &SecretSet,
        sops_file: impl Into<String>,
        keys: HostKeys,
    ) -> Result<Declarations, NixError> {
        let mut secrets = Vec::new();
        for s in set.secrets() {
            let key = secret_key(&s.name)?;
            secrets.push(Declaration {
                secret: s.name.clone(),
                key,
                target: s.target.clone(),
            });
        }
        Ok(Declarations {
            sops_file: sops_file.into(),
            keys,
            secrets,
        })
    }

    /// The declarations for the instance at `instance`, read without any key: the secret set
    /// comes from the encrypted `secrets/secrets.yaml`. The sops file is given as the absolute
    /// path string of that file.
    pub fn for_instance(instance: &Instance, keys: HostKeys) -> Result<Declarations, NixError> {
        let path = instance.secrets_path();
        let set = encrypted_set(&path)?;
        let abs = std::path::absolute(&path).unwrap_or(path);
        Declarations::from_set(&set, abs.to_string_lossy(), keys)
    }

    /// The self-contained Nix attribute set (a NixOS module in itself).
    pub fn to_nix(&self) -> String {
        let mut out = String::new();
        out.push_str(
            "# Generated by `ccsecrets nix`: the sops-nix declarations of one instance.\n",
        );
        out.push_str("{\n  sops = {\n");
        out.push_str(&format!(
            "    defaultSopsFile = {};\n",
            nix_string(&self.sops_file)
        ));
        out.push_str("    age = {\n");
        out.push_str(&format!(
            "      keyFile = {};\n",
            nix_string(&self.keys.age_key_file)
        ));
        out.push_str(&format!(
            "      sshKeyPaths = {};\n",
            nix_list(&self.keys.ssh_key_paths)
        ));
        out.push_str("      generateKey = false;\n    };\n");
        out.push_str("    secrets = {\n");
        for d in &self.secrets {
            out.push_str(&format!("      {} = {{\n", nix_string(&d.key)));
            for (name, value) in d.fields() {
                let value = match value {
                    Field::Str(s) => nix_string(&s),
                    Field::List(l) => nix_list(l),
                };
                out.push_str(&format!("        {name} = {value};\n"));
            }
            out.push_str("      };\n");
        }
        out.push_str("    };\n  };\n}\n");
        out
    }

    /// The committed glue ([`GLUE_FILE`]): the secret declarations only, with no host path,
    /// so the file is the same on every checkout. `nix/module.nix` adds the sops file (from
    /// the instance path) and the host keys (from its options).
    pub fn glue_json(&self) -> String {
        let mut out = String::new();
        out.push_str("{\n");
        out.push_str(&format!("  \"format\": {},\n", json_string(GLUE_FORMAT)));
        out.push_str("  \"secrets\": {");
        for (i, d) in self.secrets.iter().enumerate() {
            out.push_str(if i == 0 { "\n" } else { ",\n" });
            out.push_str(&format!("    {}: {{", json_string(&d.key)));
            for (j, (name, value)) in d.fields().into_iter().enumerate() {
                let value = match value {
                    Field::Str(s) => json_string(&s),
                    Field::List(l) => {
                        let items: Vec<String> = l.iter().map(|u| json_string(u)).collect();
                        format!("[{}]", items.join(", "))
                    }
                };
                let sep = if j == 0 { "\n" } else { ",\n" };
                out.push_str(&format!("{sep}      \"{name}\": {value}"));
            }
            out.push_str("\n    }");
        }
        if !self.secrets.is_empty() {
            out.push_str("\n  ");
        }
        out.push_str("}\n}\n");
        out
    }
}

/// One value of a declaration: a string or a list of strings.
enum Field<'a> {
    Str(String),
    List(&'a [String]),
}

impl Declaration {
    /// The attributes of `sops.secrets."<key>"`, in the order both renderings write them.
    fn fields(&self) -> [(&'static str, Field<'_>); 6] {
        let t = &self.target;
        [
            ("key", Field::Str(self.key.clone())),
            ("path", Field::Str(t.path.to_string_lossy().into_owned())),
            ("owner", Field::Str(t.owner.clone())),
            ("group", Field::Str(t.group.clone())),
            ("mode", Field::Str(mode_string(t.mode))),
            ("restartUnits", Field::List(&t.restart_units)),
        ]
    }
}

/// The sops-nix key of a secret (`tls.fullchain` → `tls/fullchain`), which is also its file
/// name inside an install generation. Refuses what sops-nix cannot address: an item of a
/// list (`registry[0].password`, [`NixError::ListItem`]), a `registry` label holding `.` or
/// `/`, and an `extra` name holding `.` or
/// `/`, or being empty (`extra.db.password` would become `extra/db/password`, another path;
/// [`NixError::AmbiguousName`]), and a name holding NUL ([`NixError::NulInName`]).
pub fn secret_key(name: &str) -> Result<String, NixError> {
    if name.contains('\0') {
        return Err(NixError::NulInName {
            secret: name.to_owned(),
        });
    }
    let key = sops_nix_key(name);
    if name.contains('[') {
        return Err(NixError::ListItem {
            secret: name.to_owned(),
            key,
        });
    }
    if let Some(rest) = name.strip_prefix("extra.") {
        if rest.is_empty() || rest.contains(['.', '/']) {
            return Err(NixError::AmbiguousName {
                secret: name.to_owned(),
            });
        }
    }
    if let Some(rest) = name.strip_prefix("registry.") {
        // `registry.LABEL.FIELD`: the label must be one path component.
        match rest.rsplit_once('.') {
            Some((label, _)) if !label.is_empty() && !label.contains(['.', '/']) => {}
            _ => {
                return Err(NixError::AmbiguousName {
                    secret: name.to_owned(),
                })
            }
        }
    }
    Ok(key)
}

/// A mode as sops-nix writes it: four octal digits (`0400`).
pub fn mode_string(mode: u32) -> String {
    format!("{mode:04o}")
}

/// The secret set of an encrypted `secrets.yaml`, read without a key (values stay `ENC[…]`).
pub fn encrypted_set(path: &Path) -> Result<SecretSet, NixError> {
    let bytes = std::fs::read(path).map_err(|source| NixError::Io {
        path: path.to_owned(),
        source,
    })?;
    let file = EncryptedFile::parse(&bytes, Format::from_path(path)).map_err(|source| {
        NixError::Secrets {
            path: path.to_owned(),
            source,
        }
    })?;
    SecretSet::from_documents(&file.branches).map_err(|source| NixError::Model {
        path: path.to_owned(),
        source,
    })
}

/// A Nix double-quoted string: `"`, `\` and `$` escaped (so `${` never interpolates), control
/// characters as `\n`, `\r`, `\t`.
pub fn nix_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '$' => out.push_str("\\$"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn nix_list(items: &[String]) -> String {
    if items.is_empty() {
        return "[ ]".into();
    }
    let parts: Vec<String> = items.iter().map(|s| nix_string(s)).collect();
    format!("[ {} ]", parts.join(" "))
}

fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

// ---------------------------------------------------------------------------------------------
// Committed glue against secrets.yaml
// ---------------------------------------------------------------------------------------------

/// How the committed glue and `secrets.yaml` disagree about one secret.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum GlueProblem {
    /// Declared in the glue, but `secrets.yaml` has no such secret.
    DeclaredButMissing,
    /// In `secrets.yaml`, but the glue does not declare it.
    PresentButUndeclared,
    /// Declared with a different install target than the schema gives (stale glue).
    Differs {
        /// The field (`path`, `owner`, `group`, `mode`, `restartUnits`, `key`).
        field: &'static str,
    },
}

/// One disagreement between [`GLUE_FILE`] and `secrets/secrets.yaml`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GlueFinding {
    /// The glue file.
    pub glue_file: PathBuf,
    /// The sops-nix key (`tls/fullchain`).
    pub secret: String,
    /// What is wrong.
    pub problem: GlueProblem,
}

impl fmt::Display for GlueFinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let file = self.glue_file.display();
        let s = &self.secret;
        match &self.problem {
            GlueProblem::DeclaredButMissing => write!(
                f,
                "{file}: declares `{s}`, which {} does not hold",
                crate::instance::SECRETS_FILE
            ),
            GlueProblem::PresentButUndeclared => write!(
                f,
                "{file}: does not declare `{s}`, which {} holds",
                crate::instance::SECRETS_FILE
            ),
            GlueProblem::Differs { field } => write!(
                f,
                "{file}: `{s}` has a different `{field}` than the instance model gives \
                 (regenerate with `ccsecrets nix --write`)"
            ),
        }
    }
}

/// One declaration as read back from the committed glue.
#[derive(Debug)]
struct GlueEntry {
    key: String,
    path: String,
    owner: String,
    group: String,
    mode: String,
    units: Vec<String>,
}

/// Compares the committed glue ([`GLUE_FILE`] in the instance work tree) with the secrets of
/// `secrets/secrets.yaml`, without any key. No glue file: no findings.
///
/// Reports a secret declared but missing from `secrets.yaml`, one present but undeclared,
/// and one declared with a different install target than the schema gives. A list item
/// (`registry[0].password`), which sops-nix cannot declare, counts as undeclared.
pub fn glue_findings(instance_dir: &Path) -> Result<Vec<GlueFinding>, NixError> {
    let glue_path = instance_dir.join(GLUE_FILE);
    let bytes = match std::fs::read(&glue_path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(NixError::Io {
                path: glue_path,
                source,
            })
        }
    };
    let glue = read_glue(&glue_path, &bytes)?;
    let set = encrypted_set(&instance_dir.join(crate::instance::SECRETS_FILE))?;

    let finding = |secret: &str, problem| GlueFinding {
        glue_file: glue_path.clone(),
        secret: secret.to_owned(),
        problem,
    };
    let mut out = Vec::new();
    let mut seen = Vec::new();
    for s in set.secrets() {
        // A secret sops-nix cannot address cannot be declared: it counts as undeclared.
        let key = secret_key(&s.name).unwrap_or_else(|_| sops_nix_key(&s.name));
        let entry = glue.iter().find(|(name, _)| *name == key);
        match entry {
            None => out.push(finding(&key, GlueProblem::PresentButUndeclared)),
            Some((_, e)) => {
                seen.push(key.clone());
                let t = &s.target;
                let checks: [(&'static str, bool); 6] = [
                    ("key", e.key == key),
                    // Compared as text: sops-nix gets the string, and `Path` equality would
                    // call `/run/secrets/./x/` the same as `/run/secrets/x`.
                    ("path", t.path.to_str() == Some(e.path.as_str())),
                    ("owner", e.owner == t.owner),
                    ("group", e.group == t.group),
                    ("mode", parse_mode(&e.mode) == Some(t.mode)),
                    ("restartUnits", e.units == t.restart_units),
                ];
                for (field, same) in checks {
                    if !same {
                        out.push(finding(&key, GlueProblem::Differs { field }));
                    }
                }
            }
        }
    }
    for (name, _) in &glue {
        if !seen.contains(name) {
            out.push(finding(name, GlueProblem::DeclaredButMissing));
        }
    }
    Ok(out)
}

fn parse_mode(s: &str) -> Option<u32> {
    (!s.is_empty() && s.len() <= 4)
        .then(|| u32::from_str_radix(s, 8).ok())
        .flatten()
}

fn read_glue(path: &Path, bytes: &[u8]) -> Result<Vec<(String, GlueEntry)>, NixError> {
    let bad = |message: String| NixError::Glue {
        path: path.to_owned(),
        message,
    };
    let doc = json::parse_strict(bytes).map_err(|e: StoreError| bad(e.to_string()))?;
    match doc.get("format") {
        Some(Value::Str(f)) if f == GLUE_FORMAT => {}
        Some(Value::Str(f)) => {
            return Err(bad(format!(
                "unknown format {f:?} (this ccsecrets writes {GLUE_FORMAT:?})"
            )))
        }
        _ => return Err(bad(format!("no \"format\": {GLUE_FORMAT:?} field"))),
    }
    let Some(Value::Map(secrets)) = doc.get("secrets") else {
        return Err(bad("no \"secrets\" object".into()));
    };
    let mut out = Vec::new();
    for (name, v) in secrets.entries() {
        let Value::Map(m) = v else {
            return Err(bad(format!("secret {name:?} is not an object")));
        };
        let field = |k: &str| -> Result<String, NixError> {
            match m.get(k) {
                Some(Value::Str(s)) => Ok(s.clone()),
                _ => Err(bad(format!("secret {name:?}: \"{k}\" is not a string"))),
            }
        };
        let units = match m.get("restartUnits") {
            Some(Value::Seq(items)) => items
                .iter()
                .filter(|i| !matches!(i, Value::Comment(_)))
                .map(|i| match i {
                    Value::Str(s) => Ok(s.clone()),
                    _ => Err(bad(format!(
                        "secret {name:?}: a restart unit is not a string"
                    ))),
                })
                .collect::<Result<Vec<_>, _>>()?,
            _ => {
                return Err(bad(format!(
                    "secret {name:?}: \"restartUnits\" is not a list"
                )))
            }
        };
        out.push((
            name.to_owned(),
            GlueEntry {
                key: field("key")?,
                path: field("path")?,
                owner: field("owner")?,
                group: field("group")?,
                mode: field("mode")?,
                units,
            },
        ));
    }
    Ok(out)
}

/// True when `path` is where sops-nix puts the secret `key` by default
/// (`/run/secrets/<key>`), so no extra link is needed.
pub fn is_default_path(key: &str, path: &Path) -> bool {
    path == Path::new(RUN_SECRETS_DIR).join(key)
}
