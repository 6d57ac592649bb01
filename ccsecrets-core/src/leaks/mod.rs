//! `ccsecrets check`: prove that no plaintext secret leaks from the base and instance repos
//! and that the sops policy holds.
//!
//! Which API for which job:
//! - run every check on one or two repos: [`check`] with [`CheckOptions`], giving a
//!   [`Report`] of [`Finding`]s;
//! - render it: [`report::human`], [`report::json`], [`report::sarif`];
//! - only the content detectors (PEM and age keys, entropy assignments): [`detect::detect`];
//! - a text view of a sops file for `git diff` (textconv): [`textconv::textconv`].
//!
//! What runs:
//! - **keyless**, on each repo's work tree (or its index with `staged`): every file a
//!   `.sops.yaml` creation rule with a `path_regex` matches is a complete sops file, every
//!   value the rule's selector says must be encrypted is `ENC[…]`, and its recipients are the
//!   rule's ([`policy`]); the instance's bootstrap recipient is on every file and sops-nix
//!   files have no `ssh-*` stanza;
//! - **keyless**, on the work tree, the index, every blob reachable from any ref (each read
//!   once, reported at the first commit and path where it appeared) and every commit and tag
//!   message: the [`detect`] rules; for the base repo next to an instance, the genericity
//!   rules (no instance domain or host name, no `secrets/` file, no ciphertext copied from
//!   the instance);
//! - **keyed** (identities given): the MAC of every sops file, decryption in memory, the
//!   known-value scan of both repos for each decrypted value and its encodings ([`known`]),
//!   and the instance validation.
//!
//! A [`Finding`] names where (repo, commit, path, line) and which rule or secret name, never
//! the value. Findings can be allowed by fingerprint in `.ccsecrets-allow.toml` ([`allow`]).

pub mod allow;
pub mod detect;
pub mod known;
pub mod policy;
pub mod report;
mod scan;
pub mod textconv;

#[cfg(test)]
mod tests;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use sha2::{Digest, Sha256};

use crate::git::{self, ObjectId};
use crate::instance::{FactValue, Facts, FactsError, Instance, InstanceError};
use crate::keys::Identity;
use crate::sops::rules::RulesError;

pub use scan::Progress;

/// Which repository a finding is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RepoRole {
    /// The public base repo (`--base`).
    Base,
    /// The private instance repo (`--instance`).
    Instance,
    /// A repo given neither way (checked as a plain sops repo, or by its instance model).
    Repo,
}

impl RepoRole {
    /// `base`, `instance` or `repo`.
    pub fn name(self) -> &'static str {
        match self {
            RepoRole::Base => "base",
            RepoRole::Instance => "instance",
            RepoRole::Repo => "repo",
        }
    }
}

/// Where in a repository a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Source {
    /// A file in the work tree (as on disk).
    Worktree,
    /// A staged blob (the index).
    Index,
    /// A blob in history, first seen in this commit.
    Commit(ObjectId),
    /// A blob reachable only through a ref pointing at a tree or blob.
    Ref,
    /// A commit's message.
    CommitMessage(ObjectId),
    /// An annotated tag's message.
    TagMessage(ObjectId),
}

impl Source {
    /// `worktree`, `index`, `commit`, `ref`, `commit-message` or `tag-message`.
    pub fn name(self) -> &'static str {
        match self {
            Source::Worktree => "worktree",
            Source::Index => "index",
            Source::Commit(_) => "commit",
            Source::Ref => "ref",
            Source::CommitMessage(_) => "commit-message",
            Source::TagMessage(_) => "tag-message",
        }
    }

    /// The commit or tag id, when there is one.
    pub fn object(self) -> Option<ObjectId> {
        match self {
            Source::Commit(id) | Source::CommitMessage(id) | Source::TagMessage(id) => Some(id),
            _ => None,
        }
    }
}

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Reported; does not fail the check (stale allowlist entries, a certificate expiring soon).
    Warning,
    /// Fails the check (exit 1).
    Error,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Warning => "warning",
            Severity::Error => "error",
        })
    }
}

