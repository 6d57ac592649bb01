//! The check's phases: policy over each repo's files, keyed decryption, then one pass over
//! history, index and work tree per repo with the detectors and matchers, then allowlists.

use std::collections::{BTreeSet, HashSet};
use std::ops::ControlFlow;

use crate::git::{
    HistoryBlob, HistoryMessage, HistoryOptions, HistoryVisitor, MessageKind, ObjectId,
};
use crate::instance::{model_findings, validate, SecretSet, ValidateOptions};
use crate::sops::document::{DecryptError, DecryptOptions};
use crate::sops::rules::{Config, CONFIG_NAME};

use super::allow::{Allowlist, ALLOW_FILE};
use super::detect::{self, Detection};
use super::known::{self, Label, Matcher, Needle};
use super::policy::{self, PolicyContext, SopsFile};
use super::{
    fingerprint, CheckError, CheckOptions, Finding, InstanceFacts, Kind, RepoRole, RepoStats,
    Report, Severity, Source, Target,
};

/// How far a history walk is, for a progress display.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Progress {
    /// Walking a repository's history: commits and distinct blobs so far.
    History {
        /// The repository.
        repo: RepoRole,
        /// Commits visited.
        commits: usize,
        /// Blobs read.
        blobs: usize,
    },
    /// The walk of a repository's history finished.
    HistoryDone {
        /// The repository.
        repo: RepoRole,
    },
}

/// Blobs larger than this are not read (counted by the walk, reported nowhere).
const MAX_BLOB: u64 = 64 * 1024 * 1024;

struct Matchers {
    /// Instance domain and host names (base repo only, any case).
    names: Option<Matcher>,
    /// Ciphertext of instance sops files (base repo only).
    copied: Option<Matcher>,
    /// Decrypted values and their encodings (every repo).
    known: Option<Matcher>,
}

