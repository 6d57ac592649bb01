//! `ccsecrets rekey`: bring every sops file of the instance to exactly the recipients its
//! `.sops.yaml` rule names, all or nothing.
//!
//! Added recipients get the existing data key (values, MAC and `lastmodified` unchanged). When
//! any recipient is removed the file's data key is **rotated**: a new key, every value
//! re-encrypted, so the removed key opens neither this version nor any later one. (Earlier
//! versions stay in git history, readable to the old key: see `docs/secrets.md`.)
//!
//! [`plan`] reads, decrypts and re-encrypts every file in memory; [`apply`] writes them all
//! with [`fsutil::write_all_or_nothing`] and, when asked, commits them together with
//! `.sops.yaml`. A failure on any file changes no file.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use super::SOPS_CONFIG_FILE;
use crate::fsutil::{self, FileStamp};
use crate::git::{
    CommitError, CommitOptions, CommitRequest, DirtyPath, HeadError, ObjectId, OpenError, Repo,
    StatusError,
};
use crate::keys::Identity;
use crate::sops::document::{DecryptError, EncryptedFile, KeyDiff, KeyUpdate, UpdateKeysError};
use crate::sops::rules::{Config, RulesError};
use crate::sops::store::{Format, StoreError};

/// One file the policy covers, and what rekeying does to it.
pub struct RekeyFile {
    /// The path relative to the instance root.
    pub path: PathBuf,
    /// Recipients added and removed.
    pub diff: KeyDiff,
    /// True when the data key is rotated (a recipient was removed).
    pub rotated: bool,
    new: Option<Zeroizing<Vec<u8>>>,
    original: Zeroizing<Vec<u8>>,
}

impl RekeyFile {
    /// True when the file changes.
    pub fn changes(&self) -> bool {
        self.new.is_some()
    }
}

/// Every file the policy covers, with its new content computed.
pub struct RekeyPlan {
    /// The instance root.
    pub root: PathBuf,
    /// The files, in path order (unchanged ones too).
    pub files: Vec<RekeyFile>,
}

impl RekeyPlan {
    /// Recipients added to any file (deduplicated, in order).
    pub fn added(&self) -> Vec<String> {
        dedup(
            self.files
                .iter()
                .flat_map(|f| f.diff.added.iter().map(|(_, r)| r.clone())),
        )
    }

    /// Recipients removed from any file.
    pub fn removed(&self) -> Vec<String> {
        dedup(
            self.files
                .iter()
                .flat_map(|f| f.diff.removed.iter().map(|(_, r)| r.clone())),
        )
    }

    /// The files that change.
    pub fn changed(&self) -> impl Iterator<Item = &RekeyFile> {
        self.files.iter().filter(|f| f.changes())
    }
}

fn dedup(items: impl Iterator<Item = String>) -> Vec<String> {
    let mut seen = BTreeSet::new();
    items.filter(|r| seen.insert(r.clone())).collect()
}