/// Every rule `check` applies. [`Kind::id`] is the stable rule id used in JSON and SARIF.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Kind {
    /// A PEM private key (RSA, EC, DSA, PKCS#8, OpenSSH).
    PemPrivateKey,
    /// An age secret key (`AGE-SECRET-KEY-1…`).
    AgeSecretKey,
    /// A high-entropy value assigned to a secret-like name.
    HighEntropyAssignment,
    /// A file a creation rule's `path_regex` matches is not a sops file.
    NotEncrypted,
    /// A sops file without `version`, `mac` or `lastmodified`.
    IncompleteSopsFile,
    /// A value (or comment) the selector says must be encrypted is plaintext.
    PlaintextValue,
    /// The file's selection rule differs from its creation rule's.
    SelectorMismatch,
    /// A rule recipient the file is not encrypted to.
    MissingRecipient,
    /// A file recipient that another creation rule names, but not this file's rule.
    ExtraRecipient,
    /// A file recipient that no creation rule names any more (a removed key can still decrypt).
    StaleRecipient,
    /// The file's key groups differ in number from its rule's.
    KeyGroupMismatch,
    /// The instance's declared bootstrap recipient is not on the file.
    BootstrapRecipientMissing,
    /// An `ssh-*` stanza on a file sops-nix decrypts (its converted host identity cannot open it).
    SshRecipient,
    /// The instance's domain or a host name in the base repo.
    InstanceName,
    /// A `secrets/` file in the base repo.
    InstanceSecretsFile,
    /// Ciphertext copied from an instance sops file into the base repo.
    CopiedInstanceValue,
    /// A sops file whose MAC does not verify (keyed).
    MacMismatch,
    /// A sops file no given identity opens, or that does not decrypt (keyed).
    Undecryptable,
    /// A decrypted secret's value, or an encoding of it, in a repo (keyed).
    KnownValue,
    /// An instance validation error or warning (keyed).
    InstanceValidation,
    /// Committed Nix glue and the secrets file disagree. Reserved for the `nix` module's
    /// comparison, which plugs in at [`nix_glue_findings`].
    NixGlueMismatch,
    /// An allowlist entry that matched no finding.
    StaleAllowlistEntry,
}

impl Kind {
    /// Every kind, in report order.
    pub const ALL: [Kind; 22] = [
        Kind::PemPrivateKey,
        Kind::AgeSecretKey,
        Kind::HighEntropyAssignment,
        Kind::NotEncrypted,
        Kind::IncompleteSopsFile,
        Kind::PlaintextValue,
        Kind::SelectorMismatch,
        Kind::MissingRecipient,
        Kind::ExtraRecipient,
        Kind::StaleRecipient,
        Kind::KeyGroupMismatch,
        Kind::BootstrapRecipientMissing,
        Kind::SshRecipient,
        Kind::InstanceName,
        Kind::InstanceSecretsFile,
        Kind::CopiedInstanceValue,
        Kind::MacMismatch,
        Kind::Undecryptable,
        Kind::KnownValue,
        Kind::InstanceValidation,
        Kind::NixGlueMismatch,
        Kind::StaleAllowlistEntry,
    ];