pub(super) fn run(
    targets: &[Target],
    facts: &InstanceFacts,
    opts: &CheckOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<Report, CheckError> {
    let mut findings = Vec::new();
    let mut stats: Vec<(RepoRole, RepoStats)> = Vec::new();
    let walk_err = |t: &Target| {
        let path = t.root.clone();
        move |source| CheckError::Walk { path, source }
    };
    let hopts = HistoryOptions {
        max_blob_size: Some(MAX_BLOB),
    };

    // 1. Policy over the work tree (or the index).
    let mut sops_files: Vec<Vec<SopsFile>> = Vec::new();
    // The blob ids of the sops files the policy pass checked (the history pass checks the
    // plaintext values of every other version).
    let mut policy_blobs: Vec<HashSet<ObjectId>> = Vec::new();
    for t in targets {
        // The `.sops.yaml` of the directory given, else of the work tree root.
        let config_path = [t.dir().join(CONFIG_NAME), t.root.join(CONFIG_NAME)]
            .into_iter()
            .find(|p| p.is_file());
        let config = match config_path {
            Some(p) => Some(Config::load(&p)?),
            None => None,
        };
        let secrets_dir = format!("{}secrets/", t.prefix);
        let bootstrap = match (&t.instance, &facts.bootstrap_recipient) {
            (Some(_), Some(b)) => Some(b.as_str()),
            _ => None,
        };
        let source = if opts.staged {
            Source::Index
        } else {
            Source::Worktree
        };
        let ctx = PolicyContext {
            role: t.role,
            source,
            root: &t.root,
            config: config.as_ref(),
            bootstrap,
            sops_nix: t.instance.as_ref().map(|_| secrets_dir.as_str()),
        };
        let mut files = Vec::new();
        let mut checked = HashSet::new();
        let hash_kind = t.repo.gix().object_hash();
        let mut visit = |path: &[u8], data: &[u8]| {
            let path = String::from_utf8_lossy(path);
            if let Some(f) = policy::check_file(&ctx, &path, data, &mut findings) {
                files.push(f);
                if let Ok(id) = gix::objs::compute_hash(hash_kind, gix::objs::Kind::Blob, data) {
                    checked.insert(id);
                }
            }
            ControlFlow::Continue(())
        };
        if opts.staged {
            t.repo
                .walk_index(&hopts, &mut |b| visit(b.path, b.data))
                .map_err(walk_err(t))?;
        } else {
            t.repo
                .walk_worktree(&hopts, &mut |f| visit(f.path, f.data))
                .map_err(walk_err(t))?;
        }
        stats.push((
            t.role,
            RepoStats {
                sops_files: files.len(),
                ..Default::default()
            },
        ));
        sops_files.push(files);
        policy_blobs.push(checked);
        if let Some(i) = &t.instance {
            findings.extend(super::nix_glue_findings(i));
        }
    }

    // 2. Keyed: MACs, values, validation.
    let keyed = !opts.identities.is_empty();
    let mut known_needles: Vec<Needle> = Vec::new();
    if keyed {
        for (t, files) in targets.iter().zip(&sops_files) {
            for f in files {
                keyed_file(t, f, facts, opts, &mut known_needles, &mut findings);
            }
        }
    }

    // 3. The matchers.
    let base_next_to_instance = targets.iter().any(|t| t.role == RepoRole::Base);
    let mut names: Vec<Needle> = Vec::new();
    let mut copied: Vec<Needle> = Vec::new();
    if base_next_to_instance {
        let label = |kind: Kind, name: &str, encoding: &str| Label {
            kind,
            name: name.to_owned(),
            encoding: encoding.to_owned(),
        };
        if let Some(d) = &facts.domain {
            names.push((
                d.as_bytes().to_vec().into(),
                label(Kind::InstanceName, "instance domain", "domain"),
            ));
        }
        for h in &facts.hostnames {
            names.push((
                h.as_bytes().to_vec().into(),
                label(Kind::InstanceName, "instance host name", h),
            ));
        }
        for (t, files) in targets.iter().zip(&sops_files) {
            if t.role == RepoRole::Base {
                continue;
            }
            for f in files {
                collect_ciphertexts(f, &mut copied);
            }
        }
    }
    let matchers = Matchers {
        names: Matcher::new(names, true),
        copied: Matcher::new(copied, false),
        known: Matcher::new(known_needles, false),
    };

    // 4. History, index, work tree.
    for (i, t) in targets.iter().enumerate() {
        let st = &mut stats[i].1;
        let mut seen: HashSet<ObjectId> = HashSet::new();
        let mut secrets_paths: BTreeSet<String> = BTreeSet::new();
        let mut reported = Reported::new();
        if opts.history && !opts.staged {
            let mut v = Visitor {
                role: t.role,
                matchers: &matchers,
                reported: &mut reported,
                out: &mut findings,
                seen: &mut seen,
                secrets_paths: &mut secrets_paths,
                policy_blobs: &policy_blobs[i],
                progress: &mut *progress,
                commits: 0,
                blobs: 0,
            };
            let hs = t.repo.walk_history(&hopts, &mut v).map_err(walk_err(t))?;
            progress(Progress::HistoryDone { repo: t.role });
            st.commits = hs.commits;
            st.blobs = hs.blobs;
        }
        let mut files = 0;
        t.repo
            .walk_index(&hopts, &mut |b| {
                if seen.insert(b.id) {
                    files += 1;
                    let path = String::from_utf8_lossy(b.path);
                    let anchor = b.id.to_string();
                    let at = At {
                        role: t.role,
                        source: Source::Index,
                        path: Some(&path),
                        anchor: &anchor,
                    };
                    scan_content(&matchers, &mut reported, at, b.data, &mut findings);
                    secrets_path(
                        t.role,
                        Source::Index,
                        &path,
                        &mut secrets_paths,
                        &mut findings,
                    );
                }
                ControlFlow::Continue(())
            })
            .map_err(walk_err(t))?;
        if !opts.staged {
            let hash_kind = t.repo.gix().object_hash();
            t.repo
                .walk_worktree(&hopts, &mut |f| {
                    let id = gix::objs::compute_hash(hash_kind, gix::objs::Kind::Blob, f.data).ok();
                    if id.is_none_or(|id| seen.insert(id)) {
                        files += 1;
                        let path = String::from_utf8_lossy(f.path);
                        let anchor = id.map(|i| i.to_string()).unwrap_or_default();
                        let at = At {
                            role: t.role,
                            source: Source::Worktree,
                            path: Some(&path),
                            anchor: &anchor,
                        };
                        scan_content(&matchers, &mut reported, at, f.data, &mut findings);
                        secrets_path(
                            t.role,
                            Source::Worktree,
                            &path,
                            &mut secrets_paths,
                            &mut findings,
                        );
                    }
                    ControlFlow::Continue(())
                })
                .map_err(walk_err(t))?;
        }
        st.files = files;
    }

    // 5. Allowlists.
    let full_run = opts.history && !opts.staged;
    let mut allowed = Vec::new();
    for t in targets {
        let Some(list) = Allowlist::load(&t.root)? else {
            continue;
        };
        let mut used = vec![false; list.entries.len()];
        findings.retain(|f| {
            if f.repo != t.role {
                return true;
            }
            match list
                .entries
                .iter()
                .position(|e| e.fingerprint == f.fingerprint)
            {
                Some(i) => {
                    used[i] = true;
                    allowed.push((f.clone(), list.entries[i].reason.clone()));
                    false
                }
                None => true,
            }
        });
        if full_run {
            for (e, _) in list.entries.iter().zip(&used).filter(|(_, u)| !**u) {
                findings.push(Finding {
                    kind: Kind::StaleAllowlistEntry,
                    severity: Severity::Warning,
                    repo: t.role,
                    source: Source::Worktree,
                    path: Some(ALLOW_FILE.to_owned()),
                    line: None,
                    secret: None,
                    message: format!(
                        "the entry for {} (\"{}\") matches no finding",
                        e.fingerprint, e.reason
                    ),
                    fingerprint: fingerprint(
                        Kind::StaleAllowlistEntry,
                        Some(ALLOW_FILE),
                        &e.fingerprint,
                        "",
                    ),
                });
            }
        }
    }

    findings.sort_by(|a, b| {
        (a.repo, &a.path, a.line, a.kind, &a.fingerprint).cmp(&(
            b.repo,
            &b.path,
            b.line,
            b.kind,
            &b.fingerprint,
        ))
    });
    findings.dedup_by(|a, b| {
        a.fingerprint == b.fingerprint && a.line == b.line && a.source == b.source
    });
    Ok(Report {
        findings,
        allowed,
        stats,
        keyed,
    })
}

fn keyed_file(
    t: &Target,
    f: &SopsFile,
    facts: &InstanceFacts,
    opts: &CheckOptions,
    needles: &mut Vec<Needle>,
    out: &mut Vec<Finding>,
) {
    let is_secrets = t.is_secrets_file(&f.path);
    let finding = |kind: Kind, severity: Severity, detail: &str, message: String| Finding {
        kind,
        severity,
        repo: t.role,
        source: if opts.staged {
            Source::Index
        } else {
            Source::Worktree
        },
        path: Some(f.path.clone()),
        line: None,
        secret: None,
        message,
        fingerprint: fingerprint(kind, Some(&f.path), detail, ""),
    };
    let plain = match f.file.decrypt(&opts.identities, DecryptOptions::default()) {
        Ok(p) => p,
        Err(
            e @ (DecryptError::MacMismatch
            | DecryptError::MacMissing
            | DecryptError::MacUndecryptable),
        ) => {
            out.push(finding(
                Kind::MacMismatch,
                Severity::Error,
                "",
                e.to_string(),
            ));
            return;
        }
        Err(DecryptError::NoIdentity { .. }) => {
            // Files for other audiences are fine; the instance's secrets must open with the key.
            let severity = if is_secrets {
                Severity::Error
            } else {
                Severity::Warning
            };
            out.push(finding(
                Kind::Undecryptable,
                severity,
                "no-identity",
                "no given identity is a recipient of this file: its MAC and values were not checked".into(),
            ));
            return;
        }
        Err(e) => {
            out.push(finding(
                Kind::Undecryptable,
                Severity::Error,
                "error",
                e.to_string(),
            ));
            return;
        }
    };
    for (name, value) in known::secret_values(&f.file, &plain) {
        let name = if is_secrets {
            name
        } else {
            format!("{}:{name}", f.path)
        };
        known::value_needles(&name, &value, needles);
    }
    if is_secrets {
        let domain = facts.domain.clone().unwrap_or_default();
        let vopts = ValidateOptions::new(domain, opts.now);
        let result = match SecretSet::from_documents(&plain.branches) {
            Ok(set) => validate(&set, &vopts).findings,
            Err(e) => model_findings(&e),
        };
        for v in result {
            let severity = match v.severity {
                crate::instance::Severity::Error => Severity::Error,
                crate::instance::Severity::Warning => Severity::Warning,
            };
            let mut x = finding(
                Kind::InstanceValidation,
                severity,
                &format!("{}|{}", v.secret, v.severity),
                v.message,
            );
            x.secret = Some(v.secret);
            out.push(x);
        }
    }
}

/// The `data:` part of each `ENC[…]` value of an instance sops file (ciphertext: found in the
/// base repo, it was copied there).
fn collect_ciphertexts(f: &SopsFile, out: &mut Vec<Needle>) {
    fn walk(v: &crate::sops::tree::Value, path: &str, file: &str, out: &mut Vec<Needle>) {
        use crate::sops::tree::Value;
        match v {
            Value::Map(m) => {
                for (k, v) in m.entries() {
                    walk(v, &join(path, k), file, out);
                }
            }
            Value::Seq(items) => {
                for (i, v) in items.iter().enumerate() {
                    walk(v, &join(path, &i.to_string()), file, out);
                }
            }
            Value::Str(s) => {
                if let Some(rest) = s.strip_prefix("ENC[AES256_GCM,data:") {
                    let data = rest.split(',').next().unwrap_or("");
                    if data.len() >= 16 {
                        out.push((
                            data.as_bytes().to_vec().into(),
                            Label {
                                kind: Kind::CopiedInstanceValue,
                                name: format!("{file}:{path}"),
                                encoding: "ciphertext".into(),
                            },
                        ));
                    }
                }
            }
            _ => {}
        }
    }
    fn join(a: &str, b: &str) -> String {
        if a.is_empty() {
            b.to_owned()
        } else {
            format!("{a}.{b}")
        }
    }
    for b in &f.file.branches {
        for (k, v) in b.entries() {
            walk(v, k, &f.path, out);
        }
    }
}

fn secrets_path(
    role: RepoRole,
    source: Source,
    path: &str,
    seen: &mut BTreeSet<String>,
    out: &mut Vec<Finding>,
) {
    if role != RepoRole::Base || !path.starts_with("secrets/") || !seen.insert(path.to_owned()) {
        return;
    }
    out.push(Finding {
        kind: Kind::InstanceSecretsFile,
        severity: Severity::Error,
        repo: role,
        source,
        path: Some(path.to_owned()),
        line: None,
        secret: None,
        message: "a secrets/ file belongs in the instance repo, not the base repo".into(),
        fingerprint: fingerprint(Kind::InstanceSecretsFile, Some(path), "", ""),
    });
}

/// What was reported already in a repository: the rule, the path (empty for messages) and a
/// digest of the secret (in memory only), so a secret that stays in a file across many
/// versions, or recurs in many messages, is reported once, at its first appearance.
type Reported = HashSet<(Kind, String, [u8; 16])>;

/// Where a piece of content is.
#[derive(Clone, Copy)]
struct At<'a> {
    role: RepoRole,
    source: Source,
    path: Option<&'a str>,
    /// The blob or commit id, for the fingerprint.
    anchor: &'a str,
}