/// Why a rekey was refused. No file and no ref changed (a failed commit restores the files).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RekeyError {
    /// `.sops.yaml` is missing or invalid.
    #[error(transparent)]
    Rules(#[from] RulesError),
    /// A file or directory could not be read.
    #[error("{}: {source}", path.display())]
    Read {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A file the policy covers looks like a sops file but cannot be parsed.
    #[error("{}: {source}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// Why.
        source: DecryptError,
    },
    /// A file could not be opened or re-encrypted.
    #[error("{}: {source}", path.display())]
    Update {
        /// The file.
        path: PathBuf,
        /// Why.
        source: UpdateKeysError,
    },
    /// A file could not be emitted.
    #[error("{}: {source}", path.display())]
    Store {
        /// The file.
        path: PathBuf,
        /// Why.
        source: StoreError,
    },
    /// Files the policy covers have uncommitted changes (refused with `--commit` only).
    #[error("uncommitted changes in {}; commit or discard them before rekeying with --commit", .0.iter().map(|d| d.path.display().to_string()).collect::<Vec<_>>().join(", "))]
    Dirty(Vec<DirtyPath>),
    /// Writing failed; no file changed.
    #[error(transparent)]
    Write(#[from] fsutil::WriteError),
    /// The instance is not in a git repository.
    #[error(transparent)]
    Repo(#[from] OpenError),
    /// HEAD could not be read.
    #[error(transparent)]
    Head(#[from] HeadError),
    /// The clean check failed.
    #[error(transparent)]
    Status(#[from] StatusError),
    /// The commit failed; the files were restored.
    #[error("{0}; the rekeyed files were restored, nothing changed")]
    Commit(#[from] CommitError),
}

/// Reads the instance's `.sops.yaml`, finds every sops file its creation rules cover, and
/// computes each one's new content with `identities` opening the data keys.
pub fn plan(root: &Path, identities: &[Identity]) -> Result<RekeyPlan, RekeyError> {
    let root = std::path::absolute(root).unwrap_or_else(|_| root.to_owned());
    let config = Config::load(&root.join(SOPS_CONFIG_FILE))?;
    let mut files = Vec::new();
    for rel in walk(&root)? {
        let abs = root.join(&rel);
        let Ok(rule) = config.rule_for(&abs) else {
            continue;
        };
        let original = Zeroizing::new(std::fs::read(&abs).map_err(|source| RekeyError::Read {
            path: abs.clone(),
            source,
        })?);
        let format = Format::from_path(&abs);
        let file = match EncryptedFile::parse(&original, format) {
            Ok(f) => f,
            Err(_) if !contains(&original, b"ENC[AES256_GCM,") => continue,
            Err(source) => return Err(RekeyError::Parse { path: rel, source }),
        };
        let (diff, update) = file
            .update_keys(identities, &rule.key_groups)
            .map_err(|source| RekeyError::Update {
                path: rel.clone(),
                source,
            })?;
        let (new, rotated) = match update {
            KeyUpdate::Unchanged => (None, false),
            KeyUpdate::Rewrapped(f) => (Some(f), false),
            KeyUpdate::Rotated(f) => (Some(f), true),
        };
        let new = match new {
            Some(f) => Some(Zeroizing::new(f.emit(format, &config.stores).map_err(
                |source| RekeyError::Store {
                    path: rel.clone(),
                    source,
                },
            )?)),
            None => None,
        };
        files.push(RekeyFile {
            path: rel,
            diff,
            rotated,
            new,
            original,
        });
    }
    Ok(RekeyPlan { root, files })
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Every regular file under `root` (relative paths, sorted), skipping `.git` and `.sops.yaml`.
fn walk(root: &Path) -> Result<Vec<PathBuf>, RekeyError> {
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let dir = root.join(&rel);
        let entries = std::fs::read_dir(&dir).map_err(|source| RekeyError::Read {
            path: dir.clone(),
            source,
        })?;
        for entry in entries {
            let entry = entry.map_err(|source| RekeyError::Read {
                path: dir.clone(),
                source,
            })?;
            let name = entry.file_name();
            if name == ".git" {
                continue;
            }
            let child = rel.join(&name);
            let ty = entry.file_type().map_err(|source| RekeyError::Read {
                path: root.join(&child),
                source,
            })?;
            if ty.is_dir() {
                stack.push(child);
            } else if ty.is_file() && child != Path::new(SOPS_CONFIG_FILE) {
                out.push(child);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Writes every changed file of `plan`, all or nothing. With `commit`, first checks that every
/// file the policy covers is clean, then commits them together with `.sops.yaml` (when it differs
/// from HEAD or any file changed); returns the commit. With no change at all, nothing happens.
pub fn apply(
    plan: &RekeyPlan,
    commit: Option<&CommitOptions>,
) -> Result<Option<ObjectId>, RekeyError> {
    let changed: Vec<&RekeyFile> = plan.changed().collect();
    let policy = plan.root.join(SOPS_CONFIG_FILE);
    let mut repo_state = None;
    if let Some(options) = commit {
        let repo = Repo::open(&plan.root)?;
        // Every covered file, not only the changed ones: a file already rekeyed by an earlier
        // run without --commit would otherwise be left out of the commit of its policy.
        let abs: Vec<PathBuf> = plan.files.iter().map(|f| plan.root.join(&f.path)).collect();
        let refs: Vec<&Path> = abs.iter().map(PathBuf::as_path).collect();
        let dirty = if refs.is_empty() {
            Vec::new()
        } else {
            repo.dirty_paths(&refs)?
        };
        if !dirty.is_empty() {
            return Err(RekeyError::Dirty(dirty));
        }
        let policy_dirty = !repo.is_clean(&[policy.as_path()])?;
        let head = repo.head_commit_id()?;
        repo_state = Some((repo, head, policy_dirty, options));
    }

    let stamps: Vec<FileStamp> = changed
        .iter()
        .map(|f| FileStamp::of_bytes(&f.original))
        .collect();
    let abs: Vec<PathBuf> = changed.iter().map(|f| plan.root.join(&f.path)).collect();
    let batch: Vec<(&Path, &[u8], &FileStamp)> = changed
        .iter()
        .zip(&abs)
        .zip(&stamps)
        .map(|((f, p), s)| {
            (
                p.as_path(),
                f.new.as_deref().expect("changed").as_slice(),
                s,
            )
        })
        .collect();
    fsutil::write_all_or_nothing(&batch)?;

    let Some((repo, head, policy_dirty, options)) = repo_state else {
        return Ok(None);
    };
    if changed.is_empty() && !policy_dirty {
        return Ok(None);
    }
    let mut paths: Vec<&Path> = abs.iter().map(PathBuf::as_path).collect();
    paths.push(policy.as_path());
    let message = message(plan);
    let request = CommitRequest {
        paths: &paths,
        message: &message,
        expected_parent: head,
        options: options.clone(),
    };
    match repo.commit_paths(&request) {
        Ok(id) => Ok(Some(id)),
        Err(e) => {
            let new_stamps: Vec<FileStamp> = changed
                .iter()
                .map(|f| FileStamp::of_bytes(f.new.as_deref().expect("changed")))
                .collect();
            let back: Vec<(&Path, &[u8], &FileStamp)> = changed
                .iter()
                .zip(&abs)
                .zip(&new_stamps)
                .map(|((f, p), s)| (p.as_path(), f.original.as_slice(), s))
                .collect();
            let _ = fsutil::write_all_or_nothing(&back);
            Err(e.into())
        }
    }
}

/// The commit message of a rekey: the recipients added and removed, and the files.
pub fn message(plan: &RekeyPlan) -> String {
    let changed: Vec<&RekeyFile> = plan.changed().collect();
    let mut m = if changed.is_empty() {
        "Update the recipient policy\n\n".to_owned()
    } else {
        format!(
            "Rekey {} secrets file{} to the recipient policy\n\n",
            changed.len(),
            if changed.len() == 1 { "" } else { "s" }
        )
    };
    for r in plan.added() {
        m.push_str(&format!("Added:   {r}\n"));
    }
    for r in plan.removed() {
        m.push_str(&format!("Removed: {r}\n"));
    }
    if !changed.is_empty() {
        m.push('\n');
    }
    for f in changed {
        m.push_str(&format!(
            "- {}: {}\n",
            f.path.display(),
            if f.rotated {
                "data key rotated, every value re-encrypted"
            } else {
                "data key re-wrapped for the new recipients"
            }
        ));
    }
    m
}