    /// The stable rule id (`pem-private-key`).
    pub fn id(self) -> &'static str {
        match self {
            Kind::PemPrivateKey => "pem-private-key",
            Kind::AgeSecretKey => "age-secret-key",
            Kind::HighEntropyAssignment => "high-entropy-assignment",
            Kind::NotEncrypted => "not-encrypted",
            Kind::IncompleteSopsFile => "incomplete-sops-file",
            Kind::PlaintextValue => "plaintext-value",
            Kind::SelectorMismatch => "selector-mismatch",
            Kind::MissingRecipient => "missing-recipient",
            Kind::ExtraRecipient => "extra-recipient",
            Kind::StaleRecipient => "stale-recipient",
            Kind::KeyGroupMismatch => "key-group-mismatch",
            Kind::BootstrapRecipientMissing => "bootstrap-recipient-missing",
            Kind::SshRecipient => "ssh-recipient",
            Kind::InstanceName => "instance-name-in-base",
            Kind::InstanceSecretsFile => "secrets-file-in-base",
            Kind::CopiedInstanceValue => "instance-value-in-base",
            Kind::MacMismatch => "mac-mismatch",
            Kind::Undecryptable => "undecryptable",
            Kind::KnownValue => "known-secret-value",
            Kind::InstanceValidation => "instance-validation",
            Kind::NixGlueMismatch => "nix-glue-mismatch",
            Kind::StaleAllowlistEntry => "stale-allowlist-entry",
        }
    }

    /// One line saying what the rule finds.
    pub fn description(self) -> &'static str {
        match self {
            Kind::PemPrivateKey => "A PEM private key in plaintext",
            Kind::AgeSecretKey => "An age secret key (AGE-SECRET-KEY-1…) in plaintext",
            Kind::HighEntropyAssignment => "A high-entropy value assigned to a secret-like name",
            Kind::NotEncrypted => "A file matched by a .sops.yaml creation rule is not a sops file",
            Kind::IncompleteSopsFile => "A sops file without version, mac or lastmodified",
            Kind::PlaintextValue => "A value that must be encrypted is plaintext in a sops file",
            Kind::SelectorMismatch => {
                "The file's partial-encryption option differs from its rule's"
            }
            Kind::MissingRecipient => "A recipient of the creation rule is missing from the file",
            Kind::ExtraRecipient => "The file is encrypted to a recipient its rule does not name",
            Kind::StaleRecipient => "The file is encrypted to a recipient no rule names any more",
            Kind::KeyGroupMismatch => "The file's key groups differ from its rule's",
            Kind::BootstrapRecipientMissing => {
                "The instance's bootstrap recipient cannot open the file"
            }
            Kind::SshRecipient => "An ssh-* stanza on a file sops-nix decrypts",
            Kind::InstanceName => "The instance's domain or host name in the base repo",
            Kind::InstanceSecretsFile => "A secrets/ file in the base repo",
            Kind::CopiedInstanceValue => "Ciphertext copied from the instance into the base repo",
            Kind::MacMismatch => "A sops file's MAC does not verify",
            Kind::Undecryptable => "A sops file could not be decrypted with the given identities",
            Kind::KnownValue => "A secret's value (or an encoding of it) in a repo",
            Kind::InstanceValidation => "The instance's secrets fail validation",
            Kind::NixGlueMismatch => "Committed Nix glue and the secrets file disagree",
            Kind::StaleAllowlistEntry => "An allowlist entry matched no finding",
        }
    }

    /// A one-line fix.
    pub fn hint(self) -> &'static str {
        match self {
            Kind::PemPrivateKey | Kind::AgeSecretKey | Kind::HighEntropyAssignment | Kind::KnownValue => {
                "rotate the secret (it is public once pushed), then remove it from the file and rewrite history (git filter-repo)"
            }
            Kind::NotEncrypted => "encrypt it: ccsecrets encrypt -i FILE (or exclude it from the rule's path_regex)",
            Kind::IncompleteSopsFile => "restore the file from git or re-encrypt it with ccsecrets encrypt",
            Kind::PlaintextValue => "the value was decrypted by hand: rotate it and re-encrypt the file (ccsecrets edit FILE)",
            Kind::SelectorMismatch => "re-encrypt the file so it uses the rule's partial-encryption option",
            Kind::MissingRecipient | Kind::ExtraRecipient | Kind::KeyGroupMismatch => {
                "apply the rule's recipients: ccsecrets updatekeys -y FILE"
            }
            Kind::StaleRecipient => "remove the key and rotate the data key: ccsecrets updatekeys -y FILE",
            Kind::BootstrapRecipientMissing => "add the bootstrap recipient to the rule in .sops.yaml, then ccsecrets updatekeys -y FILE",
            Kind::SshRecipient => "use the host key's age form (ccsecrets ssh-to-age) in .sops.yaml, then ccsecrets updatekeys -y FILE",
            Kind::InstanceName => "keep instance facts in the instance repo; use a placeholder domain in the base repo",
            Kind::InstanceSecretsFile => "secrets belong in the instance repo only: remove the file and rewrite history",
            Kind::CopiedInstanceValue => "remove the copied value from the base repo and rotate that secret",
            Kind::MacMismatch => "the file was tampered with or corrupted: restore it from git",
            Kind::Undecryptable => "check that the identity (SOPS_AGE_KEY_FILE) is a recipient of the file",
            Kind::InstanceValidation => "fix the secret with ccsecrets edit / set, then ccsecrets validate",
            Kind::NixGlueMismatch => "regenerate the glue with ccsecrets nix",
            Kind::StaleAllowlistEntry => "remove the entry from .ccsecrets-allow.toml",
        }
    }
}

/// One thing `check` found. Never holds a secret value.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    /// The rule.
    pub kind: Kind,
    /// Error (fails the check) or warning.
    pub severity: Severity,
    /// The repository.
    pub repo: RepoRole,
    /// Where in it.
    pub source: Source,
    /// The path, relative to the repository root (none for messages).
    pub path: Option<String>,
    /// The 1-based line, when known.
    pub line: Option<usize>,
    /// The secret's name (key path, `drone.rpc_secret`), for secret-specific findings.
    pub secret: Option<String>,
    /// What was found, without any value.
    pub message: String,
    /// A stable id of the finding (not of the secret): hex SHA-256 prefix over the rule, the
    /// path, the rule detail, and the blob or commit it is in.
    pub fingerprint: String,
}