/// Runs the detectors and matchers over one blob, file or message.
fn scan_content(
    m: &Matchers,
    reported: &mut Reported,
    at: At<'_>,
    data: &[u8],
    out: &mut Vec<Finding>,
) {
    let mut push = |kind: Kind,
                    detail: &str,
                    line: usize,
                    digest: [u8; 16],
                    secret: Option<String>,
                    message: String| {
        if !reported.insert((kind, at.path.unwrap_or("").to_owned(), digest)) {
            return;
        }
        out.push(Finding {
            kind,
            severity: Severity::Error,
            repo: at.role,
            source: at.source,
            path: at.path.map(str::to_owned),
            line: Some(line),
            secret,
            message,
            fingerprint: fingerprint(kind, at.path, detail, at.anchor),
        });
    };
    let mut hits = Vec::new();
    detect::detect_with(data, !detect::looks_like_sops(data), &mut hits);
    for h in hits {
        match h.detection {
            Detection::PemPrivateKey(k) => push(
                Kind::PemPrivateKey,
                k.name(),
                h.line,
                h.digest,
                None,
                format!("{} private key in plaintext", k.name()),
            ),
            Detection::AgeSecretKey => push(
                Kind::AgeSecretKey,
                "age",
                h.line,
                h.digest,
                None,
                "age secret key (AGE-SECRET-KEY-1…) in plaintext".into(),
            ),
            Detection::EntropyAssignment { name, entropy } => push(
                Kind::HighEntropyAssignment,
                &name,
                h.line,
                h.digest,
                None,
                format!(
                    "`{name}` is assigned a high-entropy value ({entropy:.2} bits/char ≥ {})",
                    detect::ENTROPY_THRESHOLD
                ),
            ),
        }
    }
    let base = at.role == RepoRole::Base;
    for (matcher, applies) in [(&m.names, base), (&m.copied, base), (&m.known, true)] {
        let Some(matcher) = matcher.as_ref().filter(|_| applies) else {
            continue;
        };
        for hit in matcher.find(data) {
            let label = matcher.label(&hit);
            let line = detect::line_of(data, hit.offset);
            let detail = format!("{}|{}", label.name, label.encoding);
            let digest = detect::digest(detail.as_bytes());
            match label.kind {
                Kind::KnownValue => push(
                    Kind::KnownValue,
                    &detail,
                    line,
                    digest,
                    Some(label.name.clone()),
                    format!("the value of secret `{}` ({})", label.name, label.encoding),
                ),
                Kind::CopiedInstanceValue => push(
                    Kind::CopiedInstanceValue,
                    &detail,
                    line,
                    digest,
                    Some(label.name.clone()),
                    format!("ciphertext of the instance's `{}`", label.name),
                ),
                kind => push(
                    kind,
                    &detail,
                    line,
                    digest,
                    None,
                    format!("the {} from the instance's instance.nix", label.name),
                ),
            }
        }
    }
}

/// The plaintext values of an old version of a sops file (by its own selection rule).
fn history_plaintext(reported: &mut Reported, at: At<'_>, data: &[u8], out: &mut Vec<Finding>) {
    let Some(path) = at.path else { return };
    let format = crate::sops::store::Format::from_path(std::path::Path::new(path));
    let Ok(file) = crate::sops::document::EncryptedFile::parse(data, format) else {
        return;
    };
    for (key, comment) in policy::plaintext_keys(&file, &file.metadata.effective_selector()) {
        let detail = format!("{key}|{comment}");
        let digest = detect::digest(detail.as_bytes());
        if !reported.insert((Kind::PlaintextValue, path.to_owned(), digest)) {
            continue;
        }
        out.push(Finding {
            kind: Kind::PlaintextValue,
            severity: Severity::Error,
            repo: at.role,
            source: at.source,
            path: Some(path.to_owned()),
            line: None,
            message: policy::plaintext_message(&key, comment),
            fingerprint: fingerprint(Kind::PlaintextValue, Some(path), &detail, at.anchor),
            secret: Some(key),
        });
    }
}

struct Visitor<'a> {
    role: RepoRole,
    matchers: &'a Matchers,
    reported: &'a mut Reported,
    out: &'a mut Vec<Finding>,
    seen: &'a mut HashSet<ObjectId>,
    secrets_paths: &'a mut BTreeSet<String>,
    policy_blobs: &'a HashSet<ObjectId>,
    progress: &'a mut dyn FnMut(Progress),
    commits: usize,
    blobs: usize,
}