impl Finding {
    /// The one-line fix for this finding's rule.
    pub fn hint(&self) -> &'static str {
        self.kind.hint()
    }

    /// `repo:path` or `repo:commit-message <id>`, for grouping.
    pub fn location_label(&self) -> String {
        match (&self.path, self.source) {
            (Some(p), _) => format!("{}:{p}", self.repo.name()),
            (None, Source::CommitMessage(id)) => {
                format!("{}:commit message {id}", self.repo.name())
            }
            (None, Source::TagMessage(id)) => format!("{}:tag message {id}", self.repo.name()),
            (None, _) => self.repo.name().to_owned(),
        }
    }
}

/// Builds a finding's fingerprint: the rule, the path, the detail that tells findings of the
/// same rule apart (PEM kind, assignment name, secret name, recipient), and the blob or
/// commit id the content is in (`anchor`; empty for work-tree policy findings).
pub fn fingerprint(kind: Kind, path: Option<&str>, detail: &str, anchor: &str) -> String {
    let mut h = Sha256::new();
    for part in [
        "ccsecrets-check-v1",
        kind.id(),
        path.unwrap_or(""),
        detail,
        anchor,
    ] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    h.finalize()[..10]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// What to check.
pub struct CheckOptions {
    /// The instance repo.
    pub instance: Option<PathBuf>,
    /// The base repo.
    pub base: Option<PathBuf>,
    /// A repo given as neither (the current directory when no flag names one).
    pub repo: Option<PathBuf>,
    /// The instance domain, when no instance model gives it.
    pub domain: Option<String>,
    /// Walk every reachable commit (false: work tree and index only).
    pub history: bool,
    /// Check the index instead of the work tree, and no history (a pre-commit hook).
    pub staged: bool,
    /// Identities for the keyed checks; empty: keyless only.
    pub identities: Vec<Identity>,
    /// The time certificates are checked against.
    pub now: SystemTime,
}

impl CheckOptions {
    /// Keyless, full-history options for the given repos.
    pub fn new(instance: Option<PathBuf>, base: Option<PathBuf>) -> Self {
        CheckOptions {
            instance,
            base,
            repo: None,
            domain: None,
            history: true,
            staged: false,
            identities: Vec::new(),
            now: SystemTime::now(),
        }
    }
}

/// Counts for one repository.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RepoStats {
    /// Commits walked.
    pub commits: usize,
    /// Distinct history blobs read.
    pub blobs: usize,
    /// Index blobs and work-tree files read (not already read from history).
    pub files: usize,
    /// sops files checked.
    pub sops_files: usize,
}

/// The result of [`check`].
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Findings not allowed by an allowlist, sorted by repo, path, line.
    pub findings: Vec<Finding>,
    /// Findings an allowlist entry covers, with its reason.
    pub allowed: Vec<(Finding, String)>,
    /// Per-repository counts.
    pub stats: Vec<(RepoRole, RepoStats)>,
    /// Whether the keyed checks ran.
    pub keyed: bool,
}

impl Report {
    /// True when a finding fails the check.
    pub fn has_errors(&self) -> bool {
        self.findings.iter().any(|f| f.severity == Severity::Error)
    }
}