impl Visitor<'_> {
    fn tick(&mut self) {
        if (self.commits + self.blobs).is_multiple_of(512) {
            (self.progress)(Progress::History {
                repo: self.role,
                commits: self.commits,
                blobs: self.blobs,
            });
        }
    }
}

impl HistoryVisitor for Visitor<'_> {
    fn message(&mut self, message: &HistoryMessage<'_>) -> ControlFlow<()> {
        let source = match message.kind {
            MessageKind::Commit => {
                self.commits += 1;
                Source::CommitMessage(message.id)
            }
            _ => Source::TagMessage(message.id),
        };
        self.tick();
        let anchor = message.id.to_string();
        let at = At {
            role: self.role,
            source,
            path: None,
            anchor: &anchor,
        };
        scan_content(self.matchers, self.reported, at, message.message, self.out);
        ControlFlow::Continue(())
    }

    fn blob(&mut self, blob: &HistoryBlob<'_>) -> ControlFlow<()> {
        self.blobs += 1;
        self.tick();
        self.seen.insert(blob.id);
        let source = blob.commit.map_or(Source::Ref, Source::Commit);
        let path = String::from_utf8_lossy(blob.path);
        let anchor = blob.id.to_string();
        let at = At {
            role: self.role,
            source,
            path: Some(&path),
            anchor: &anchor,
        };
        scan_content(self.matchers, self.reported, at, blob.data, self.out);
        if detect::looks_like_sops(blob.data) && !self.policy_blobs.contains(&blob.id) {
            history_plaintext(self.reported, at, blob.data, self.out);
        }
        secrets_path(self.role, source, &path, self.secrets_paths, self.out);
        ControlFlow::Continue(())
    }
}