/// Why `check` could not run (a usage or configuration problem, not a finding).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CheckError {
    /// No repository was given.
    #[error("no repository to check: give --instance DIR and/or --base DIR")]
    NothingToCheck,
    /// A repository could not be opened.
    #[error(transparent)]
    Open(#[from] git::OpenError),
    /// `instance.nix` is there but cannot be read.
    #[error(transparent)]
    Instance(#[from] InstanceError),
    /// `--domain` is not a DNS name.
    #[error("--domain: {0}")]
    Domain(#[source] FactsError),
    /// A `.sops.yaml` is invalid.
    #[error(transparent)]
    Rules(#[from] RulesError),
    /// An allowlist file is invalid.
    #[error("{}: {reason}", path.display())]
    Allowlist {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The repository's objects could not be read.
    #[error("{}: {source}", path.display())]
    Walk {
        /// The repository.
        path: PathBuf,
        /// What failed.
        #[source]
        source: git::HistoryError,
    },
}

/// What the checks need to know about the instance.
#[derive(Debug, Clone, Default)]
pub struct InstanceFacts {
    /// The domain (from `instance.nix` or `--domain`).
    pub domain: Option<String>,
    /// Host names declared in `instance.nix` (`hostname`, `host`, `fqdn`, … string facts).
    pub hostnames: Vec<String>,
    /// The bootstrap recipient, when `instance.nix` declares it (`bootstrap.recipient`,
    /// `bootstrapRecipient` or `bootstrap_recipient`).
    pub bootstrap_recipient: Option<String>,
}

impl InstanceFacts {
    /// Reads what the checks use from the facts.
    pub fn from_facts(facts: &Facts) -> InstanceFacts {
        let bootstrap_recipient = [
            "bootstrap.recipient",
            "bootstrapRecipient",
            "bootstrap_recipient",
        ]
        .iter()
        .find_map(|k| match facts.get(k) {
            Some(FactValue::Str(s)) => Some(s.clone()),
            _ => None,
        });
        let mut hostnames = Vec::new();
        collect_hostnames(facts.attrs(), &mut hostnames);
        hostnames.retain(|h| h != facts.domain());
        hostnames.sort();
        hostnames.dedup();
        InstanceFacts {
            domain: Some(facts.domain().to_owned()),
            hostnames,
            bootstrap_recipient,
        }
    }
}

fn collect_hostnames(attrs: &[(String, FactValue)], out: &mut Vec<String>) {
    for (k, v) in attrs {
        match v {
            FactValue::Str(s) => {
                let key = k.to_ascii_lowercase();
                let named = key.contains("hostname") || key == "host" || key == "fqdn";
                if named && s.len() >= 4 && crate::instance::facts::is_dns_name(s) {
                    out.push(s.clone());
                }
            }
            FactValue::Attrs(inner) => collect_hostnames(inner, out),
            _ => {}
        }
    }
}

/// The findings of the `nix` module's comparison of committed Nix glue with the secrets file.
///
/// Not implemented here: the `nix` module provides the comparison and returns its findings
/// with [`Kind::NixGlueMismatch`]; until then there is no committed glue to compare, so no
/// finding.
pub fn nix_glue_findings(_instance: &Instance) -> Vec<Finding> {
    Vec::new()
}

/// One repository to check, opened.
pub(crate) struct Target {
    pub role: RepoRole,
    pub repo: git::Repo,
    pub root: PathBuf,
    /// The directory given, relative to the work tree root, with a trailing `/` (empty when
    /// it is the root): an instance can live in a subdirectory of a repository.
    pub prefix: String,
    pub instance: Option<Instance>,
}

impl Target {
    /// The directory given (`root` joined with `prefix`).
    pub fn dir(&self) -> PathBuf {
        self.root.join(&self.prefix)
    }

    /// Whether `path` (relative to the root) is the instance's `secrets/secrets.yaml`.
    pub fn is_secrets_file(&self, path: &str) -> bool {
        self.instance.is_some()
            && path.strip_prefix(self.prefix.as_str()) == Some(crate::instance::SECRETS_FILE)
    }
}

/// Runs every check. `progress` is told how far the history walks are (for a progress bar).
pub fn check(
    opts: &CheckOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<Report, CheckError> {
    let mut targets = Vec::new();
    for (role, path) in [
        (RepoRole::Instance, &opts.instance),
        (RepoRole::Base, &opts.base),
        (RepoRole::Repo, &opts.repo),
    ] {
        let Some(path) = path else { continue };
        targets.push(open_target(role, path)?);
    }
    if targets.is_empty() {
        return Err(CheckError::NothingToCheck);
    }
    let mut facts = targets
        .iter()
        .find_map(|t| t.instance.as_ref())
        .map(|i| InstanceFacts::from_facts(&i.facts))
        .unwrap_or_default();
    if let Some(d) = &opts.domain {
        let parsed = Facts::for_domain(d).map_err(CheckError::Domain)?;
        facts.domain = Some(parsed.domain().to_owned());
    }
    scan::run(&targets, &facts, opts, progress)
}

fn open_target(role: RepoRole, path: &Path) -> Result<Target, CheckError> {
    let repo = git::Repo::open(path)?;
    let root = repo.workdir().to_owned();
    let dir = std::fs::canonicalize(path).unwrap_or_else(|_| root.clone());
    let prefix = match dir.strip_prefix(&root) {
        Ok(rel) if !rel.as_os_str().is_empty() => format!("{}/", rel.to_string_lossy()),
        _ => String::new(),
    };
    let instance = if role == RepoRole::Base {
        None
    } else {
        match Instance::open(&root.join(&prefix)) {
            Ok(i) => Some(i),
            Err(InstanceError::NotAnInstance(_)) => None,
            Err(e) => return Err(e.into()),
        }
    };
    Ok(Target {
        role,
        repo,
        root,
        prefix,
        instance,
    })
}
